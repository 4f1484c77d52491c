"""The Celery application: Redis broker in production, eager (inline) when REDIS_URL is absent."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aisquare_plugins.settings")

app = Celery("aisquare_plugins")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="platform.ping", acks_late=True, time_limit=10, soft_time_limit=8)
def ping(value: str) -> dict:
    """Round trip used by health checks and the worker integration test."""
    return {"pong": value, "worker": ping.request.hostname}
