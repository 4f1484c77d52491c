"""The testing framework: the mock platform checks scopes like the host; lifecycle and permission tests."""

import pytest
import sdk_examples

from aisquare_plugin_sdk import PermissionDenied, Plugin
from aisquare_plugin_sdk.errors import InvalidRequest, NotFound
from aisquare_plugin_sdk.testing import MockPluginContext, PluginTestFramework

example = sdk_examples.example  # the fixture: an example plugin copied into tmp_path


def test_a_call_needs_its_scope_and_revoking_takes_effect_on_the_next_call():
    context = MockPluginContext(permissions=["ai:use"])
    assert context.api.ai.analyze_text("Some words here.", "assessment_grading")["score"] > 0

    context.revoke_permission("ai:use")
    with pytest.raises(PermissionDenied, match="ai:use"):
        context.api.ai.analyze_text("Some words here.", "assessment_grading")
    with pytest.raises(PermissionDenied, match="assessments:grade"):
        context.api.assessments.grade("s", {"score": 1})

    context.grant_permission("ai:use")
    context.api.ai.generate_content("again")
    assert [(c.method, c.outcome) for c in context.calls] == [
        ("ai.analyzeText", "ok"), ("ai.analyzeText", "denied"), ("assessments.grade", "denied"),
        ("ai.generateContent", "ok")]


def test_storage_needs_no_scope_and_answers_like_the_host():
    context = MockPluginContext()
    assert context.storage.get("missing", "default") == "default"
    context.storage.set("k", {"a": [1, 2]})
    assert context.storage.get("k") == {"a": [1, 2]}
    assert context.storage.delete("k") is True and context.storage.delete("k") is False
    doc = context.storage.collection("notes").create({"text": "x"})
    assert context.storage.collection("notes").find({"text": "x"}) == [doc]
    with pytest.raises(NotFound):
        context.storage.collection("notes").update("nope", {"text": "y"})


def test_values_that_are_not_json_are_refused_as_the_worker_channel_would():
    context = MockPluginContext()
    with pytest.raises(InvalidRequest, match="not JSON"):
        context.storage.set("k", {1, 2})
    with pytest.raises(InvalidRequest, match="not JSON"):
        context.storage.set("k", float("nan"))


def test_the_mock_validates_grades():
    context = MockPluginContext(permissions=["assessments:grade"])
    submission = context.platform.sample_submission()
    with pytest.raises(InvalidRequest):
        context.api.assessments.grade(submission["id"], {"score": 101})
    with pytest.raises(NotFound):
        context.api.assessments.grade("missing", {"score": 50})
    assert context.api.assessments.grade(submission["id"], {"score": 50})["score"] == "50"  # a decimal string


class Tidy(Plugin):
    metadata = {"id": "tidy", "permissions": [{"scope": "content:read", "reason": "r"},
                                              {"scope": "content:create", "reason": "r"},
                                              {"scope": "users:read", "reason": "receive user:enrolled"}]}

    def init(self, context):
        context.events.on("user:enrolled", self.enrolled)

    def enrolled(self, data):
        self.context.api.content.find({})
        self.context.api.content.create({"title": "Welcome"})

    def on_install(self, context):
        context.storage.set("installed", True)

    def on_uninstall(self, context):
        context.storage.delete("installed")


class Greedy(Tidy):
    """Declares a scope it never uses: least privilege says it should not ask for it."""

    metadata = {"id": "greedy", "permissions": [*Tidy.metadata["permissions"],
                                                {"scope": "analytics:read", "reason": "r"}]}


class Swallower(Tidy):
    """Catches the refusal itself: still counts as refused, since the platform refused the call."""

    def enrolled(self, data):
        try:
            super().enrolled(data)
        except PermissionDenied:
            pass


class Crashy(Plugin):
    def on_activate(self, context):
        raise KeyError("config")


def test_setup_test_grants_the_required_scopes_and_runs_init():
    t = PluginTestFramework().setup_test(Tidy())
    assert t.platform.granted == {"content:read", "content:create", "users:read"}
    assert t.context.events.subscriptions == ["user:enrolled"]
    t.context.emit_platform_event("user:enrolled")
    assert [c["title"] for c in t.platform.content.values() if c["kind"] == "lesson"] == ["Welcome"]


def test_subscribing_to_a_platform_event_needs_its_read_scope():
    with pytest.raises(PermissionDenied, match="receiving user:enrolled needs the users:read scope"):
        PluginTestFramework().setup_test(Tidy(), permissions=["content:read", "content:create"])


def test_lifecycle_reports_the_hooks_that_ran_and_names_a_failing_one():
    framework = PluginTestFramework()
    framework.setup_test(Tidy())
    assert framework.test_lifecycle() == {"install": True, "activate": False, "update": False,
                                          "deactivate": False, "uninstall": True}
    framework.setup_test(Crashy())
    with pytest.raises(AssertionError, match="on_activate: KeyError"):
        framework.test_lifecycle()


def test_permissions_granted_works_revoked_is_refused():
    framework = PluginTestFramework()
    framework.setup_test(Tidy())
    results = framework.test_permissions()
    assert [(r["permission"], r["passed"], r["used"]) for r in results] == [
        ("content:read", True, True), ("content:create", True, True), ("users:read", True, True)]
    assert results[0]["denied_result"]["error_code"] == "permission_denied"
    assert "error" not in results[0]["granted_result"]


def test_permissions_flags_a_scope_the_plugin_never_uses():
    framework = PluginTestFramework()
    framework.setup_test(Greedy())
    by_scope = {r["permission"]: r for r in framework.test_permissions()}
    assert by_scope["analytics:read"]["passed"] is False and by_scope["analytics:read"]["used"] is False
    assert by_scope["content:read"]["passed"] is True


def test_permissions_counts_a_refusal_the_plugin_caught():
    framework = PluginTestFramework()
    framework.setup_test(Swallower())
    results = framework.test_permissions()
    assert all(r["passed"] for r in results)
    caught = [r for r in results if r["permission"].startswith("content:")]
    assert len(caught) == 2 and all("error" not in r["denied_result"] for r in caught)


def test_a_custom_exercise():
    framework = PluginTestFramework()
    framework.setup_test(Tidy())
    results = framework.test_permissions(exercise=lambda t: t.api.content.find({}))
    assert {r["permission"]: r["passed"] for r in results} == {"content:read": True, "content:create": False,
                                                               "users:read": True}


def test_setup_test_from_a_project_folder(example):
    t = PluginTestFramework().setup_test(example("lesson-summaries"))
    assert t.manifest["id"] == "lesson-summaries"
    assert t.loaded.functions().keys() == {"summarize", "summarize_new_content", "summary_count"}
    t.context.emit_platform_event("content:created")
    assert t.call("summary_count") == 1
