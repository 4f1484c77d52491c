"""The typed PluginContext: every call is one request through the worker's transport, with the spec's names."""

import sys
import types

import pytest

from aisquare_plugin_sdk import PermissionDenied, Plugin, PluginContext, QuotaExceeded, RateLimited, export, function
from aisquare_plugin_sdk.context import HostError
from aisquare_plugin_sdk.context import PluginContext as WorkerContext
from aisquare_plugin_sdk.errors import InvalidRequest, NotFound, PluginAPIError
from aisquare_plugin_sdk.worker import Worker


class Recorder:
    """A transport that records requests and answers from a table (or raises HostError like the worker channel)."""

    def __init__(self, answers=None):
        self.requests = []
        self.answers = answers or {}

    def request(self, method, params):
        self.requests.append((method, params))
        answer = self.answers.get(method)
        if isinstance(answer, HostError):
            raise answer
        return answer


def test_api_calls_use_the_spec_method_names_and_named_params():
    transport = Recorder({"ai.analyzeText": {"score": 80}})
    context = PluginContext(transport, {"plugin_id": "p"})

    assert context.api.ai.analyze_text("essay", "assessment_grading") == {"score": 80}
    context.api.ai.analyzeText("essay", "sentiment")
    context.api.assessments.grade("sub-1", {"score": 80})
    context.api.users.getProgress("u-1")
    context.api.content.update("c-1", {"title": "New"})
    context.api.analytics.track({"event": "x"})
    context.api.communication.sendNotification({"text": "hi"})

    assert transport.requests == [
        ("ai.analyzeText", {"text": "essay", "analysis": "assessment_grading"}),
        ("ai.analyzeText", {"text": "essay", "analysis": "sentiment"}),
        ("assessments.grade", {"submissionId": "sub-1", "grade": {"score": 80}}),
        ("users.getProgress", {"userId": "u-1"}),
        ("content.update", {"id": "c-1", "updates": {"title": "New"}}),
        ("analytics.track", {"event": {"event": "x"}}),
        ("communication.sendNotification", {"notification": {"text": "hi"}}),
    ]


def test_storage_collections_files_and_ui_go_through_the_same_transport():
    transport = Recorder({"storage.get": {"found": True, "value": 3}, "storage.delete": {"deleted": True},
                          "storage.files.download": {"content": "aGk="}})
    context = PluginContext(transport)

    assert context.storage.get("n") == 3
    assert context.storage.delete("n") is True
    context.storage.collection("notes").find_one({"tag": "a"})
    context.storage.files.upload(b"hi", name="a.txt", content_type="text/plain")
    assert context.storage.files.download("f-1") == b"hi"
    context.ui.addMenuItem({"id": "m", "label": "M"})
    context.ui.customize_theme({"colors": {}})

    assert [m for m, _ in transport.requests] == [
        "storage.get", "storage.delete", "storage.collection.findOne", "storage.files.upload",
        "storage.files.download", "ui.addMenuItem", "ui.customizeTheme"]
    assert transport.requests[2][1] == {"collection": "notes", "query": {"tag": "a"}}
    assert transport.requests[3][1] == {"name": "a.txt", "contentType": "text/plain", "content": "aGk="}
    assert transport.requests[5][1] == {"item": {"id": "m", "label": "M"}}


@pytest.mark.parametrize("code,cls", [
    ("permission_denied", PermissionDenied), ("rate_limited", RateLimited), ("quota_exceeded", QuotaExceeded),
    ("not_found", NotFound), ("invalid", InvalidRequest), ("something_else", PluginAPIError),
])
def test_host_errors_become_typed_errors_that_are_still_host_errors(code, cls):
    refusal = HostError(code, "no")
    context = PluginContext(Recorder({"ai.generateContent": refusal, "storage.set": refusal}))

    with pytest.raises(cls) as raised:
        context.api.ai.generate_content("prompt")
    assert isinstance(raised.value, HostError) and raised.value.code == code and raised.value.message == "no"
    with pytest.raises(cls):
        context.storage.set("k", 1)


def test_bad_arguments_are_refused_before_anything_is_sent():
    transport = Recorder()
    context = PluginContext(transport)
    with pytest.raises(InvalidRequest):
        context.api.ai.analyze_text(42, "x")
    with pytest.raises(InvalidRequest):
        context.ui.add_menu_item({"label": "no id"})
    with pytest.raises(InvalidRequest):
        context.events.on("not an event", print)
    with pytest.raises(InvalidRequest):
        context.storage.collection("../etc")
    assert transport.requests == []


