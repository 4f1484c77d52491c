"""Events: `events.on/off/emit` host functions, the fan-out of platform events to subscribed installations, and
their delivery — one Celery task per installation, so a slow or crashing handler holds up no other plugin.

Who receives what: an organization's event goes to that organization's active installations; a personal event
(no organization) goes to the active personal installations of that user. A platform event also needs the scope
that reading its data needs (`assessment:*` → assessments:read, …), checked when subscribing AND when delivering,
so a revoked scope stops deliveries at once. A plugin may emit only its own events, named `<plugin id>:<name>`.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aisquare_plugin_sdk.platform_events import is_reserved, scope_for_event
from host import api as host
from runtime.models import Installation
from runtime.plugin_api.gateway import APIRefusal, CallContext, PermissionRefused, host_function, require
from runtime.plugin_api.models import EventDelivery, EventSubscription

logger = logging.getLogger(__name__)

EVENT_RE = re.compile(r"^[a-z][a-z0-9_-]*(?::[a-z0-9_.*-]+)+$")
HANDLER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
MAX_SUBSCRIPTIONS = 100
MAX_EVENT_BYTES = 64 * 1024
HANDLER_TIMEOUT = 30
MAX_ATTEMPTS = 5  # deliveries of a failure the platform caused (see event_deliver)
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 600
DELIVERY_LOCK_SECONDS = 100  # longer than runtime.deliver_event's hard time limit (90 s)

def _check_event_name(ctx: CallContext, event: str) -> None:
    if not EVENT_RE.match(event) or len(event) > 150:
        raise APIRefusal("invalid", f"{event[:64]!r} is not an event name such as assessment:submitted.")
    if is_reserved(event):
        known = ", ".join(host.PLATFORM_EVENTS)
        raise APIRefusal("invalid", f"{event[:64]!r} is not a platform event; known: {known}.")


@host_function("events.on", scope=None)
def on(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    event, handler = require(params, "event"), require(params, "handler")
    _check_event_name(ctx, event)
    if not HANDLER_RE.match(handler):
        raise APIRefusal("invalid", "handler must name a public module-level function of the plugin.")
    needed = scope_for_event(event)
    if needed and needed not in ctx.scopes:
        raise PermissionRefused(f"Receiving {event} needs the permission {needed!r}, which this installation was not "
                                "granted.")
    ctx.touched("event", event)
    existing = EventSubscription.objects.filter(installation_id=ctx.installation_id)
    if not existing.filter(event=event, handler=handler).exists() and existing.count() >= MAX_SUBSCRIPTIONS:
        raise APIRefusal("quota_exceeded", f"An installation may hold at most {MAX_SUBSCRIPTIONS} subscriptions.")
    EventSubscription.objects.get_or_create(installation_id=ctx.installation_id, event=event, handler=handler)
    return {"subscribed": event}


@host_function("events.off", scope=None)
def off(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    event = require(params, "event")
    ctx.touched("event", event)
    deleted, _ = EventSubscription.objects.filter(installation_id=ctx.installation_id, event=event).delete()
    return {"unsubscribed": bool(deleted)}


@host_function("events.emit", scope=None)
def emit(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    event = require(params, "event")
    _check_event_name(ctx, event)
    if not event.startswith(f"{ctx.plugin_id}:"):
        raise PermissionRefused(f"A plugin emits only its own events, named '{ctx.plugin_id}:<name>'.")
    data = params.get("data")
    try:
        size = len(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError):
        raise APIRefusal("invalid", "data must be JSON.")
    if size > MAX_EVENT_BYTES:
        raise APIRefusal("invalid", f"Event data is at most {MAX_EVENT_BYTES:,} bytes.")
    ctx.touched("event", event)
    queued = fan_out(event=event, payload={"data": data, "sourcePlugin": ctx.plugin_id}, org_id=ctx.org_id,
                     user_id=None if ctx.org_id else ctx.installer_id, exclude_installation=ctx.installation_id)
    return {"delivered": queued}


def _recipients(*, event: str, org_id, user_id):
    active = Installation.objects.filter(status=Installation.Status.ACTIVE)
    if org_id:
        active = active.filter(org_id=org_id)
    elif user_id:
        active = active.filter(org__isnull=True, user_id=user_id)
    else:
        return EventSubscription.objects.none()
    return EventSubscription.objects.filter(event=event, installation__in=active).select_related("installation")


def fan_out(*, event: str, payload: dict[str, Any], org_id=None, user_id=None, exclude_installation=None) -> int:
    """Record one delivery per subscribed installation's handler and queue its task after commit."""
    needed = scope_for_event(event)
    deliveries = []
    for sub in _recipients(event=event, org_id=org_id, user_id=user_id):
        if exclude_installation and str(sub.installation_id) == str(exclude_installation):
            continue
        if needed and needed not in (sub.installation.permissions or []):
            continue
        deliveries.append(EventDelivery(installation_id=sub.installation_id, event=event, handler=sub.handler,
                                        payload=payload))
    if not deliveries:
        return 0
    with transaction.atomic():
        EventDelivery.objects.bulk_create(deliveries)
        from runtime.plugin_api.tasks import deliver_event

        for delivery in deliveries:
            transaction.on_commit(lambda pk=str(delivery.pk): deliver_event.delay(pk))
    return len(deliveries)


