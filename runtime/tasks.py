"""Celery tasks of the runtime: provisioning an installation (unpack, data directory, warm worker, on_install)."""

from celery import shared_task

from runtime import services


@shared_task(name="runtime.installation_provision", acks_late=True, time_limit=180, soft_time_limit=150)
def installation_provision_task(installation_id: str) -> str:
    """Idempotent: an installation no longer `installing` is left as it is."""
    return services.installation_provision(installation_id=installation_id).status
