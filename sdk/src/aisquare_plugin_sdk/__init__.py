"""The AI Square plugin SDK. Standard library only: the same code runs inside the sandbox.

    from aisquare_plugin_sdk import Plugin, PluginContext, export, function
"""

__version__ = "0.1.0"

from aisquare_plugin_sdk.errors import (  # noqa: E402
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PluginAPIError,
    QuotaExceeded,
    RateLimited,
)
from aisquare_plugin_sdk.plugin import Plugin, export, function  # noqa: E402
from aisquare_plugin_sdk.plugin_api import PluginContext  # noqa: E402

__all__ = [
    "InvalidRequest", "NotFound", "PermissionDenied", "Plugin", "PluginAPIError", "PluginContext", "QuotaExceeded",
    "RateLimited", "export", "function",
]
