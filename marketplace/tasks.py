"""Celery tasks of the marketplace: keeping its most visited listings warm in the cache."""

from celery import shared_task

from marketplace import selectors


@shared_task(name="marketplace.warm_listings", ignore_result=True, time_limit=120, soft_time_limit=100)
def warm_listings() -> None:
    """Queued a few seconds after a catalogue change (see `cache.warm_soon`) and every 4 minutes by beat."""
    selectors.listings_warm()
