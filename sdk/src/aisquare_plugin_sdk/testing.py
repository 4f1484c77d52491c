"""The testing framework (spec §4 PluginTestFramework), usable from pytest or unittest. Standard library only.

- `MockPlatform`: an in-memory platform that answers every Plugin API method the way the host does (same method
  names, parameters and reply shapes), checks scopes, and records every call.
- `MockPluginContext`: a real typed `PluginContext` whose transport is a MockPlatform, with
  `grant_permission(scope)` / `revoke_permission(scope)`.
- `PluginTestFramework`: `setup_test`, `test_lifecycle`, `test_permissions`.

    from aisquare_plugin_sdk.testing import PluginTestFramework

    def test_grades_submissions():
        t = PluginTestFramework().setup_test("path/to/plugin")      # or a Plugin class
        t.context.emit_platform_event("assessment:submitted", t.platform.sample_submission())
        assert t.platform.grades
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aisquare_plugin_sdk.api_scopes import scope_for_call
from aisquare_plugin_sdk.errors import InvalidRequest, NotFound, PermissionDenied, PluginAPIError
from aisquare_plugin_sdk.manifest import MANIFEST_NAME, parse_manifest
from aisquare_plugin_sdk.platform_events import PLATFORM_EVENTS, is_reserved, scope_for_event
from aisquare_plugin_sdk.plugin import HOOKS, SPEC_HOOK_NAMES, Plugin
from aisquare_plugin_sdk.plugin_api import PluginContext, run_maybe_async
from aisquare_plugin_sdk.project import LoadedPlugin, load_plugin

API_NAMESPACES = ("content", "users", "assessments", "analytics", "communication", "ai")
CONTENT_FIELDS = ("title", "body", "kind", "tags", "metadata", "status")
CONTENT_QUERY = ("kind", "status", "tag", "search", "authorId", "createdByPlugin", "limit")
ANALYSES = ("sentiment", "summary", "keywords", "readability", "assessment_grading")
THEME_KEYS = ("primaryColor", "accentColor", "backgroundColor", "textColor")
HEX_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")
PATH_RE = re.compile(r"^/(?!/)[A-Za-z0-9_./~%-]*(\?[A-Za-z0-9_=&.%-]*)?$")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
UI_METHODS = {
    "ui.registerComponent": "components", "ui.addMenuItem": "menu_items", "ui.addDashboardWidget": "widgets",
    "ui.addToolbarAction": "toolbar_actions", "ui.addSettingsPage": "settings_pages", "ui.addRoute": "routes",
    "ui.showModal": "modals", "ui.showNotification": "notifications", "ui.customizeTheme": "themes",
}


@dataclass
class Call:
    """One recorded request: method, params, and "ok" / "denied" / "error"."""

    method: str
    params: dict[str, Any]
    outcome: str = "ok"
    scope: str | None = None
    error: str = ""


def _new_id() -> str:
    return str(uuid.uuid4())


def _json_copy(value: Any, what: str) -> Any:
    """What crosses the worker's JSON channel: refuse what is not JSON, and never share objects."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest("invalid", f"{what} are not JSON: {exc}") from None


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    return all(doc.get(key) == value for key, value in query.items())


