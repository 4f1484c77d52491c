"""The typed `PluginContext` a plugin is given (spec §1 PluginContext): `api`, `storage`, `events`, `ui`, `user`,
`organization`, `config` and `logger`. Standard library only: the same code runs inside the sandbox.

Every call becomes ONE request through the worker's transport, `transport.request(method, params)`, with the
spec's camelCase method name under its namespace (`"ai.analyzeText"`, `"storage.collection.find"`,
`"ui.addMenuItem"`, `"events.on"`) and named JSON parameters. The host checks it (scope, rate limit, quota), runs
it and answers; a refusal comes back as a typed error (`aisquare_plugin_sdk.errors`). Methods are written in
snake_case (`analyze_text`) and also answer to the spec's spelling (`analyzeText`).

This class extends the worker's minimal `aisquare_plugin_sdk.context.PluginContext` (same constructor,
same storage replies), so the worker can hand it to a plugin as is; `PluginContext.wrap(raw)` upgrades a minimal one.
"""

from __future__ import annotations

import sys
from _collections_abc import Mapping  # collections.abc.Mapping itself, without importing the `collections` package

from aisquare_plugin_sdk import context as _worker_context
from aisquare_plugin_sdk.context import HostError
from aisquare_plugin_sdk.errors import InvalidRequest, typed

# A cold sandbox worker builds this context for the plugin's init(): it imports nothing it does not need at once.
# `typing` and `collections.abc` serve annotations only (postponed), `re`, `json` and `base64` load on first use:
# `re` alone (with `enum`, `functools`, `collections`) costs ~6 ms of a cold start.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    LogSink = Callable[[str, str, dict[str, Any]], None]

EVENT_PATTERN = r"^[a-z][a-z0-9_-]*(?::[a-z0-9_.*-]+)+$"


def _re():
    import re

    return re


def _is_event_name(event: object) -> bool:
    return isinstance(event, str) and _re().match(EVENT_PATTERN, event) is not None


