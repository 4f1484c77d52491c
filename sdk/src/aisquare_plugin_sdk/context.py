"""The plugin-facing `context`: what a plugin's code holds to reach the platform from inside its sandbox.

Every call becomes a request to the host over the worker's pipe; the host checks it (installation active, scope
granted, rate limit, quota), runs it and answers. Standard library only.
"""

from __future__ import annotations

# `typing` for type checkers only: a cold sandbox worker imports this module at start, and `typing` costs it ~8 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # Transport stays a structural type for checkers; at run time nothing checks it


class HostError(Exception):
    """The host refused or failed a Plugin API call. `code` is e.g. "permission_denied", "rate_limited"."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Transport(Protocol):
    def request(self, method: str, params: dict[str, Any]) -> Any: ...


class Storage:
    """The installation's own key-value storage (JSON values), kept by the host with a size quota."""

    def __init__(self, transport: Transport):
        self._transport = transport

    def get(self, key: str, default: Any = None) -> Any:
        result = self._transport.request("storage.get", {"key": key})
        return result["value"] if result.get("found") else default

    def set(self, key: str, value: Any) -> None:
        self._transport.request("storage.set", {"key": key, "value": value})

    def delete(self, key: str) -> bool:
        return bool(self._transport.request("storage.delete", {"key": key}).get("deleted"))


class PluginContext:
    """Given to the plugin's `init(context)`. `call(method, **params)` reaches any host function by name."""

    def __init__(self, transport: Transport, info: dict[str, Any] | None = None):
        info = info or {}
        self._transport = transport
        self.plugin_id: str = info.get("plugin_id", "")
        self.installation_id: str = info.get("installation_id", "")
        self.version: str = info.get("version", "")
        self.settings: dict[str, Any] = info.get("settings", {})
        self.storage = Storage(transport)

    def call(self, method: str, **params: Any) -> Any:
        return self._transport.request(method, params)
