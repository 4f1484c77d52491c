"""Celery tasks of the host platform."""

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail


@shared_task(name="host.send_email", acks_late=True, time_limit=60, soft_time_limit=50,
             autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, max_retries=5)
def send_email(user_id: str, subject: str, body: str) -> bool:
    """Send one e-mail to a user's current address. A user deleted since is skipped (nothing to send)."""
    user = get_user_model().objects.filter(pk=user_id).only("email").first()
    if user is None or not user.email:
        return False
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    return True
