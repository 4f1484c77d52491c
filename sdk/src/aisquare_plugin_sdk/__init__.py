"""The AI Square plugin SDK. Standard library only: the same code runs inside the sandbox.

    from aisquare_plugin_sdk import Plugin, PluginContext, export, function

The names below are loaded on first use, so the sandbox worker (which imports only what it needs) starts fast.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` for checkers only: a sandboxed plugin's first import of a name here runs this
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "InvalidRequest": "errors", "NotFound": "errors", "PermissionDenied": "errors", "PluginAPIError": "errors",
    "QuotaExceeded": "errors", "RateLimited": "errors",
    "Plugin": "plugin", "export": "plugin", "function": "plugin",
    "PluginContext": "plugin_api",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aisquare_plugin_sdk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"aisquare_plugin_sdk.{module}"), name)
    globals()[name] = value
    return value
