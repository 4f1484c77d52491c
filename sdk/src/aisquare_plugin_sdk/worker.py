"""The inside of a plugin worker: serve the line-delimited JSON worker protocol for one plugin module.

Host -> worker:  {"type": "call", "id", "kind": "hook"|"function"|"event", "name", "args", "kwargs"}
                 {"type": "response", "id", "result"} | {"type": "response", "id", "error": {"code", "message"}}
Worker -> host:  {"type": "ready"}
                 {"type": "request", "id", "method", "params"}            (a Plugin API call, answered by "response")
                 {"type": "result", "id", "ok": true, "value", "usage"}   | {..., "ok": false, "error": {...}}
                 {"type": "violation", "reason", "detail"}                 (then the worker exits)
One JSON object per line, at most `max_message_bytes` each way. Standard library only: this runs in the sandbox.

A cold start (no spare worker ready) pays for every module imported before the first call, so this module imports
only the SDK's small `context` and `wire` (JSON through the C accelerator, without `json`'s `re`) and C modules (not
even `os`); the typed context (`plugin_api`) is built when the plugin's init() is called, `traceback` when a call
fails.
"""

from __future__ import annotations

import _thread
import resource
import sys

from aisquare_plugin_sdk import wire
from aisquare_plugin_sdk.context import HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from aisquare_plugin_sdk.context import PluginContext

try:
    from posix import getpid as _getpid  # os.getpid, without `os` (and its stat, posixpath): ~0.5 ms of a cold start
except ImportError:  # pragma: no cover - not a POSIX system (the SDK's tests on another OS)
    from os import getpid as _getpid

_FUNCTION = type(lambda: None)  # types.FunctionType, without importing `types`
HOOKS = ("on_install", "on_activate", "on_deactivate", "on_uninstall", "on_update", "init")
VIOLATION_EXIT = 70


class ProtocolError(Exception):
    pass


class NoSuchFunction(LookupError):
    """The host asked for a function or hook the plugin does not define (or may not be called)."""


class Channel:
    """Both directions of the pipe. Requests from plugin threads are serialized."""

    def __init__(self, reader: BinaryIO, writer: BinaryIO, max_message_bytes: int):
        self.reader = reader
        self.writer = writer
        self.max = max_message_bytes
        self.lock = _thread.allocate_lock()  # not `threading`: a cold worker should not pay for its import
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        data = wire.dumps(message).encode() + b"\n"
        if len(data) > self.max:
            raise ProtocolError(f"message of {len(data)} bytes exceeds the {self.max}-byte limit")
        self.writer.write(data)
        self.writer.flush()

    def receive(self) -> dict[str, Any] | None:
        line = self.reader.readline(self.max + 1)
        if not line:
            return None
        if len(line) > self.max or not line.endswith(b"\n"):
            raise ProtocolError("oversized message from the host")
        message = wire.loads(line)
        if not isinstance(message, dict):
            raise ProtocolError("a message must be a JSON object")
        return message

    def request(self, method: str, params: dict[str, Any]) -> Any:
        with self.lock:
            self.next_id += 1
            request_id = self.next_id
            try:
                self.send({"type": "request", "id": request_id, "method": method, "params": params})
            except (TypeError, ValueError) as exc:
                raise HostError("invalid", f"parameters are not JSON: {exc}") from None
            message = self.receive()
            if message is None:
                raise HostError("closed", "the host closed the channel")
            if message.get("type") != "response" or message.get("id") != request_id:
                raise ProtocolError("unexpected message while waiting for a response")
            if "error" in message:
                error = message["error"] or {}
                raise HostError(str(error.get("code", "error")), str(error.get("message", "")))
            return message.get("result")


def _usage() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss


def _classify(exc: BaseException) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)[:2000]}
    if isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == 12):  # ENOMEM: RLIMIT_AS
        error["limit"] = "memory"
    elif isinstance(exc, OSError) and exc.errno in (27, 28, 122):  # EFBIG, ENOSPC, EDQUOT
        error["limit"] = "disk"
    elif isinstance(exc, RecursionError):
        error["limit"] = "recursion"
    elif isinstance(exc, RuntimeError) and "new thread" in str(exc):
        error["limit"] = "threads"
    import traceback  # only when something failed: it is slow to import and the worker starts cold

    error["traceback"] = "".join(traceback.format_exception(exc, limit=-8))[-4000:]
    return error