def __getattr__(name: str) -> object:
    """The module's names that cost an import, built when asked for: EVENT_RE (compiled) and the LogSink type."""
    if name == "EVENT_RE":
        return _re().compile(EVENT_PATTERN)
    if name == "LogSink":
        from collections.abc import Callable
        from typing import Any

        return Callable[[str, str, dict[str, Any]], None]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Calls:
    """Sends requests and turns host errors into typed ones."""

    def __init__(self, transport: Any):
        self._transport = transport

    def __call__(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return self._transport.request(method, params)
        except HostError as exc:
            raise typed(exc) from None


class _Namespace:
    def __init__(self, call: _Calls):
        self._call = call


def _require(name: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InvalidRequest("invalid", f"{name} must be a {names}")
    return value


# ---------------------------------------------------------------- context.api.*


class ContentAPI(_Namespace):
    """Content of the installation's user or organization (scopes content:read/create/update/delete)."""

    def __init__(self, call: _Calls, events: EventEmitter):
        super().__init__(call)
        self._events = events

    def create(self, content: dict[str, Any]) -> dict[str, Any]:
        return self._call("content.create", {"content": _require("content", content, dict)})

    def update(self, id: str, updates: dict[str, Any]) -> dict[str, Any]:  # noqa: A002 - the spec's name
        return self._call("content.update", {"id": str(id), "updates": _require("updates", updates, dict)})

    def delete(self, id: str) -> None:  # noqa: A002
        self._call("content.delete", {"id": str(id)})

    def get(self, id: str) -> dict[str, Any]:  # noqa: A002
        return self._call("content.get", {"id": str(id)})

    def find(self, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._call("content.find", {"query": _require("query", query or {}, dict)})

    def subscribe(self, event: str, callback: Callable[[Any], Any]) -> Callable[[], None]:
        """Call `callback(data)` on a content event (`"created"` or `"content:created"`); returns an unsubscriber."""
        name = event if ":" in event else f"content:{event}"
        self._events.on(name, callback)
        return lambda: self._events.off(name, callback)


class UsersAPI(_Namespace):
    """Users of the installation's organization, or its own user (users:read/update)."""

    def get_current(self) -> dict[str, Any]:
        return self._call("users.getCurrent", {})

    def get(self, id: str) -> dict[str, Any]:  # noqa: A002
        return self._call("users.get", {"id": str(id)})

    def update(self, id: str, updates: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        return self._call("users.update", {"id": str(id), "updates": _require("updates", updates, dict)})

    def get_progress(self, user_id: str) -> dict[str, Any]:
        return self._call("users.getProgress", {"userId": str(user_id)})

    getCurrent = get_current  # noqa: N815 - the spec's spelling
    getProgress = get_progress  # noqa: N815


class AssessmentsAPI(_Namespace):
    """Assessments, their submissions and grades (assessments:read/create/grade)."""

    def create(self, assessment: dict[str, Any]) -> dict[str, Any]:
        return self._call("assessments.create", {"assessment": _require("assessment", assessment, dict)})

    def grade(self, submission_id: str, grade: dict[str, Any]) -> dict[str, Any]:
        return self._call("assessments.grade", {"submissionId": str(submission_id),
                                                "grade": _require("grade", grade, dict)})

    def get(self, id: str) -> dict[str, Any]:  # noqa: A002
        return self._call("assessments.get", {"id": str(id)})

    def get_submissions(self, assessment_id: str) -> list[dict[str, Any]]:
        return self._call("assessments.getSubmissions", {"assessmentId": str(assessment_id)})

    getSubmissions = get_submissions  # noqa: N815


class AnalyticsAPI(_Namespace):
    """Analytics events and dashboards (analytics:write to track, analytics:read to query)."""

    def track(self, event: dict[str, Any]) -> None:
        self._call("analytics.track", {"event": _require("event", event, dict)})

    def query(self, query: dict[str, Any]) -> dict[str, Any]:
        return self._call("analytics.query", {"query": _require("query", query, dict)})

    def create_dashboard(self, dashboard: dict[str, Any]) -> dict[str, Any]:
        return self._call("analytics.createDashboard", {"dashboard": _require("dashboard", dashboard, dict)})

    createDashboard = create_dashboard  # noqa: N815


class CommunicationAPI(_Namespace):
    """Notifications, e-mail and channels (system:notifications, users:message)."""

    def send_notification(self, notification: dict[str, Any]) -> None:
        self._call("communication.sendNotification",
                   {"notification": _require("notification", notification, dict)})

    def send_email(self, email: dict[str, Any]) -> None:
        self._call("communication.sendEmail", {"email": _require("email", email, dict)})

    def create_channel(self, channel: dict[str, Any]) -> dict[str, Any]:
        return self._call("communication.createChannel", {"channel": _require("channel", channel, dict)})

    sendNotification = send_notification  # noqa: N815
    sendEmail = send_email  # noqa: N815
    createChannel = create_channel  # noqa: N815


class AIAPI(_Namespace):
    """The platform's AI service (ai:use), counted against the installation's AI quota."""

    def generate_content(self, prompt: str, options: dict[str, Any] | None = None) -> str:
        return self._call("ai.generateContent", {"prompt": _require("prompt", prompt, str),
                                                 "options": _require("options", options or {}, dict)})

    def analyze_text(self, text: str, analysis: str) -> dict[str, Any]:
        return self._call("ai.analyzeText", {"text": _require("text", text, str),
                                             "analysis": _require("analysis", analysis, str)})

    def create_chatbot(self, config: dict[str, Any]) -> dict[str, Any]:
        return self._call("ai.createChatbot", {"config": _require("config", config, dict)})

    generateContent = generate_content  # noqa: N815
    analyzeText = analyze_text  # noqa: N815
    createChatbot = create_chatbot  # noqa: N815


class PluginAPI:
    """`context.api`: the platform's functionality, one namespace per area of spec §1 PluginAPI."""

    def __init__(self, call: _Calls, events: EventEmitter):
        self.content = ContentAPI(call, events)
        self.users = UsersAPI(call)
        self.assessments = AssessmentsAPI(call)
        self.analytics = AnalyticsAPI(call)
        self.communication = CommunicationAPI(call)
        self.ai = AIAPI(call)


# ---------------------------------------------------------------- context.storage


class Collection(_Namespace):
    """A named collection of JSON documents in the installation's storage; each gets an `id`."""

    def __init__(self, call: _Calls, name: str):
        super().__init__(call)
        if not _re().fullmatch(r"[A-Za-z0-9_-]{1,64}", name or ""):
            raise InvalidRequest("invalid", "a collection name is 1-64 letters, digits, '_' or '-'")
        self.name = name

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._call("storage.collection.create", {"collection": self.name, "data": _require("data", data, dict)})

    def update(self, id: str, data: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        return self._call("storage.collection.update", {"collection": self.name, "id": str(id),
                                                        "data": _require("data", data, dict)})

    def delete(self, id: str) -> None:  # noqa: A002
        self._call("storage.collection.delete", {"collection": self.name, "id": str(id)})

    def find(self, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._call("storage.collection.find", {"collection": self.name,
                                                      "query": _require("query", query or {}, dict)})

    def find_one(self, query: dict[str, Any]) -> dict[str, Any] | None:
        return self._call("storage.collection.findOne", {"collection": self.name,
                                                         "query": _require("query", query, dict)})

    findOne = find_one  # noqa: N815


class Files(_Namespace):
    """Files of the installation (bytes travel base64-encoded over the JSON channel)."""

    def upload(self, content: bytes, *, name: str, content_type: str = "application/octet-stream") -> dict[str, Any]:
        import base64

        _require("content", content, (bytes, bytearray))
        return self._call("storage.files.upload", {"name": _require("name", name, str), "contentType": content_type,
                                                   "content": base64.b64encode(bytes(content)).decode("ascii")})

    def download(self, file_id: str) -> bytes:
        import base64

        reply = self._call("storage.files.download", {"fileId": str(file_id)})
        encoded = reply.get("content", "") if isinstance(reply, dict) else reply
        return base64.b64decode(encoded or "")

    def delete(self, file_id: str) -> None:
        self._call("storage.files.delete", {"fileId": str(file_id)})

    def get_url(self, file_id: str) -> str:
        reply = self._call("storage.files.getUrl", {"fileId": str(file_id)})
        return reply.get("url", "") if isinstance(reply, dict) else reply

    getUrl = get_url  # noqa: N815


class PluginStorage(_worker_context.Storage):
    """`context.storage`: key-value (JSON values), collections and files, private to the installation."""

    def __init__(self, transport: Any):
        super().__init__(transport)
        self._call = _Calls(transport)
        self.files = Files(self._call)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return super().get(_require("key", key, str), default)
        except HostError as exc:
            raise typed(exc) from None

    def set(self, key: str, value: Any) -> None:
        try:
            super().set(_require("key", key, str), value)
        except HostError as exc:
            raise typed(exc) from None

    def delete(self, key: str) -> bool:
        try:
            return super().delete(_require("key", key, str))
        except HostError as exc:
            raise typed(exc) from None

    def collection(self, name: str) -> Collection:
        return Collection(self._call, name)


# ---------------------------------------------------------------- context.events


def _event_function_name(event: str) -> str:
    return "on_event_" + _re().sub(r"[^a-z0-9]+", "_", event.lower()).strip("_")


class EventEmitter(_Namespace):
    """`context.events`: subscribe to platform events and emit the plugin's own.

    `on(event, handler)` keeps the handler in this process and asks the host (`events.on`) to deliver the event to
    the module-level function named in `handler`: the worker calls it with the event's data. For a handler that is
    not a public module-level function (a method, a closure), a dispatcher `on_event_<event>` is added to the
    plugin's main module. `dispatch(event, data)` runs the local handlers (the dev server and tests use it).
    """

    def __init__(self, call: _Calls, *, module: str | None = None):
        super().__init__(call)
        self._handlers: dict[str, list[Callable[[Any], Any]]] = {}
        self._module = module

    @property
    def subscriptions(self) -> list[str]:
        return sorted(event for event, handlers in self._handlers.items() if handlers)

    def _handler_name(self, event: str, handler: Callable[[Any], Any]) -> str:
        module_name = self._module or getattr(handler, "__module__", None)
        module = sys.modules.get(module_name or "")
        name = getattr(handler, "__name__", "")
        if module is not None and getattr(module, name, None) is handler and not name.startswith("_"):
            return name
        dispatcher_name = _event_function_name(event)
        if module is not None and not hasattr(module, dispatcher_name):
            setattr(module, dispatcher_name, self._dispatcher(event, module.__name__, dispatcher_name))
        return dispatcher_name

    def _dispatcher(self, event: str, module_name: str, name: str) -> Callable[..., Any]:
        def deliver(*args: Any, **kwargs: Any) -> Any:
            # The host may pass (data,) or (event, data) or data=...: accept each.
            if "data" in kwargs:
                data = kwargs["data"]
            elif len(args) >= 2 and args[0] == event:
                data = args[1]
            else:
                data = args[0] if args else None
            return self.dispatch(event, data)

        deliver.__name__ = deliver.__qualname__ = name
        deliver.__module__ = module_name  # the worker only calls functions of the plugin's own module
        return deliver

    def on(self, event: str, handler: Callable[[Any], Any]) -> None:
        if not _is_event_name(event):
            raise InvalidRequest("invalid", f"{str(event)[:64]!r} is not an event name such as assessment:submitted")
        if not callable(handler):
            raise InvalidRequest("invalid", "an event handler must be callable")
        first = not self._handlers.get(event)
        self._handlers.setdefault(event, []).append(handler)
        if first:
            self._call("events.on", {"event": event, "handler": self._handler_name(event, handler)})

    def off(self, event: str, handler: Callable[[Any], Any]) -> None:
        handlers = self._handlers.get(event, [])
        if handler in handlers:
            handlers.remove(handler)
        if not handlers and event in self._handlers:
            del self._handlers[event]
            self._call("events.off", {"event": event})

    def emit(self, event: str, data: Any = None) -> None:
        if not _is_event_name(event):
            raise InvalidRequest("invalid", f"{str(event)[:64]!r} is not an event name such as my-plugin:done")
        self._call("events.emit", {"event": event, "data": data})

    def dispatch(self, event: str, data: Any) -> list[Any]:
        """Run this process's handlers of `event` with `data`, in order; returns their results."""
        return [run_maybe_async(handler(data)) for handler in list(self._handlers.get(event, []))]


def run_maybe_async(value: Any) -> Any:
    """The spec's hooks are async; a Python plugin may write `async def` and is run to completion here."""
    if hasattr(value, "__await__") and hasattr(value, "send"):
        import asyncio  # only imported when a plugin actually uses coroutines

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(value)
        # Called from inside a running event loop (a test runner's, a notebook's): finish the coroutine on a
        # thread of its own rather than fail.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, value).result()
    return value


# ---------------------------------------------------------------- context.ui


class UIExtensionAPI(_Namespace):
    """`context.ui`: extension points the platform renders (spec §1 UIExtensionAPI)."""

    def _add(self, method: str, key: str, value: dict[str, Any]) -> Any:
        _require(key, value, dict)
        if method not in ("ui.showNotification", "ui.showModal", "ui.customizeTheme") and not value.get("id"):
            raise InvalidRequest("invalid", f"{key} needs an id")
        return self._call(method, {key: value})

    def register_component(self, component: dict[str, Any]) -> None:
        self._add("ui.registerComponent", "component", component)

    def add_menu_item(self, item: dict[str, Any]) -> None:
        self._add("ui.addMenuItem", "item", item)

    def add_dashboard_widget(self, widget: dict[str, Any]) -> None:
        self._add("ui.addDashboardWidget", "widget", widget)

    def add_toolbar_action(self, action: dict[str, Any]) -> None:
        self._add("ui.addToolbarAction", "action", action)

    def add_settings_page(self, page: dict[str, Any]) -> None:
        self._add("ui.addSettingsPage", "page", page)

    def add_route(self, route: dict[str, Any]) -> None:
        self._add("ui.addRoute", "route", route)

    def show_modal(self, modal: dict[str, Any]) -> Any:
        return self._add("ui.showModal", "modal", modal)

    def show_notification(self, notification: dict[str, Any]) -> None:
        self._add("ui.showNotification", "notification", notification)

    def customize_theme(self, theme: dict[str, Any]) -> None:
        self._add("ui.customizeTheme", "theme", theme)

    registerComponent = register_component  # noqa: N815
    addMenuItem = add_menu_item  # noqa: N815
    addDashboardWidget = add_dashboard_widget  # noqa: N815
    addToolbarAction = add_toolbar_action  # noqa: N815
    addSettingsPage = add_settings_page  # noqa: N815
    addRoute = add_route  # noqa: N815
    showModal = show_modal  # noqa: N815
    showNotification = show_notification  # noqa: N815
    customizeTheme = customize_theme  # noqa: N815


# ---------------------------------------------------------------- user, organization, config, logger


class _Record:
    """A small read-only record (no dataclasses: the worker starts cold, and they import `inspect`)."""

    __slots__ = ()
    FIELDS: tuple[str, ...] = ()

    def __init__(self, **values: str) -> None:
        for name in self.FIELDS:
            object.__setattr__(self, name, str(values.get(name) or ""))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, f) == getattr(other, f) for f in self.FIELDS)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, f) for f in self.FIELDS))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.FIELDS) + ")"

    def as_dict(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in self.FIELDS}