def test_user_organization_config_and_logger():
    records = []
    context = PluginContext(Recorder(), {
        "settings": {"threshold": 70}, "user": {"id": "u1", "username": "ada", "role": "teacher"},
        "organization": {"id": "o1", "name": "School"},
    }, log_sink=lambda level, message, fields: records.append((level, message, fields)))

    assert context.user.id == "u1" and context.user.username == "ada"
    assert context.organization.name == "School"
    assert context.config.get("threshold") == 70 and dict(context.config) == {"threshold": 70}
    with pytest.raises(TypeError):
        context.config["threshold"] = 1
    context.logger.warning("careful", n=1)
    assert records == [("warning", "careful", {"n": 1})]
    assert PluginContext(Recorder()).organization is None


def test_wrap_upgrades_the_workers_minimal_context():
    transport = Recorder()
    raw = WorkerContext(transport, {"plugin_id": "p", "installation_id": "i", "settings": {"a": 1}})
    typed = PluginContext.wrap(raw)
    assert typed.plugin_id == "p" and typed.config["a"] == 1
    typed.api.users.get_current()
    assert transport.requests == [("users.getCurrent", {})]
    assert PluginContext.wrap(typed) is typed


def _module(name):
    module = types.ModuleType(name)
    sys.modules[name] = module
    return module


def test_events_on_names_a_module_function_the_worker_may_call():
    module = _module("plugin_events_probe")
    transport = Recorder()
    context = PluginContext(transport, module=module.__name__)
    seen = []

    context.events.on("assessment:submitted", lambda data: seen.append(data))
    context.events.on("assessment:submitted", lambda data: seen.append(("second", data)))

    # One subscription request, naming a dispatcher added to the plugin's module.
    assert transport.requests == [("events.on", {"event": "assessment:submitted",
                                                 "handler": "on_event_assessment_submitted"})]
    dispatcher = module.on_event_assessment_submitted
    assert dispatcher.__module__ == module.__name__
    dispatcher({"id": "s1"})
    dispatcher("assessment:submitted", {"id": "s2"})
    assert seen == [{"id": "s1"}, ("second", {"id": "s1"}), {"id": "s2"}, ("second", {"id": "s2"})]


def test_an_exported_plugin_class_runs_in_the_real_worker():
    module = _module("plugin_export_probe")
    code = '''
from aisquare_plugin_sdk import Plugin, export, function

@export
class Probe(Plugin):
    def init(self, context):
        context.events.on("content:created", self.created)

    def created(self, data):
        self.context.storage.set("last", data["contentId"])

    def on_update(self, context, previous_version):
        context.storage.set("from", previous_version)

    @function
    def last(self, context, suffix=""):
        return context.storage.get("last") + suffix
'''
    exec(compile(code, "plugin_export_probe.py", "exec"), module.__dict__)
    from aisquare_plugin_sdk.testing import MockPlatform

    platform = MockPlatform(granted={"content:read"})
    worker = Worker(platform, "plugin_export_probe.py", {"plugin_id": "probe"})
    worker.module = module  # already imported above; the worker runs init on first load otherwise
    module.init(worker.context)

    handler = platform.subscriptions["content:created"]
    assert worker.run({"id": 1, "kind": "event", "name": handler, "args": [{"contentId": "c9"}]})["ok"]
    assert worker.run({"id": 2, "kind": "function", "name": "last", "kwargs": {"suffix": "!"}})["value"] == "c9!"
    assert worker.run({"id": 3, "kind": "hook", "name": "on_update", "args": ["0.9.0"]})["ok"]
    assert platform.kv == {"last": "c9", "from": "0.9.0"}
    # Private names, the base class and imported callables stay out of reach.
    for name in ("__aisquare_function__instance", "Plugin", "export", "created"):
        assert not worker.run({"id": 4, "kind": "function", "name": name})["ok"]


def test_function_names_are_checked_and_export_refuses_to_clobber():
    with pytest.raises(ValueError):
        function("on_install")(lambda self, context: None)
    module = _module("plugin_clobber_probe")
    module.init = lambda context: None

    class Clobber(Plugin):
        pass

    Clobber.__module__ = module.__name__
    with pytest.raises(RuntimeError, match="replace 'init'"):
        export(Clobber)


def test_async_hooks_and_handlers_run_to_completion():
    from aisquare_plugin_sdk.testing import PluginTestFramework

    class AsyncPlugin(Plugin):
        async def init(self, context):
            context.events.on("user:enrolled", self.enrolled)

        async def enrolled(self, data):
            self.context.storage.set("enrolled", data["userId"])

        async def on_install(self, context):
            context.storage.set("installed", True)

    framework = PluginTestFramework()
    t = framework.setup_test(AsyncPlugin, permissions=["users:read"])
    t.context.emit_platform_event("user:enrolled")
    assert framework.test_lifecycle()["install"] is True
    assert t.platform.kv == {"enrolled": "user-1", "installed": True}
