"""Writing raw events at chosen times (the audit and installation timestamps are auto_now_add)."""

import datetime as dt

from runtime.models import Installation, PluginUsage

UTC = dt.UTC


def at(day: dt.date, seconds: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=UTC) + dt.timedelta(seconds=seconds)


def usage(*, plugin_id: str, version: str, when: dt.datetime, run: bool = True, outcome: str = "ok",
          user=None, wall_ms=None, peak_kb=None, cpu_ms=None, cold=False, message="", reason="",
          action=None) -> PluginUsage:
    metadata = {}
    if run:
        if wall_ms is not None:
            metadata["wall_ms"] = wall_ms
        if peak_kb is not None:
            metadata["peak_memory_kb"] = peak_kb
        if cpu_ms is not None:
            metadata["cpu_ms"] = cpu_ms
        metadata["cold_start"] = cold
        if reason:
            metadata["reason"] = reason
        if message:
            metadata["message"] = message
    elif outcome != "ok":
        metadata["error"] = reason or "invalid"
    row = PluginUsage.objects.create(
        plugin_id=plugin_id, version=version, user=user, action=action or ("function:grade" if run else "content.get"),
        resource_type="plugin" if run else "content", outcome=outcome, metadata=metadata,
    )
    PluginUsage.objects.filter(pk=row.pk).update(created_at=when)
    return row


def installation(*, plugin, user, version="1.0.0", installed: dt.datetime, activated: dt.datetime | None = None,
                 uninstalled: dt.datetime | None = None, status=None) -> Installation:
    from tests.factories import InstallationFactory

    status = status or (Installation.Status.UNINSTALLED if uninstalled else Installation.Status.ACTIVE)
    inst = InstallationFactory(plugin=plugin, user=user, version=version, status=status)
    Installation.objects.filter(pk=inst.pk).update(installed_at=installed, activated_at=activated,
                                                   uninstalled_at=uninstalled)
    inst.refresh_from_db()
    return inst
