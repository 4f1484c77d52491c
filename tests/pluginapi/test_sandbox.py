"""The Plugin API from inside the real sandbox: a plugin's typed context reaches every namespace, refusals arrive
as typed errors it can catch, revocation bites on the next call, widgets are sanitized on the page, and an event
reaches two plugins when one of them crashes (through the real Celery worker)."""

import hashlib
import time

import pytest
from django.core.files.base import ContentFile
from django.test import TestCase

from host import services as host_services
from host.models import Content
from runtime import services
from runtime.api import installation_scopes_set
from runtime.models import PluginStorageItem, PluginUsage
from runtime.package import read_package
from runtime.plugin_api.models import EventDelivery, UIExtension
from tests.factories import PluginFactory, PluginVersionFactory
from tests.runtime.packages import build_package

pytestmark = [pytest.mark.sandbox]

ALL_SCOPES = ["content:read", "content:create", "users:read", "assessments:read", "ai:use", "analytics:write",
              "analytics:read"]

API_SOURCE = '''
from aisquare_plugin_sdk.errors import NotFound, PermissionDenied, RateLimited

context = None

def init(ctx):
    global context
    context = ctx
    ctx.ui.add_menu_item({"id": "reports", "label": "Class reports", "route": "/plugins/api-demo/reports"})
    ctx.ui.add_dashboard_widget({"id": "scores", "title": "Latest scores", "function": "scores_widget"})

def scores_widget(request):
    me = context.api.users.get_current()
    return ("<p>Hello <strong>" + me["username"] + "</strong></p><script>fetch('/steal?c='+document.cookie)</script>"
            "<img src=x onerror=alert(1)><a href=\\"javascript:alert(2)\\">more</a>")

def tour(outsider_id):
    out = {}
    lesson = context.api.content.create({"title": "Made in a sandbox", "body": "hello"})
    out["created"] = lesson["id"]
    out["found"] = [c["title"] for c in context.api.content.find({"search": "sandbox"})]
    out["me"] = context.api.users.getCurrent()["username"]
    try:
        context.api.users.get(outsider_id)
    except NotFound as exc:
        out["outsider"] = "NotFound"
    try:
        context.api.assessments.create({"title": "x"})
    except PermissionDenied as exc:
        out["no_scope"] = exc.code
    out["ai"] = context.api.ai.generate_content("Explain fractions.")[:30]
    context.api.analytics.track({"event": "tour_done"})
    doc = context.storage.collection("notes").create({"n": 1})
    out["doc"] = context.storage.collection("notes").find_one({"id": doc["id"]})["n"]
    f = context.storage.files.upload(b"abc", name="a.txt", content_type="text/plain")
    out["file"] = context.storage.files.download(f["id"]).decode()
    return out

def find():
    try:
        return len(context.api.content.find({}))
    except PermissionDenied:
        return "PermissionDenied"
'''

HANDLER_SOURCE = '''
context = None

def init(ctx):
    global context
    context = ctx
    ctx.events.on("assessment:submitted", on_submitted)

def on_submitted(data):
    context.storage.set("last_submission", data["submissionId"])
'''

CRASHING_SOURCE = '''
def init(ctx):
    ctx.events.on("assessment:submitted", on_submitted)

def on_submitted(data):
    raise RuntimeError("this handler always crashes")
'''


def _version(source, plugin_id, scopes, *, optional=()):
    permissions = [{"scope": s, "reason": "test", **({"optional": True} if s in optional else {})} for s in scopes]
    data = build_package(source, plugin_id=plugin_id, permissions=permissions)
    package = read_package(data)
    return PluginVersionFactory(
        plugin=PluginFactory(id=plugin_id), version="1.0.0", package=ContentFile(data, name=f"{plugin_id}.zip"),
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), manifest=package.manifest.data,
    )


def _install(version, *, user, org, scopes):
    with TestCase.captureOnCommitCallbacks(execute=True):
        installation = services.installation_install(plugin_version=version, user=user, org=org,
                                                     granted_scopes=list(scopes))
    deadline = time.monotonic() + 60  # with the real Celery worker, provisioning runs over there
    while time.monotonic() < deadline:
        installation.refresh_from_db()
        if installation.status != "installing":
            break
        time.sleep(0.2)
    assert installation.status == "installed", installation.last_error
    return services.installation_activate(installation=installation)


