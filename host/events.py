"""Platform events (`assessment:submitted`, `content:created`, …): emitted by host services after commit.

The host knows nothing of plugins. Whoever wants the events (the runtime, which fans them out to subscribed
installations) registers a listener through `host.api.platform_event_listener_add`. Listeners run after the
transaction that produced the event commits, so they never see a row that was rolled back; a failing listener is
logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

# The events host services emit. Plugins subscribe to these names (spec: `context.events.on('assessment:submitted')`);
# the list is the SDK's, which the CLI and the mock platform share without the server.
from aisquare_plugin_sdk.platform_events import PLATFORM_EVENTS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformEvent:
    """One event. `org_id` / `user_id` say whose it is: only installations of that organization or user get it."""

    name: str
    payload: dict[str, Any]
    org_id: str | None = None
    user_id: str | None = None
    # The plugin whose Plugin API call caused it, so a plugin's own writes can be told apart.
    source_plugin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[PlatformEvent], None]
_listeners: list[Listener] = []


def listener_add(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def listener_remove(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _dispatch(event: PlatformEvent) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:  # one broken subscriber must not stop the others nor the service that emitted
            logger.exception("platform event listener %r failed on %s", listener, event.name)


def emit(*, name: str, payload: dict[str, Any], org_id=None, user_id=None, source_plugin: str = "") -> None:
    """Queue an event for after the current transaction commits (or now, outside a transaction)."""
    if name not in PLATFORM_EVENTS:
        raise ValueError(f"unknown platform event {name!r}")
    event = PlatformEvent(
        name=name,
        payload=payload,
        org_id=str(org_id) if org_id else None,
        user_id=str(user_id) if user_id else None,
        source_plugin=source_plugin,
    )
    transaction.on_commit(lambda: _dispatch(event))
