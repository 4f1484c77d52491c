"""Loads every host function module (so the gateway knows them in every process) and connects the runtime to the
host's platform events. Called once from RuntimeConfig.ready()."""

from __future__ import annotations

_connected = False


def connect() -> None:
    global _connected
    if _connected:
        return
    from host.api import platform_event_listener_add
    from runtime.plugin_api import (  # noqa: F401 - importing registers the host functions and tasks
        ai,
        analytics,
        assessments,
        communication,
        content,
        events,
        storage,
        tasks,
        ui,
        users,
    )

    platform_event_listener_add(events.on_platform_event)
    _connected = True