def on_platform_event(event) -> None:
    """Listener registered with the host (runtime's AppConfig.ready): a platform event reaches the plugins."""
    # A plugin's own writes still reach the other plugins; `sourcePlugin` tells them apart.
    payload = {**event.payload, "sourcePlugin": event.source_plugin} if event.source_plugin else dict(event.payload)
    fan_out(event=event.name, payload=payload, org_id=event.org_id, user_id=None if event.org_id else event.user_id)


def retry_delay(attempt: int) -> int:
    """Seconds to wait after failed attempt `attempt` (1-based): 10, 20, 40, 80, … capped at RETRY_MAX_SECONDS."""
    return min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_MAX_SECONDS)


def _schedule_retry(delivery_id: str, countdown: int) -> None:
    from runtime.plugin_api.tasks import deliver_event

    if deliver_event.app.conf.task_always_eager:  # inline tasks ignore countdowns: a retry would run at once, nested
        return
    transaction.on_commit(lambda: deliver_event.apply_async(args=[delivery_id], countdown=countdown))


def event_deliver(*, delivery_id: str) -> str:
    """Run one delivery. Returns its status after this attempt ("done" when there was nothing to run, "busy" when
    another worker holds it).

    Idempotent: a delivered or skipped delivery is never run again, and a lock (in the cache, as long as the task's
    hard time limit) keeps two workers from running the same one at once. Failures the platform caused — the sandbox
    unavailable, the handler timing out, the worker dying mid-run (the message comes back: acks_late), any other
    host-side error — are retried with exponential backoff up to MAX_ATTEMPTS attempts, counted in `attempts`. The
    handler raising (PluginCallError), breaking a sandbox limit or violating the sandbox fails at once: running the
    same code on the same event again would fail the same way. See docs/runtime-caching.md (event deliveries).
    """
    from runtime.plugin_api import execution
    from runtime.sandbox.base import CallTimeout, PluginCallError, SandboxError, SandboxUnavailable

    lock = f"runtime:delivery-lock:{delivery_id}"
    if not cache.add(lock, 1, timeout=DELIVERY_LOCK_SECONDS):
        # Another worker is running it, or died while running it (its lock lapses): look again once it has lapsed.
        if EventDelivery.objects.filter(pk=delivery_id, status=EventDelivery.Status.PENDING).exists():
            _schedule_retry(delivery_id, DELIVERY_LOCK_SECONDS)
        return "busy"
    try:
        with transaction.atomic():
            delivery = (EventDelivery.objects.select_for_update(skip_locked=True)
                        .filter(pk=delivery_id, status__in=[EventDelivery.Status.PENDING, EventDelivery.Status.FAILED])
                        .first())
            if delivery is None:
                return "done"
            if delivery.attempts >= MAX_ATTEMPTS:  # e.g. a worker that kept dying on it
                delivery.status = EventDelivery.Status.FAILED
                delivery.last_error = (f"gave up after {delivery.attempts} attempts; last error: "
                                       f"{delivery.last_error or 'the worker stopped mid-run'}")[:2000]
                delivery.save(update_fields=["status", "last_error"])
                return delivery.status
            delivery.attempts += 1
            delivery.save(update_fields=["attempts"])
        installation = (Installation.objects.select_related("plugin_version").defer("plugin_version__manifest")
                        .get(pk=delivery.installation_id))
        needed = scope_for_event(delivery.event)
        status, error, retry = EventDelivery.Status.DELIVERED, "", False
        if installation.status != Installation.Status.ACTIVE:
            status, error = EventDelivery.Status.SKIPPED, f"installation is {installation.status}"
        elif needed and needed not in (installation.permissions or []):
            status, error = EventDelivery.Status.SKIPPED, f"permission {needed} was revoked"
        else:
            try:
                execution.run(installation=installation, kind="event", name=delivery.handler,
                              args=[delivery.payload], timeout=HANDLER_TIMEOUT)
            except PluginCallError as exc:
                status, error = EventDelivery.Status.FAILED, f"{exc.error_type}: {exc.message}"
            except (SandboxUnavailable, CallTimeout) as exc:
                status, error, retry = EventDelivery.Status.FAILED, f"{exc.reason}: {exc.message}", True
            except SandboxError as exc:  # a limit or a violation: the plugin's doing, deterministic
                status, error = EventDelivery.Status.FAILED, f"{exc.reason}: {exc.message}"
            except execution.ExecutionRefused as exc:
                status, error = EventDelivery.Status.SKIPPED, exc.message
            except Exception as exc:  # host-side (database, soft time limit, …): bounded retries
                logger.exception("event delivery %s: unexpected error", delivery_id)
                status, error, retry = EventDelivery.Status.FAILED, f"host_error: {type(exc).__name__}: {exc}", True
        retry_in = None
        if retry and delivery.attempts < MAX_ATTEMPTS:
            retry_in = retry_delay(delivery.attempts)
            status = EventDelivery.Status.PENDING
            error = f"{error} (attempt {delivery.attempts} of {MAX_ATTEMPTS}; retrying in {retry_in} s)"
        EventDelivery.objects.filter(pk=delivery.pk).update(
            status=status, last_error=error[:2000],
            delivered_at=timezone.now() if status == EventDelivery.Status.DELIVERED else None,
        )
    finally:
        cache.delete(lock)
    if retry_in is not None:  # after the row says pending and the lock is free
        _schedule_retry(delivery_id, retry_in)
    return status


def subscriptions_remove(*, installation_id) -> None:
    EventSubscription.objects.filter(Q(installation_id=installation_id)).delete()
