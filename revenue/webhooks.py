"""Stripe events that move money, turned into revenue service calls after dj-stripe verified and stored them.

dj-stripe's view (/stripe/webhook/<uuid>/) checks the signature with the secret of the WebhookEndpoint row, stores
the Event and syncs its object, then sends one signal per event type; these receivers only read the event's object
and call one service. They run inside dj-stripe's transaction: if a service fails, nothing of the event is kept and
Stripe delivers it again. Every service is idempotent by the Stripe id of the money event.
"""

import uuid
from datetime import UTC, datetime

from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS

from revenue import money, services
from revenue.models import RevenueEntry


def _object(event: Event) -> dict:
    return dict(event.data.get("object") or {})


def _id(value) -> str:
    """An expandable field: an id, or the object itself."""
    return value["id"] if isinstance(value, dict) else str(value)


def _when(timestamp) -> datetime | None:
    return datetime.fromtimestamp(int(timestamp), tz=UTC) if timestamp else None


def _uuid(value) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError):
        return None


def on_checkout_completed(sender, event: Event, **kwargs):
    session = _object(event)
    metadata = session.get("metadata") or {}
    if session.get("mode") == "payment" and session.get("payment_status") == "paid" and session.get("payment_intent"):
        purchase_id = _uuid(metadata.get("purchase_id") or session.get("client_reference_id"))
        if purchase_id:
            services.payment_succeeded(external_id=_id(session["payment_intent"]), purchase_id=purchase_id)
    elif session.get("mode") == "subscription" and session.get("subscription"):
        subscription_id = _uuid(metadata.get("subscription_id") or session.get("client_reference_id"))
        if subscription_id:
            services.subscription_checkout_completed(subscription_id=subscription_id,
                                                     external_id=_id(session["subscription"]))


def on_payment_intent_succeeded(sender, event: Event, **kwargs):
    intent = _object(event)
    purchase_id = _uuid((intent.get("metadata") or {}).get("purchase_id"))
    if purchase_id:
        services.payment_succeeded(external_id=intent["id"], purchase_id=purchase_id)


def on_invoice_paid(sender, event: Event, **kwargs):
    invoice = _object(event)
    metadata = invoice.get("metadata") or {}
    usage_invoice_id = _uuid(metadata.get("usage_invoice_id"))
    if usage_invoice_id:
        services.usage_invoice_paid(usage_invoice_id=usage_invoice_id, external_id=invoice["id"])
        return
    details = (invoice.get("parent") or {}).get("subscription_details") or invoice.get("subscription_details") or {}
    subscription = details.get("subscription") or invoice.get("subscription")
    if not subscription:
        return
    currency = invoice["currency"].upper()
    lines = (invoice.get("lines") or {}).get("data") or [{}]
    period = lines[0].get("period") or {}
    services.subscription_invoice_paid(
        subscription_external_id=_id(subscription),
        subscription_id=_uuid((details.get("metadata") or {}).get("subscription_id")),
        invoice_id=invoice["id"], amount=money.from_minor(invoice["amount_paid"], currency), currency=currency,
        period_start=_when(period.get("start")), period_end=_when(period.get("end")),
    )


def on_charge_refunded(sender, event: Event, **kwargs):
    charge = _object(event)
    payment = charge.get("payment_intent")
    if not payment or not RevenueEntry.objects.filter(external_id=_id(payment)).exists():
        return
    currency = charge["currency"].upper()
    for refund in (charge.get("refunds") or {}).get("data") or []:
        if refund.get("status") in ("succeeded", "pending"):
            services.reversal_record(payment_external_id=_id(payment), reversal_external_id=refund["id"],
                                     amount=money.from_minor(refund["amount"], currency), currency=currency)


def on_dispute_created(sender, event: Event, **kwargs):
    dispute = _object(event)
    payment = dispute.get("payment_intent")
    if not payment or not RevenueEntry.objects.filter(external_id=_id(payment)).exists():
        return
    currency = dispute["currency"].upper()
    services.reversal_record(payment_external_id=_id(payment), reversal_external_id=dispute["id"],
                             amount=money.from_minor(dispute["amount"], currency), currency=currency,
                             kind=RevenueEntry.TransactionType.DISPUTE)


def on_subscription_deleted(sender, event: Event, **kwargs):
    services.subscription_ended(external_id=_object(event)["id"])


def on_transfer_reversed(sender, event: Event, **kwargs):
    services.payout_transfer_reversed(transfer_id=_object(event)["id"])


def on_account_updated(sender, event: Event, **kwargs):
    account = _object(event)
    services.payout_account_updated(account_id=account["id"], payouts_enabled=bool(account.get("payouts_enabled")))


RECEIVERS = {
    "checkout.session.completed": on_checkout_completed,
    "payment_intent.succeeded": on_payment_intent_succeeded,
    "invoice.paid": on_invoice_paid,
    "charge.refunded": on_charge_refunded,
    "charge.dispute.created": on_dispute_created,
    "customer.subscription.deleted": on_subscription_deleted,
    "transfer.reversed": on_transfer_reversed,
    "account.updated": on_account_updated,
}


def connect() -> None:
    for name, receiver in RECEIVERS.items():
        WEBHOOK_SIGNALS[name].connect(receiver, sender=Event, dispatch_uid=f"revenue.{name}")
