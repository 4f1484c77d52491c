"""Celery tasks of the publishing pipeline: the security scan and the notifications. Each takes ids, calls one
service, and is safe to run twice."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from developers import services


@shared_task(name="developers.scan_version", acks_late=True, time_limit=300, soft_time_limit=240)
def scan_version(version_id: str, generation: int = 0) -> str | None:
    """Validate, scan and score one uploaded version. A timeout records `errored` (fail closed)."""
    try:
        return services.submission_scan(version_id=version_id, generation=generation)
    except SoftTimeLimitExceeded:
        services.submission_scan_errored(version_id=version_id, generation=generation,
                                         error="timeout: the scan task ran past its time limit")
        return "errored"


@shared_task(name="developers.notify_review_team", acks_late=True, time_limit=60, soft_time_limit=50)
def notify_review_team(version_id: str) -> int:
    return services.review_team_notify(version_id=version_id)


@shared_task(name="developers.send_notice_email", acks_late=True, time_limit=60, soft_time_limit=50,
             autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notice_email(notice_id: str) -> bool:
    return services.notice_email_send(notice_id=notice_id)


@shared_task(name="developers.notify_yanked_installations", acks_late=True, time_limit=300, soft_time_limit=240)
def notify_yanked_installations(version_id: str) -> int:
    return services.yanked_installations_notify(version_id=version_id)
