"""Celery tasks of the Plugin API (imported by runtime.tasks so the worker registers them)."""

from celery import shared_task

from runtime.plugin_api import events


@shared_task(name="runtime.deliver_event", acks_late=True, time_limit=90, soft_time_limit=75)
def deliver_event(delivery_id: str) -> str:
    """One event for one installation: its own task, so one slow or failing handler holds up no other plugin."""
    return events.event_deliver(delivery_id=delivery_id)
