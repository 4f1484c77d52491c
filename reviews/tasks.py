"""Celery tasks of the reviews app. Each takes ids and calls one service; each is safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from reviews import services


@shared_task(
    name="reviews.notify_developer_of_review",
    acks_late=True,
    time_limit=60,
    soft_time_limit=45,
    autoretry_for=(OperationalError, ConnectionError),
    retry_backoff=True,
    max_retries=5,
)
def notify_developer_of_review(review_id: str) -> bool:
    """Tell the developer about a new review; `developer_notified_at` makes a second run a no-op."""
    return services.review_developer_notify(review_id=review_id)
