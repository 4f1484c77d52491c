"""The platform events a plugin can subscribe to, and the scope receiving each needs (its payload is data of that
area). The one definition: the server's host events and Plugin API use it, and so do the CLI and the mock platform,
which run without the server. Standard library only."""

from __future__ import annotations

PLATFORM_EVENTS = (
    "content:created", "content:updated", "content:deleted",
    "user:enrolled", "user:updated",
    "assessment:created", "assessment:submitted", "assessment:graded",
    "analytics:tracked", "notification:sent", "channel:created",
)
EVENT_SCOPES = {
    "content": "content:read",
    "user": "users:read",
    "assessment": "assessments:read",
    "analytics": "analytics:read",
    "notification": "system:notifications",
    "channel": "users:message",
}


def scope_for_event(event: str) -> str | None:
    """The scope that subscribing to `event` needs; None for a plugin's own events."""
    if event in PLATFORM_EVENTS:
        return EVENT_SCOPES[event.split(":", 1)[0]]
    return None


def is_reserved(event: str) -> bool:
    """True for a name in a platform namespace that is not a platform event (the host refuses it)."""
    return event not in PLATFORM_EVENTS and event.split(":", 1)[0] in EVENT_SCOPES