def typed_context(channel: Channel, info: dict[str, Any], main: str) -> PluginContext:
    """The full typed context (`api`, `storage` with collections and files, `events`, `ui`, `user`, `config`,
    `logger`: aisquare_plugin_sdk.plugin_api); it extends the minimal `context.PluginContext`."""
    from aisquare_plugin_sdk.plugin_api import PluginContext as TypedContext

    return TypedContext(channel, info, module=main[:-3].replace("/", "."))


class Worker:
    def __init__(self, channel: Channel, main: str, info: dict[str, Any]):
        self.channel = channel
        self.main = main
        self.info = info
        self.module = None
        self._context: PluginContext | None = None

    @property
    def context(self) -> PluginContext:
        """The typed context, built on first use (init(context)): a plugin without init() never imports it."""
        if self._context is None:
            self._context = typed_context(self.channel, self.info, self.main)
        return self._context

    def load(self):
        """Import the main module lazily (first call), then run its init(context) once per worker process."""
        if self.module is None:
            name = self.main[:-3].replace("/", ".")
            __import__(name)  # importlib.import_module, without importing importlib (and `warnings`)
            self.module = sys.modules[name]
            init = getattr(self.module, "init", None)
            if callable(init):
                init(self.context)
        return self.module

    def resolve(self, kind: str, name: str):
        module = self.load()
        if kind == "hook":
            if name not in HOOKS or name == "init":
                raise NoSuchFunction(f"{name!r} is not a lifecycle hook")
            hook = getattr(module, name, None)
            return hook if callable(hook) else None
        if kind in ("function", "event"):
            target = getattr(module, name, None) if isinstance(name, str) else None
            # Only public functions defined by the plugin module itself: not hooks, not imported callables.
            if (
                not isinstance(name, str) or name.startswith("_") or name in HOOKS
                or not isinstance(target, _FUNCTION) or target.__module__ != module.__name__
            ):
                raise NoSuchFunction(f"the plugin has no function {str(name)[:100]!r}")
            return target
        raise NoSuchFunction(f"unknown call kind {kind!r}")

    def run(self, message: dict[str, Any]) -> dict[str, Any]:
        call_id = message.get("id")
        args, kwargs = message.get("args") or [], message.get("kwargs") or {}
        cpu_before, _ = _usage()
        try:
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise TypeError("args must be a list and kwargs an object")
            target = self.resolve(str(message.get("kind")), message.get("name"))
            value = target(*args, **kwargs) if target else None
            # A value that is not JSON is caught when the result is sent (ReturnValueError), not encoded twice here.
            result = {"type": "result", "id": call_id, "ok": True, "value": value}
        except ProtocolError:
            raise
        except BaseException as exc:  # noqa: BLE001 - the plugin's errors, SystemExit included, go back to the host
            if isinstance(exc, KeyboardInterrupt):
                raise
            result = {"type": "result", "id": call_id, "ok": False, "error": _classify(exc)}
        cpu_after, maxrss = _usage()
        result["usage"] = {"cpu_ms": round(cpu_after - cpu_before, 3), "maxrss_kb": maxrss}
        return result

    def serve(self) -> None:
        self.channel.send({"type": "ready", "pid": _getpid()})
        while True:
            message = self.channel.receive()
            if message is None:
                return
            if message.get("type") == "shutdown":
                return
            if message.get("type") != "call":
                raise ProtocolError(f"unexpected message type {str(message.get('type'))[:40]!r}")
            result = self.run(message)
            try:
                self.channel.send(result)
            except (TypeError, ValueError, ProtocolError) as exc:
                error = {"type": "ReturnValueError", "message": f"the return value cannot be sent: {exc}"[:2000]}
                self.channel.send({"type": "result", "id": result["id"], "ok": False, "error": error,
                                   "usage": result["usage"]})


def serve(reader: BinaryIO, writer: BinaryIO, *, main: str, info: dict[str, Any], max_message_bytes: int) -> int:
    channel = Channel(reader, writer, max_message_bytes)
    try:
        Worker(channel, main, info).serve()
    except ProtocolError as exc:
        sys.stderr.write(f"protocol error: {exc}\n")
        return 2
    return 0
