"""Revocation is immediate ACROSS PROCESSES: a plugin's event handler keeps calling the Plugin API from a warm worker
held by a real Celery worker process (whose gateway keeps the installation it read), while this process — the web
process — revokes a scope or deactivates the installation through the services. The handler's very next call is
refused: at most the one call already in flight when the service returned may still succeed."""

import time

import pytest
from django.utils import timezone

from host import services as host_services
from runtime import services
from runtime.api import installation_scopes_set
from runtime.models import PluginStorageItem, PluginUsage
from tests.pluginapi.test_sandbox import _install, _version

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox")]

# The handler polls slowly enough to stay under 100 API calls a minute (2 calls every 0.25 s, for a few seconds).
POLLING_SOURCE = '''
import time

from aisquare_plugin_sdk.errors import PermissionDenied

context = None

def init(ctx):
    global context
    context = ctx
    ctx.events.on("assessment:submitted", on_submitted)

def on_submitted(data):
    n = 0
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            context.api.content.find({"limit": 1})
        except PermissionDenied as exc:
            context.storage.set("refused", {"after": n, "message": exc.message})  # storage needs no scope
            return
        n += 1
        context.storage.set("progress", n)
        time.sleep(0.25)
    context.storage.set("refused", "never")
'''

SCOPES = ["assessments:read", "content:read"]


def _installation_polling(world):
    version = _version(POLLING_SOURCE, "poller", SCOPES, optional=["content:read"])
    installation = _install(version, user=world.admin, org=world.org, scopes=SCOPES)
    host_services.submission_create(assessment=world.assessment, user=world.member, content="1/2")
    _wait_for(lambda: _stored(installation, "progress") >= 3, "the handler to be polling on the worker")
    return installation


def _stored(installation, key, default=0):
    item = PluginStorageItem.objects.filter(installation=installation, key=key).first()
    return item.value if item else default


def _wait_for(condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _calls_after(installation, moment, action):
    return list(PluginUsage.objects.filter(installation_id=installation.pk, action=action, created_at__gt=moment)
                .values_list("outcome", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_scope_revoked_in_the_web_process_is_refused_on_the_workers_next_call(celery_worker, world):
    installation = _installation_polling(world)
    installation_scopes_set(installation=installation, user=world.admin, granted_scopes=["assessments:read"])
    revoked_at, progress = timezone.now(), _stored(installation, "progress")

    _wait_for(lambda: _stored(installation, "refused", None) is not None, "the handler to be refused")
    refused = _stored(installation, "refused")
    assert refused != "never" and "content:read" in refused["message"]
    assert refused["after"] <= progress + 1  # only a call already in flight when the grant changed got through
    _wait_for(lambda: PluginUsage.objects.filter(installation_id=installation.pk, action="event:on_submitted")
              .exists(), "the run's audit")
    outcomes = _calls_after(installation, revoked_at, "content.find")
    assert outcomes.count("denied") == 1 and outcomes.count("ok") <= 1


@pytest.mark.django_db(transaction=True)
def test_a_deactivation_in_the_web_process_cuts_the_running_handler_off_at_its_next_call(celery_worker, world):
    installation = _installation_polling(world)
    services.installation_deactivate(installation=installation)
    deactivated_at, progress = timezone.now(), _stored(installation, "progress")

    # Every call is refused now, storage too: the handler cannot even say so, so the audit tells.
    _wait_for(lambda: PluginUsage.objects.filter(installation_id=installation.pk, action="event:on_submitted")
              .exists(), "the handler's run to end")
    assert _stored(installation, "progress") <= progress + 1
    assert _stored(installation, "refused", None) is None
    finds = _calls_after(installation, deactivated_at, "content.find")
    assert finds.count("ok") <= 1 and finds.count("denied") == 1
    writes = _calls_after(installation, deactivated_at, "storage.set")
    assert writes.count("ok") <= 1 and writes.count("denied") == 1  # the handler's attempt to report the refusal
