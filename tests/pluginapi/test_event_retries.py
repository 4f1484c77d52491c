"""Event deliveries: bounded retries with exponential backoff for failures the platform caused, none for a handler
that raises, attempts recorded on the row, and a delivered event is never run twice."""

import shutil

import pytest
from django.core.cache import cache
from django.test import TestCase

from conftest import require
from runtime.models import PluginStorageItem
from runtime.plugin_api import events, execution, tasks
from runtime.plugin_api.models import EventDelivery
from runtime.sandbox.base import CallTimeout, LimitExceeded, PluginCallError, SandboxUnavailable
from runtime.sandbox.pool import reset_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduled(monkeypatch):
    """Retries scheduled through the real Celery task, as (delivery_id, countdown), instead of running inline."""
    calls = []
    conf = tasks.deliver_event.app.conf
    eager, conf.task_always_eager = conf.task_always_eager, False
    monkeypatch.setattr(tasks.deliver_event, "apply_async",
                        lambda args, countdown: calls.append((args[0], countdown)))
    yield calls
    conf.task_always_eager = eager


@pytest.fixture
def delivery(world, install):
    installation = install(["assessments:read"])
    return EventDelivery.objects.create(installation=installation, event="assessment:submitted",
                                        handler="on_submitted", payload={"submissionId": "s1"})


def deliver(delivery) -> str:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return events.event_deliver(delivery_id=str(delivery.pk))


def _runs(monkeypatch, *outcomes):
    """execution.run raises (or returns) each outcome in turn; returns the list of runs."""
    ran = []

    def fake(**kwargs):
        outcome = outcomes[len(ran)]
        ran.append(kwargs["name"])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(execution, "run", fake)
    return ran


def test_an_unavailable_sandbox_is_retried_with_backoff_until_the_cap(delivery, scheduled, monkeypatch):
    ran = _runs(monkeypatch, *[SandboxUnavailable("no bwrap")] * 5)
    for attempt, countdown in enumerate([10, 20, 40, 80], start=1):
        assert deliver(delivery) == "pending"
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", attempt)
        assert f"attempt {attempt} of 5" in delivery.last_error and "sandbox_unavailable" in delivery.last_error
        assert scheduled[-1] == (str(delivery.pk), countdown)
    assert deliver(delivery) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(ran), len(scheduled)) == ("failed", 5, 5, 4)
    assert deliver(delivery) == "failed"  # the cap holds: not run again
    assert len(ran) == 5


def test_a_timeout_is_retried_and_then_delivered_once(delivery, scheduled, monkeypatch):
    ran = _runs(monkeypatch, CallTimeout("too slow"), None)
    assert deliver(delivery) == "pending"
    assert deliver(delivery) == "delivered"
    assert deliver(delivery) == "done"  # a late duplicate message
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error, len(ran)) == ("delivered", 2, "", 2)
    assert delivery.delivered_at is not None and len(scheduled) == 1


@pytest.mark.parametrize("error", [PluginCallError("RuntimeError", "boom", ""), LimitExceeded("memory")])
def test_a_handler_failing_by_itself_is_not_retried(delivery, scheduled, monkeypatch, error):
    ran = _runs(monkeypatch, error)
    assert deliver(delivery) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(ran), scheduled) == ("failed", 1, 1, [])


def test_an_unexpected_host_error_is_retried(delivery, scheduled, monkeypatch):
    _runs(monkeypatch, RuntimeError("database went away"))
    assert deliver(delivery) == "pending"
    delivery.refresh_from_db()
    assert "host_error" in delivery.last_error and scheduled == [(str(delivery.pk), 10)]


def test_a_delivery_held_by_another_worker_is_not_run_twice(delivery, scheduled, monkeypatch):
    ran = _runs(monkeypatch, None)
    cache.add(f"runtime:delivery-lock:{delivery.pk}", 1, timeout=100)  # another worker is running it
    assert deliver(delivery) == "busy"
    delivery.refresh_from_db()
    assert (delivery.attempts, ran) == (0, [])
    assert scheduled == [(str(delivery.pk), events.DELIVERY_LOCK_SECONDS)]  # looked at again once the lock lapses
    cache.delete(f"runtime:delivery-lock:{delivery.pk}")
    assert deliver(delivery) == "delivered"


def test_a_worker_that_keeps_dying_does_not_loop_forever(delivery, scheduled, monkeypatch):
    ran = _runs(monkeypatch, None)
    # Five attempts started and never finished: the row is still pending (the worker died each time).
    EventDelivery.objects.filter(pk=delivery.pk).update(attempts=5)
    assert deliver(delivery) == "failed"
    delivery.refresh_from_db()
    assert "gave up after 5 attempts" in delivery.last_error and ran == []


SLOW_SOURCE = '''
context = None

def init(ctx):
    global context
    context = ctx
    ctx.events.on("assessment:submitted", on_submitted)

def on_submitted(data):
    import time
    n = (context.storage.get("runs") or 0) + 1
    context.storage.set("runs", n)
    if data.get("sleep"):
        time.sleep(data["sleep"])
    context.storage.set("done", n)
'''


@pytest.mark.sandbox
def test_in_the_real_sandbox_a_timed_out_handler_is_retried_and_delivered_once(world, request, monkeypatch):
    require(shutil.which("bwrap") is not None, "bubblewrap (apt-get install bubblewrap)")
    from tests.pluginapi.test_sandbox import _install, _version

    reset_pool()
    try:
        scopes = ["assessments:read"]
        installation = _install(_version(SLOW_SOURCE, "slowpoke", scopes), user=world.admin, org=world.org,
                                scopes=scopes)
        scheduled = request.getfixturevalue("scheduled")  # after provisioning, which runs inline
        delivery = EventDelivery.objects.create(installation=installation, event="assessment:submitted",
                                                handler="on_submitted", payload={"submissionId": "s", "sleep": 3})
        monkeypatch.setattr(events, "HANDLER_TIMEOUT", 1)
        assert deliver(delivery) == "pending"
        delivery.refresh_from_db()
        assert delivery.attempts == 1 and "timeout" in delivery.last_error
        assert scheduled == [(str(delivery.pk), 10)]
        monkeypatch.setattr(events, "HANDLER_TIMEOUT", 10)  # the platform is healthy again
        assert deliver(delivery) == "delivered"
        assert deliver(delivery) == "done"
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("delivered", 2)
        stored = dict(PluginStorageItem.objects.filter(installation=installation).values_list("key", "value"))
        assert stored["done"] == stored["runs"] == 2  # ran twice (the first cut short), completed once
    finally:
        reset_pool()