class UserContext(_Record):
    """The user the call runs for (spec UserContext): id, username, email, role, name."""

    FIELDS = ("id", "username", "email", "role", "name")
    __slots__ = FIELDS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> UserContext:
        data = data or {}
        return cls(**{k: data[k] for k in cls.FIELDS if data.get(k) is not None})


class OrganizationContext(_Record):
    """The organization of an organization-wide installation (spec OrganizationContext): id, name, slug, role."""

    FIELDS = ("id", "name", "slug", "role")
    __slots__ = FIELDS

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> OrganizationContext | None:
        if not data or not data.get("id"):
            return None
        return cls(**{k: data[k] for k in cls.FIELDS if data.get(k) is not None})


class PluginConfig(Mapping):  # Mapping[str, Any]
    """The installation's settings (read-only mapping): `context.config.get("threshold", 70)`."""

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values = dict(values or {})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PluginConfig({self._values!r})"


def stderr_sink(level: str, message: str, fields: dict[str, Any]) -> None:
    """One JSON line per record on stderr (the worker's stdout is the protocol; the host collects stderr)."""
    import json

    record = {"level": level, "message": message, **({"fields": fields} if fields else {})}
    sys.stderr.write(json.dumps(record, default=str)[:4000] + "\n")


class PluginLogger:
    """`context.logger`: debug/info/warning/error(message, **fields)."""

    def __init__(self, sink: LogSink = stderr_sink):
        self.sink = sink

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        self.sink(level, str(message), fields)

    def debug(self, message: str, **fields: Any) -> None:
        self._log("debug", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._log("info", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._log("warning", message, fields)

    warn = warning

    def error(self, message: str, **fields: Any) -> None:
        self._log("error", message, fields)


# ---------------------------------------------------------------- the context


class PluginContext(_worker_context.PluginContext):
    """What `init(context)` receives. `transport.request(method, params)` carries every call to the host.

    `info` is the worker's invocation info: plugin_id, installation_id, version, settings, and optionally
    user {id, username, email, role} and organization {id, name, slug}.
    """

    def __init__(self, transport: Any, info: dict[str, Any] | None = None, *, log_sink: LogSink | None = None,
                 module: str | None = None):
        super().__init__(transport, info)
        info = info or {}
        call = _Calls(transport)
        self.events = EventEmitter(call, module=module)
        self.api = PluginAPI(call, self.events)
        self.storage = PluginStorage(transport)
        self.ui = UIExtensionAPI(call)
        self.user = UserContext.from_dict(info.get("user"))
        self.organization = OrganizationContext.from_dict(info.get("organization") or info.get("org"))
        self.config = PluginConfig(info.get("config", info.get("settings")) or {})
        self.logger = PluginLogger(log_sink or stderr_sink)
        self.info = dict(info)

    def call(self, method: str, **params: Any) -> Any:
        """Any host function by its name; prefer the typed namespaces."""
        return _Calls(self._transport)(method, params)

    @classmethod
    def wrap(cls, raw: Any, *, module: str | None = None) -> PluginContext:
        """The typed context for whatever the worker passed to `init`: itself, or a minimal worker context."""
        if isinstance(raw, cls):
            if module and raw.events._module is None:
                raw.events._module = module
            return raw
        if isinstance(raw, _worker_context.PluginContext):
            info = dict(getattr(raw, "info", None) or {})
            info.setdefault("plugin_id", raw.plugin_id)
            info.setdefault("installation_id", raw.installation_id)
            info.setdefault("version", raw.version)
            info.setdefault("settings", raw.settings)
            for key in ("user", "organization", "config"):
                if key not in info and getattr(raw, key, None) is not None:
                    info[key] = getattr(raw, key)
            return cls(raw._transport, info, module=module)
        raise TypeError("init(context) needs the context the platform passes")