@pytest.mark.django_db
def test_a_plugin_reaches_the_platform_through_its_typed_context(sandbox, world):
    installation = _install(_version(API_SOURCE, "api-demo", ALL_SCOPES), user=world.admin, org=world.org,
                            scopes=ALL_SCOPES)
    result = services.installation_invoke(installation=installation, function="tour", args=[str(world.outsider.id)])
    value = result["value"]
    assert value["found"] == ["Made in a sandbox"]
    assert value["me"] == world.admin.username
    assert value["outsider"] == "NotFound"
    assert value["no_scope"] == "permission_denied"
    assert value["ai"].startswith("[Local AI stand-in")
    assert (value["doc"], value["file"]) == (1, "abc")
    lesson = Content.objects.get(pk=value["created"])
    assert (lesson.created_by_plugin, lesson.org_id) == ("api-demo", world.org.id)
    audited = set(PluginUsage.objects.filter(installation_id=installation.pk).values_list("action", "outcome"))
    assert {("content.create", "ok"), ("users.get", "error"), ("assessments.create", "denied"),
            ("ui.addDashboardWidget", "ok"), ("function:tour", "ok")} <= audited


@pytest.mark.django_db
def test_revoking_a_scope_takes_effect_on_the_next_call_of_a_warm_worker(sandbox, world):
    installation = _install(_version(API_SOURCE, "api-demo", ALL_SCOPES, optional=["content:read"]),
                            user=world.admin, org=world.org, scopes=ALL_SCOPES)
    assert services.installation_invoke(installation=installation, function="find")["value"] == 1
    installation_scopes_set(installation=installation, user=world.admin,
                            granted_scopes=[s for s in ALL_SCOPES if s != "content:read"])
    second = services.installation_invoke(installation=installation, function="find")
    assert second["value"] == "PermissionDenied"
    assert second["cold_start"] is False  # same worker, same session: the host checks every call


@pytest.mark.django_db
def test_a_widget_with_a_script_tag_shows_none_of_it_on_the_dashboard(sandbox, world, client):
    installation = _install(_version(API_SOURCE, "api-demo", ALL_SCOPES), user=world.admin, org=world.org,
                            scopes=ALL_SCOPES)
    assert UIExtension.objects.filter(installation=installation).count() == 2
    client.force_login(world.member)
    page = client.get("/dashboard/").content.decode()
    assert "Latest scores" in page and "Class reports" in page
    assert f"Hello <strong>{world.member.username}</strong>" in page  # the widget ran for the viewer
    for bad in ("<script", "document.cookie", "/steal", "onerror", "javascript:", "<img"):
        assert bad not in page
    # Deactivation removes them from the page and from the database.
    services.installation_deactivate(installation=installation)
    assert UIExtension.objects.filter(installation=installation).count() == 0
    page = client.get("/dashboard/").content.decode()
    assert "Latest scores" not in page


@pytest.mark.django_db(transaction=True)
def test_an_event_reaches_two_plugins_when_one_crashes(sandbox, celery_worker, world):
    scopes = ["assessments:read"]
    good = _install(_version(HANDLER_SOURCE, "listener", scopes), user=world.admin, org=world.org, scopes=scopes)
    bad = _install(_version(CRASHING_SOURCE, "crasher", scopes), user=world.admin, org=world.org, scopes=scopes)
    submission = host_services.submission_create(assessment=world.assessment, user=world.member, content="2/4")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = dict(EventDelivery.objects.filter(event="assessment:submitted").values_list("installation_id",
                                                                                                "status"))
        if states.get(good.pk) == "delivered" and states.get(bad.pk) == "failed":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"deliveries did not finish: {states}")
    assert PluginStorageItem.objects.get(installation=good, key="last_submission").value == str(submission.id)
    crashed = EventDelivery.objects.get(installation=bad)
    assert "this handler always crashes" in crashed.last_error and crashed.attempts == 1
