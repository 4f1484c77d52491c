"""Celery tasks of the runtime: provisioning an installation (unpack, data directory, warm worker, on_install)."""

from celery import shared_task

from runtime import services


@shared_task(name="runtime.installation_provision", acks_late=True, time_limit=180, soft_time_limit=150)
def installation_provision_task(installation_id: str) -> str:
    """Idempotent: an installation no longer `installing` is left as it is."""
    return services.installation_provision(installation_id=installation_id).status


@shared_task(name="runtime.analytics_rollup", acks_late=True, time_limit=1800, soft_time_limit=1700)
def analytics_rollup_task(day: str | None = None) -> list[str]:
    """Beat, hourly: catch up every day not rolled up yet (today's partial figures included), then the error-rate
    alerts; or recompute one `day` (YYYY-MM-DD). Idempotent: a day's rows are replaced as a whole."""
    import datetime as dt

    from runtime.analytics import rollup

    if day:
        rollup.rollup_day(day=dt.date.fromisoformat(day))
        return [day]
    return [d.isoformat() for d in rollup.rollup_catch_up()]
