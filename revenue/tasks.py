"""Celery tasks of the revenue app: the monthly payout run (beat), one send per payout, usage invoices, notices."""

from celery import shared_task
from django.db import transaction

from aisquare_plugins.exceptions import Conflict
from revenue import services
from revenue.models import Payout


@shared_task(name=services.PAYOUT_TASK_NAME, bind=True, acks_late=True, time_limit=600, soft_time_limit=540)
def run_payouts(self, period: str | None = None) -> dict:
    """Beat, monthly: create last month's payouts (or `period`, YYYY-MM), then queue one send per due payout."""
    month = services.parse_period(period) if period else None
    queue = _same_queue(self)
    with transaction.atomic():
        created = services.payouts_create(period=month or services.previous_month(_today()))
        due = services.payouts_due()
        for payout_id in due:
            transaction.on_commit(lambda pid=str(payout_id): send_payout.apply_async((pid,), queue=queue))
    return {"created": created, "queued": len(due)}


def _same_queue(task) -> str | None:
    """The sends go to the queue this run came from (beat's routing), not necessarily the default one."""
    info = getattr(task.request, "delivery_info", None) or {}
    return info.get("routing_key") or None


@shared_task(name="revenue.retry_payouts", bind=True, acks_late=True, time_limit=120, soft_time_limit=100)
def retry_payouts(self) -> int:
    """Beat, hourly: queue the payouts whose backoff has elapsed (and any left in processing by a crash)."""
    due = services.payouts_due()
    queue = _same_queue(self)
    for payout_id in due:
        send_payout.apply_async((str(payout_id),), queue=queue)
    return len(due)


@shared_task(name="revenue.send_payout", bind=True, acks_late=True, time_limit=120, soft_time_limit=100,
             max_retries=services.PAYOUT_MAX_ATTEMPTS)
def send_payout(self, payout_id: str) -> str:
    try:
        payout = services.payout_send(payout_id=payout_id)
    except Conflict:
        # Another worker holds it right now; look again shortly.
        raise self.retry(countdown=30)
    if payout.status == Payout.Status.FAILED and payout.next_attempt_at is not None:
        raise self.retry(countdown=max(60, int((payout.next_attempt_at - _now()).total_seconds())))
    return payout.status


@shared_task(name="revenue.notify_payouts_paid", acks_late=True, time_limit=300, soft_time_limit=270)
def notify_payouts_paid(payout_ids: list[str]) -> int:
    return services.payouts_notify_paid(payout_ids=payout_ids)


@shared_task(name="revenue.notify_price_change", acks_late=True, time_limit=300, soft_time_limit=270)
def notify_price_change(price_id: str) -> int:
    """Tell the subscribers of a plugin whose price changed what they will pay and from when (once each)."""
    return services.price_change_notify(price_id=price_id)


@shared_task(name="revenue.roll_subscriptions", acks_late=True, time_limit=300, soft_time_limit=270)
def roll_subscriptions() -> int:
    """Beat, hourly: end subscriptions cancelled at period end; renew local-gateway subscriptions."""
    return services.subscriptions_renew_local() + services.subscriptions_expire()


@shared_task(name=services.USAGE_TASK_NAME, acks_late=True, time_limit=600, soft_time_limit=540)
def invoice_usage(period: str | None = None) -> int:
    month = services.parse_period(period) if period else services.previous_month(_today())
    return len(services.usage_invoices_create(period=month))


def _today():
    from django.utils import timezone

    return timezone.localdate()


def _now():
    from django.utils import timezone

    return timezone.now()