class MockPlatform:
    """An in-memory AI Square platform for tests and the dev server. `request(method, params)` is the transport."""

    def __init__(self, *, granted: set[str] | list[str] | tuple[str, ...] = (), user: dict[str, Any] | None = None,
                 organization: dict[str, Any] | None = None, plugin_id: str = "test-plugin"):
        self.plugin_id = plugin_id
        self.granted: set[str] = set(granted)
        self.calls: list[Call] = []
        self.user = user or {"id": "user-1", "username": "learner", "email": "learner@example.com",
                             "role": "teacher", "name": "Test Learner"}
        self.organization = organization
        self.users: dict[str, dict[str, Any]] = {self.user["id"]: dict(self.user)}
        self.content: dict[str, dict[str, Any]] = {}
        self.assessments: dict[str, dict[str, Any]] = {}
        self.submissions: dict[str, dict[str, Any]] = {}
        self.grades: list[dict[str, Any]] = []
        self.analytics_events: list[dict[str, Any]] = []
        self.dashboards: list[dict[str, Any]] = []
        self.notifications: list[dict[str, Any]] = []
        self.emails: list[dict[str, Any]] = []
        self.channels: list[dict[str, Any]] = []
        self.kv: dict[str, Any] = {}
        self.collections: dict[str, dict[str, dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, str] = {}
        self.emitted: list[dict[str, Any]] = []
        self.ui: dict[str, list[dict[str, Any]]] = {kind: [] for kind in UI_METHODS.values()}
        self.responses: dict[str, Any] = {}

    # --- the transport

    def request(self, method: str, params: dict[str, Any]) -> Any:
        params = _json_copy(params, "parameters")
        namespace = method.split(".", 1)[0]
        scope = scope_for_call(method) if namespace in API_NAMESPACES else None
        if method == "events.on" and isinstance(params.get("event"), str):
            scope = scope_for_event(params["event"])  # receiving a platform event needs its area's read scope
        call = Call(method, params, scope=scope)
        self.calls.append(call)
        if scope and scope not in self.granted:
            call.outcome, call.error = "denied", f"{method} needs the {scope} scope"
            what = f"receiving {params['event']}" if method == "events.on" else method
            raise PermissionDenied("permission_denied", f"{what} needs the {scope} scope, which is not granted")
        try:
            if method in self.responses:
                canned = self.responses[method]
                result = canned(params) if callable(canned) else canned
            else:
                handler = getattr(self, "_" + method.replace(".", "_"), None)
                if handler is None:
                    raise InvalidRequest("invalid", f"unknown Plugin API method {method!r}")
                result = handler(**params)
        except PluginAPIError as exc:
            call.outcome, call.error = "error", exc.message
            raise
        except TypeError as exc:
            call.outcome, call.error = "error", str(exc)
            raise InvalidRequest("invalid", f"{method}: {exc}") from None
        return _json_copy(result, "results")

    # --- helpers for tests

    def grant(self, scope: str) -> None:
        self.granted.add(scope)

    def revoke(self, scope: str) -> None:
        self.granted.discard(scope)

    def set_response(self, method: str, value: Any) -> None:
        """Answer `method` with `value` (or `value(params)` when callable, which may raise a PluginAPIError)."""
        self.responses[method] = value

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def denied(self) -> list[Call]:
        return [call for call in self.calls if call.outcome == "denied"]

    def used_scopes(self) -> set[str]:
        return {call.scope for call in self.calls if call.scope}

    def add_assessment(self, **fields: Any) -> dict[str, Any]:
        assessment = {"id": _new_id(), "title": "Essay: photosynthesis", "maxScore": 100, "autoGrade": True, **fields}
        self.assessments[assessment["id"]] = assessment
        return assessment

    def sample_submission(self, content: str | None = None, **fields: Any) -> dict[str, Any]:
        """A submitted assessment, stored, as the `assessment:submitted` event carries it."""
        assessment = next(iter(self.assessments.values()), None) or self.add_assessment()
        submission_id = _new_id()
        submission = {
            "id": submission_id, "submissionId": submission_id, "assessmentId": assessment["id"],
            "userId": self.user["id"],
            "content": content if content is not None else (
                "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen. "
                "Chlorophyll in the chloroplasts absorbs the light that drives the reaction."
            ),
            **fields,
        }
        self.submissions[submission["id"]] = submission
        return submission

    def sample_event(self, event: str) -> dict[str, Any]:
        """A plausible payload for a platform event."""
        if event == "assessment:submitted":
            return self.sample_submission()
        if event.startswith("content:"):
            item = self._content_create({"title": "Sample lesson", "body": "Plants make food from light.",
                                         "kind": "lesson"})
            return self.content_event(item)
        if event == "user:enrolled":
            item = self._content_create({"title": "Sample course", "kind": "course"})
            return {"userId": self.user["id"], "contentId": item["id"], "title": item["title"]}
        if event.startswith("user:"):
            return {"userId": self.user["id"]}
        return {}

    @staticmethod
    def content_event(item: dict[str, Any]) -> dict[str, Any]:
        """The payload of content:created/updated for `item` (as host.services.content_as_event)."""
        return {k: item.get(k) for k in ("id", "title", "kind", "status", "orgId", "authorId", "createdByPlugin")}

    # --- content

    def _content_create(self, content: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(content) - set(CONTENT_FIELDS))
        if unknown:
            raise InvalidRequest("invalid", f"Unknown content fields: {', '.join(unknown)}.")
        if not content.get("title"):
            raise InvalidRequest("invalid", "content.title is required")
        item = {"id": _new_id(), "kind": "lesson", "body": "", "status": "draft", "tags": [], "metadata": {},
                "orgId": None, "authorId": self.user["id"], "createdByPlugin": self.plugin_id, **content}
        self.content[item["id"]] = item
        return item

    def _content_get(self, id: str) -> dict[str, Any]:  # noqa: A002
        if id not in self.content:
            raise NotFound("not_found", f"no content {id}")
        return self.content[id]

    def _content_update(self, id: str, updates: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        item = self._content_get(id)
        unknown = sorted(set(updates) - set(CONTENT_FIELDS))
        if unknown:
            raise InvalidRequest("invalid", f"These fields cannot be changed: {', '.join(unknown)}.")
        item.update(updates)
        return item

    def _content_delete(self, id: str) -> None:  # noqa: A002
        self._content_get(id)
        del self.content[id]

    def _content_find(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        unknown = sorted(set(query) - set(CONTENT_QUERY))
        if unknown:
            raise InvalidRequest("invalid", f"Unknown query fields: {', '.join(unknown)}.")
        rows = list(self.content.values())[::-1]
        for key in ("kind", "status", "authorId", "createdByPlugin"):
            if query.get(key):
                rows = [r for r in rows if r.get(key) == query[key]]
        if query.get("tag"):
            rows = [r for r in rows if query["tag"] in r.get("tags", [])]
        if query.get("search"):
            needle = str(query["search"]).lower()
            rows = [r for r in rows if needle in r["title"].lower() or needle in r.get("body", "").lower()]
        return rows[: int(query.get("limit", 20))]

    # --- users

    def _users_getCurrent(self) -> dict[str, Any]:  # noqa: N802 - the method's name
        return self.users[self.user["id"]]

    def _users_get(self, id: str) -> dict[str, Any]:  # noqa: A002
        if id not in self.users:
            raise NotFound("not_found", f"no user {id}")
        return self.users[id]

    def _users_update(self, id: str, updates: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        user = self._users_get(id)
        user.update({k: v for k, v in updates.items() if k in ("name", "email", "preferences")})
        return user

    def _users_getProgress(self, userId: str) -> dict[str, Any]:  # noqa: N802, N803
        self._users_get(userId)
        mine = [s for s in self.submissions.values() if s.get("userId") == userId]
        graded = [g for g in self.grades if self.submissions.get(g["submissionId"], {}).get("userId") == userId]
        return {"userId": userId, "submissions": len(mine), "graded": len(graded),
                "averageScore": round(sum(float(g["score"]) for g in graded) / len(graded), 2) if graded else None}

    # --- assessments

    def _assessments_create(self, assessment: dict[str, Any]) -> dict[str, Any]:
        if not assessment.get("title"):
            raise InvalidRequest("invalid", "assessment.title is required")
        return self.add_assessment(**assessment)

    def _assessments_grade(self, submissionId: str, grade: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        if submissionId not in self.submissions:
            raise NotFound("not_found", f"no submission {submissionId}")
        score = grade.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100:
            raise InvalidRequest("invalid", "grade.score must be a number from 0 to 100")
        record = {"id": _new_id(), "submissionId": submissionId, "score": str(score),
                  "feedback": str(grade.get("feedback", "")), "rubricScores": grade.get("rubricScores") or {}}
        self.grades.append(record)
        return record

    def _assessments_get(self, id: str) -> dict[str, Any]:  # noqa: A002
        if id not in self.assessments:
            raise NotFound("not_found", f"no assessment {id}")
        return self.assessments[id]

    def _assessments_getSubmissions(self, assessmentId: str) -> list[dict[str, Any]]:  # noqa: N802, N803
        return [s for s in self.submissions.values() if s["assessmentId"] == assessmentId]

    # --- analytics

    def _analytics_track(self, event: dict[str, Any]) -> None:
        if not event.get("event"):
            raise InvalidRequest("invalid", "event.event (the event's name) is required")
        self.analytics_events.append(event)

    def _analytics_query(self, query: dict[str, Any]) -> dict[str, Any]:
        name = query.get("event")
        rows = [e for e in self.analytics_events if not name or e["event"] == name]
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["event"]] = counts.get(row["event"], 0) + 1
        return {"total": len(rows), "perDay": [],
                "byEvent": [{"event": e, "count": c} for e, c in sorted(counts.items(), key=lambda i: (-i[1], i[0]))]}

    def _analytics_createDashboard(self, dashboard: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        record = {"id": _new_id(), **dashboard}
        self.dashboards.append(record)
        return record

    # --- communication

    def _communication_sendNotification(self, notification: dict[str, Any]) -> None:  # noqa: N802
        self.notifications.append(notification)

    def _communication_sendEmail(self, email: dict[str, Any]) -> None:  # noqa: N802
        if not email.get("to") or not email.get("subject"):
            raise InvalidRequest("invalid", "email.to and email.subject are required")
        self.emails.append(email)

    def _communication_createChannel(self, channel: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        record = {"id": _new_id(), **channel}
        self.channels.append(record)
        return record

    # --- ai: deterministic, so tests are repeatable; it is not a language model and says so

    def _ai_generateContent(self, prompt: str, options: dict[str, Any]) -> str:  # noqa: N802
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
        return f"[mock AI {digest}] " + " ".join(prompt.split()[: int(options.get("maxWords", 30))])

    def _ai_analyzeText(self, text: str, analysis: str) -> dict[str, Any]:  # noqa: N802
        if analysis not in ANALYSES:
            raise InvalidRequest("invalid", f"Unknown analysis {analysis!r}; use one of {', '.join(ANALYSES)}.")
        words = re.findall(r"[A-Za-z']+", text)
        sentences = max(1, len(re.findall(r"[.!?]+", text)))
        score = min(100, 20 + 2 * len(words)) if words else 0
        result = {"analysis": analysis, "provider": "mock", "wordCount": len(words), "sentences": sentences,
                  "score": score, "processingTime": 1}
        if analysis == "assessment_grading":
            result["feedback"] = (f"{len(words)} words in {sentences} sentences."
                                  + (" Develop the answer further." if score < 70 else " A complete answer."))
            result["rubricScores"] = {"content": score, "clarity": min(100, 50 + 10 * sentences)}
        return result

    def _ai_createChatbot(self, config: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"id": _new_id(), **config}

    # --- storage (replies as the host's: {"found", "value"}, {"deleted"})

    def _storage_get(self, key: str) -> dict[str, Any]:
        return {"found": key in self.kv, "value": self.kv.get(key)}

    def _storage_set(self, key: str, value: Any) -> dict[str, Any]:
        self.kv[key] = value
        return {"ok": True}

    def _storage_delete(self, key: str) -> dict[str, Any]:
        return {"deleted": self.kv.pop(key, None) is not None}

    def _storage_collection_create(self, collection: str, data: dict[str, Any]) -> dict[str, Any]:
        doc = {**data, "id": _new_id()}
        self.collections.setdefault(collection, {})[doc["id"]] = doc
        return doc

    def _storage_collection_update(self, collection: str, id: str, data: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        docs = self.collections.get(collection, {})
        if id not in docs:
            raise NotFound("not_found", f"no document {id} in {collection}")
        docs[id].update({k: v for k, v in data.items() if k != "id"})
        return docs[id]

    def _storage_collection_delete(self, collection: str, id: str) -> None:  # noqa: A002
        if self.collections.get(collection, {}).pop(id, None) is None:
            raise NotFound("not_found", f"no document {id} in {collection}")

    def _storage_collection_find(self, collection: str, query: dict[str, Any]) -> list[dict[str, Any]]:
        return [d for d in self.collections.get(collection, {}).values() if _matches(d, query)]

    def _storage_collection_findOne(self, collection: str, query: dict[str, Any]) -> dict[str, Any] | None:  # noqa: N802
        found = self._storage_collection_find(collection, query)
        return found[0] if found else None

    def _storage_files_upload(self, name: str, contentType: str, content: str) -> dict[str, Any]:  # noqa: N803
        info = {"id": _new_id(), "name": name, "contentType": contentType, "size": len(content) * 3 // 4}
        self.files[info["id"]] = {**info, "content": content}
        return info

    def _file(self, file_id: str) -> dict[str, Any]:
        if file_id not in self.files:
            raise NotFound("not_found", f"no file {file_id}")
        return self.files[file_id]

    def _storage_files_download(self, fileId: str) -> dict[str, Any]:  # noqa: N803
        return {"content": self._file(fileId)["content"]}

    def _storage_files_delete(self, fileId: str) -> None:  # noqa: N803
        self._file(fileId)
        del self.files[fileId]

    def _storage_files_getUrl(self, fileId: str) -> dict[str, Any]:  # noqa: N802, N803
        return {"url": f"/mock/files/{self._file(fileId)['id']}"}

    # --- events and ui

    def _events_on(self, event: str, handler: str) -> dict[str, Any]:
        if is_reserved(event):
            raise InvalidRequest("invalid", f"{event!r} is not a platform event; known: {', '.join(PLATFORM_EVENTS)}.")
        if not NAME_RE.match(handler):
            raise InvalidRequest("invalid", "handler must name a public module-level function of the plugin.")
        self.subscriptions[event] = handler
        return {"subscribed": event}

    def _events_off(self, event: str) -> dict[str, Any]:
        self.subscriptions.pop(event, None)
        return {"ok": True}

    def _events_emit(self, event: str, data: Any = None) -> dict[str, Any]:
        if not event.startswith(f"{self.plugin_id}:"):
            raise PermissionDenied("permission_denied",
                                   f"A plugin emits only its own events, named '{self.plugin_id}:<name>'.")
        self.emitted.append({"event": event, "data": data})
        return {"delivered": 0}

    # --- ui: the host's checks (ids, labels, site paths, theme colours); modal dialogs do not exist server-side

    @staticmethod
    def _check_ui(method: str, value: dict[str, Any]) -> None:
        if method == "ui.showModal":
            raise InvalidRequest("invalid", "Modal dialogs are not available: use ui.showNotification or a settings "
                                            "page instead.")
        if method == "ui.customizeTheme":
            for name, color in value.items():
                if name not in THEME_KEYS:
                    raise InvalidRequest("invalid", f"{name[:40]!r} cannot be themed; use {', '.join(THEME_KEYS)}.")
                if not isinstance(color, str) or not HEX_COLOR_RE.match(color):
                    raise InvalidRequest("invalid", f"{name} must be a hex colour such as #1a73e8.")
            return
        if method == "ui.showNotification":
            if not isinstance(value.get("message"), str) or not value["message"]:
                raise InvalidRequest("invalid", "notification.message is required")
            return
        required = {"ui.addMenuItem": ("label", "route"), "ui.addDashboardWidget": ("title",),
                    "ui.addToolbarAction": ("label",), "ui.addSettingsPage": ("title",), "ui.addRoute": ("path",)}
        for name in required.get(method, ()):
            if not isinstance(value.get(name), str) or not value[name]:
                raise InvalidRequest("invalid", f"{name} is required")
        for name in ("route", "path"):
            if value.get(name) and (not isinstance(value[name], str) or not PATH_RE.match(value[name])):
                raise InvalidRequest("invalid", f"{name} must be a path on this site, such as /plugins/my-plugin.")
        if value.get("function") and (not isinstance(value["function"], str) or not NAME_RE.match(value["function"])):
            raise InvalidRequest("invalid", "function must name a public function of the plugin.")

    def __getattr__(self, name: str) -> Any:
        method = "ui." + name[4:] if name.startswith("_ui_") else None
        if method in UI_METHODS:
            kind = UI_METHODS[method]

            def register(**params: Any) -> Any:
                (value,) = params.values()
                self._check_ui(method, value)
                items = self.ui[kind]
                if kind == "themes":
                    items.clear()  # one theme per installation, replaced
                if "id" in value:
                    items[:] = [i for i in items if i.get("id") != value["id"]]
                items.append(value)
                return {"registered": value.get("id", kind)}

            return register
        raise AttributeError(name)


class MockPluginContext(PluginContext):
    """A typed PluginContext on a MockPlatform. Everything the plugin does is in `context.platform`."""

    def __init__(self, *, permissions: list[str] | tuple[str, ...] | set[str] = (),
                 config: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
                 organization: dict[str, Any] | None = None,
                 plugin_id: str = "test-plugin", platform: MockPlatform | None = None, module: str | None = None):
        self.platform = platform or MockPlatform(granted=permissions, user=user, organization=organization,
                                                 plugin_id=plugin_id)
        self.logs: list[dict[str, Any]] = []
        info = {"plugin_id": plugin_id, "installation_id": "installation-1", "version": "0.0.0",
                "settings": dict(config or {}), "user": self.platform.user,
                "organization": self.platform.organization}
        super().__init__(self.platform, info, log_sink=self._log, module=module)

    def _log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        self.logs.append({"level": level, "message": message, "fields": fields})

    def grant_permission(self, scope: str) -> None:
        self.platform.grant(scope)

    def revoke_permission(self, scope: str) -> None:
        self.platform.revoke(scope)

    grantPermission = grant_permission  # noqa: N815
    revokePermission = revoke_permission  # noqa: N815

    @property
    def calls(self) -> list[Call]:
        return self.platform.calls

    def emit_platform_event(self, event: str, data: Any = None) -> list[Any]:
        """Deliver a platform event to the plugin's handlers, as the host does (data defaults to a sample)."""
        return self.events.dispatch(event, self.platform.sample_event(event) if data is None else data)


@dataclass
class TestSetup:
    """What `setup_test` returns: the plugin (a Plugin instance or the loaded module) and its mock context."""

    plugin: Any
    context: MockPluginContext
    loaded: LoadedPlugin | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    __test__ = False  # not a test class, whatever pytest thinks of the name

    @property
    def api(self) -> Any:
        return self.context.api

    @property
    def storage(self) -> Any:
        return self.context.storage

    @property
    def platform(self) -> MockPlatform:
        return self.context.platform

    def call(self, function: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call one of the plugin's functions as the platform would."""
        return _call_function(self.plugin, function, args, kwargs)

    def hook(self, name: str, /, *args: Any) -> Any:
        return _run_hook(self.plugin, name, self.context, args)


def _manifest_near(obj: Any) -> dict[str, Any]:
    try:
        source = Path(inspect.getfile(obj if isinstance(obj, type | ModuleType) else type(obj)))
    except (TypeError, OSError):
        return {}
    for folder in (source.parent, *source.parent.parents):
        candidate = folder / MANIFEST_NAME
        if candidate.is_file():
            return parse_manifest(candidate.read_bytes()).data
    return {}


def _run_hook(plugin: Any, name: str, context: PluginContext, args: tuple[Any, ...] = ()) -> Any:
    hook = SPEC_HOOK_NAMES.get(name, name)
    if isinstance(plugin, Plugin):
        return plugin.run_hook(hook, *args, bind_context=context)
    target = getattr(plugin, hook, None)
    return run_maybe_async(target(*args)) if callable(target) else None


def _has_hook(plugin: Any, name: str) -> bool:
    if isinstance(plugin, Plugin):
        return name in type(plugin).implemented_hooks()
    return callable(getattr(plugin, name, None))


def _call_function(plugin: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if isinstance(plugin, Plugin):
        return plugin.call_function(name, *args, **kwargs)
    target = getattr(plugin, name, None)
    if not callable(target) or name.startswith("_") or name in HOOKS:
        raise LookupError(f"the plugin has no function {name!r}")
    return run_maybe_async(target(*args, **kwargs))


class PluginTestFramework:
    """Spec §4 PluginTestFramework for Python plugins. One framework per test; it keeps the last mock context."""

    __test__ = False

    def __init__(self) -> None:
        self.mock_context: MockPluginContext | None = None
        self._setup: TestSetup | None = None

    def setup_test(self, plugin: Any, config: dict[str, Any] | None = None, *,
                   permissions: list[str] | None = None, user: dict[str, Any] | None = None,
                   organization: dict[str, Any] | None = None) -> TestSetup:
        """Load `plugin` (a project directory, a Plugin subclass or instance, or a module), run its `init` on a
        MockPluginContext, and return the TestSetup. By default the manifest's required scopes are granted, as a
        user's consent at install would; pass `permissions` to grant exactly those."""
        loaded = None
        if isinstance(plugin, str | Path):
            loaded = load_plugin(plugin)
            target: Any = loaded.instance or loaded.module
            manifest = loaded.manifest.data
        elif isinstance(plugin, type) and issubclass(plugin, Plugin):
            target = plugin()
            manifest = _manifest_near(plugin)
        else:
            target = plugin
            manifest = getattr(plugin, "metadata", None) or _manifest_near(plugin)
        if isinstance(target, Plugin):
            target.metadata = manifest or target.metadata
            target.id = target.id or manifest.get("id", "")
        granted = permissions if permissions is not None else [
            p["scope"] for p in manifest.get("permissions", []) if not p.get("optional")
        ]
        module = loaded.module.__name__ if loaded else None
        context = MockPluginContext(permissions=granted, config=config, user=user, organization=organization,
                                    plugin_id=manifest.get("id", "test-plugin"), module=module)
        self._init(target, context)
        self.mock_context = context
        self._setup = TestSetup(plugin=target, context=context, loaded=loaded, manifest=manifest)
        return self._setup

    setupTest = setup_test  # noqa: N815

    @staticmethod
    def _init(target: Any, context: MockPluginContext) -> None:
        if isinstance(target, Plugin):
            target.run_init(context)
        elif callable(getattr(target, "init", None)):
            run_maybe_async(target.init(context))

    def _context(self) -> MockPluginContext:
        if self.mock_context is None:
            raise RuntimeError("call setup_test first")
        return self.mock_context

    def test_lifecycle(self, plugin: Any = None, *, previous_version: str = "0.9.0") -> dict[str, bool]:
        """Run install, activate, update, deactivate and uninstall; True for each hook the plugin has and that ran.

        A hook that raises fails the whole test with AssertionError naming the hook (pytest shows it)."""
        plugin = plugin if plugin is not None else self._require_setup().plugin
        context = self._context()
        results = {}
        for hook in ("on_install", "on_activate", "on_update", "on_deactivate", "on_uninstall"):
            key = hook[3:]
            if not _has_hook(plugin, hook):
                results[key] = False
                continue
            try:
                _run_hook(plugin, hook, context, (previous_version,) if hook == "on_update" else ())
            except Exception as exc:
                raise AssertionError(f"Lifecycle test failed in {hook}: {type(exc).__name__}: {exc}") from exc
            results[key] = True
        return results

    testLifecycle = test_lifecycle  # noqa: N815

    def _require_setup(self) -> TestSetup:
        if self._setup is None:
            raise RuntimeError("call setup_test first")
        return self._setup

    def test_permissions(self, plugin: Any = None,
                         exercise: Callable[[TestSetup], Any] | None = None) -> list[dict[str, Any]]:
        """For each scope the manifest declares: run `exercise` with every declared scope granted, then with that
        one scope revoked. It passes when the granted run works and actually uses the scope, and the revoked run is
        refused (PermissionDenied raised, or caught by the plugin after the platform refused a call).

        The default exercise runs `init`, delivers a sample of each subscribed event, and calls the plugin's
        functions that need no arguments."""
        setup = self._require_setup()
        plugin = plugin if plugin is not None else setup.plugin
        manifest = setup.manifest
        declared = [p["scope"] for p in manifest.get("permissions", [])]
        exercise = exercise or _default_exercise
        results = []
        for scope in declared:
            granted_result = self._exercise(plugin, manifest, set(declared), exercise, setup)
            denied_result = self._exercise(plugin, manifest, set(declared) - {scope}, exercise, setup)
            used = scope in granted_result.pop("_used")
            denied_result.pop("_used")
            refused = bool(denied_result.get("error_code") == "permission_denied"
                           or any(c.scope == scope for c in denied_result.pop("_denied")))
            granted_result.pop("_denied")
            results.append({
                "permission": scope,
                "granted_result": granted_result,
                "denied_result": denied_result,
                "used": used,
                "passed": "error" not in granted_result and used and refused,
            })
        return results

    testPermissions = test_permissions  # noqa: N815

    def _exercise(self, plugin: Any, manifest: dict[str, Any], granted: set[str],
                  exercise: Callable[[TestSetup], Any], setup: TestSetup) -> dict[str, Any]:
        fresh = type(plugin)() if isinstance(plugin, Plugin) else plugin
        if isinstance(fresh, Plugin):
            fresh.metadata, fresh.id = manifest, manifest.get("id", "")
        old = self._context()
        context = MockPluginContext(permissions=granted, config=dict(old.config), plugin_id=old.plugin_id,
                                    module=setup.loaded.module.__name__ if setup.loaded else None)
        trial = TestSetup(plugin=fresh, context=context, loaded=setup.loaded, manifest=manifest)
        result: dict[str, Any] = {}
        try:
            self._init(fresh, context)
            result["value"] = exercise(trial)
        except PluginAPIError as exc:
            result.update(error=exc.message, error_code=exc.code)
        except Exception as exc:
            result.update(error=f"{type(exc).__name__}: {exc}")
        if isinstance(plugin, ModuleType):  # a module-style plugin keeps state in the module: re-init the original
            self._init(plugin, old)
        result["_used"] = context.platform.used_scopes()
        result["_denied"] = context.platform.denied
        return result


def _default_exercise(setup: TestSetup) -> dict[str, Any]:
    context = setup.context
    for event in context.events.subscriptions:
        context.emit_platform_event(event)
    called = []
    functions = setup.loaded.functions() if setup.loaded and not isinstance(setup.plugin, Plugin) else {}
    if isinstance(setup.plugin, Plugin):
        functions = {name: getattr(setup.plugin, method) for name, method in type(setup.plugin).functions().items()}
    for name, target in functions.items():
        params = list(inspect.signature(target).parameters.values())
        if isinstance(setup.plugin, Plugin):
            params = params[1:]  # the context
        if all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
            setup.call(name)
            called.append(name)
    return {"events": context.events.subscriptions, "functions": called}
