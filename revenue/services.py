"""Revenue write services: prices, purchases, subscriptions, usage invoices, the ledger, refunds and payouts.

Every money event becomes one `RevenueEntry` row keyed by the gateway's id of the event (`external_id`, unique), so a
webhook delivered twice or a retried task records it once. Payouts claim the rows they pay when they are created and
carry an idempotency key derived from their id: two runs, a retry or a crash after the transfer never pay twice.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from aisquare_plugins.exceptions import Conflict, Forbidden, NotFound, ServiceError
from host import api as host_api
from revenue import money
from revenue.gateways import GatewayError, get_gateway
from revenue.gateways.base import TransferRequest
from revenue.models import (
    FeeOverride,
    Payout,
    PayoutAccount,
    PayoutAttempt,
    PriceRecord,
    Purchase,
    RevenueEntry,
    Subscription,
    UsageInvoice,
)

logger = logging.getLogger(__name__)

PRICE_CHANGE_NOTICE_DAYS = 30
PAYOUT_MAX_ATTEMPTS = 5
LIVE_PURCHASE = [Purchase.Status.PENDING, Purchase.Status.PAID]


# --- periods and rates --------------------------------------------------------------------------------------------

def month_bounds(day: date) -> tuple[date, date]:
    """First and last day of the month containing `day`."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def billing_period_end(*, start: datetime, interval: str, gateway: str) -> datetime:
    """The end of a subscription period that starts at `start`: the local gateway bills fixed 30- or 365-day
    periods (subscriptions_renew_local); Stripe bills calendar months or years from the start."""
    if gateway == "local":
        return start + timedelta(days=365 if interval == "year" else 30)
    y, m = divmod(start.month - 1 + (12 if interval == "year" else 1), 12)
    year, month = start.year + y, m + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def previous_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def parse_period(value: str) -> date:
    """'YYYY-MM' -> the first day of that month; a clear error for anything else."""
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except (TypeError, ValueError):
        raise ServiceError(f"A period is written YYYY-MM, not {value!r}.", code="invalid_period")


def fee_rate_for(developer_id) -> Decimal:
    override = FeeOverride.objects.filter(developer_id=developer_id).values_list("rate", flat=True).first()
    return override if override is not None else settings.PLATFORM_FEE_RATE


def fee_override_set(*, developer, rate: Decimal, reason: str = "") -> FeeOverride:
    if not isinstance(rate, Decimal) or not Decimal("0") <= rate <= Decimal("1"):
        raise ServiceError("The fee rate is a decimal between 0 and 1, e.g. 0.15.", code="invalid_rate")
    with transaction.atomic():
        override, _ = FeeOverride.objects.select_for_update().get_or_create(
            developer=developer, defaults={"rate": rate, "reason": reason}
        )
        override.rate, override.reason = rate, reason
        override.full_clean()
        override.save(update_fields=["rate", "reason", "updated_at"])
        return override


# --- the ledger ---------------------------------------------------------------------------------------------------

def ledger_record(
    *,
    plugin,
    transaction_type: str,
    amount: Decimal,
    currency: str,
    external_id: str,
    reverses: RevenueEntry | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
) -> RevenueEntry:
    """One money event as one row, once: the same external_id returns the row already written.

    A reversal (refund, dispute) is negative and reverses the share in proportion, with the fee rate of the payment
    it reverses; it never reverses more than what is left of that payment.
    """
    currency = currency.upper()
    amount = money.quantize(amount, currency)
    if not external_id:
        raise ServiceError("A ledger row needs the gateway's id of the money event.", code="missing_external_id")
    with transaction.atomic():
        existing = RevenueEntry.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing
        if reverses is not None:
            reverses = RevenueEntry.objects.select_for_update().get(pk=reverses.pk)
            already = reverses.reversals.aggregate(total=Coalesce(Sum("amount"), Decimal("0")))["total"]
            left = reverses.amount + already
            if amount >= 0 or -amount > left:
                raise Conflict(f"Cannot reverse {-amount} {currency}: {left} {currency} of that payment is left.",
                               code="over_reversal")
            if -amount == left:
                # The last reversal takes exactly what is left of fee and share, so a payment refunded in parts
                # nets to zero on both columns.
                fee_left = reverses.platform_fee + sum(r.platform_fee for r in reverses.reversals.all())
                fee = -fee_left
                share = amount - fee
            else:
                rate = (reverses.platform_fee / reverses.amount) if reverses.amount else Decimal("0")
                fee, share = money.split(amount, currency, rate)
            developer_id, plugin_id = reverses.developer_id, reverses.plugin_id
        else:
            if amount <= 0:
                raise ServiceError("A payment is a positive amount.", code="invalid_amount")
            developer_id, plugin_id = plugin.developer_id, plugin.pk
            fee, share = money.split(amount, currency, fee_rate_for(developer_id))
        entry = RevenueEntry(
            plugin_id=plugin_id, developer_id=developer_id, transaction_type=transaction_type, amount=amount,
            currency=currency, platform_fee=fee, developer_share=share,
            payment_status=RevenueEntry.PaymentStatus.SUCCEEDED, external_id=external_id, reverses=reverses,
            period_start=period_start or timezone.localdate(), period_end=period_end or timezone.localdate(),
        )
        entry.full_clean()
        try:
            with transaction.atomic():
                entry.save(force_insert=True)
        except IntegrityError:
            # A concurrent delivery of the same event won the race.
            return RevenueEntry.objects.get(external_id=external_id)
        return entry


# --- prices -------------------------------------------------------------------------------------------------------

def _pricing_of(plugin) -> dict:
    pricing = dict(plugin.pricing or {})
    model = pricing.get("model") or plugin.pricing_model or "free"
    currency = (pricing.get("currency") or plugin.currency or "USD").upper()
    amount = Decimal(str(pricing.get("price") or plugin.price or "0"))
    return {
        "model": model, "currency": currency, "amount": money.quantize(amount, currency),
        "interval": pricing.get("interval", "month") if model == "subscription" else "",
        "tiers": pricing.get("tiers") or [] if model == "usage_based" else [],
    }


def pricing_setup(*, plugin) -> PriceRecord | None:
    """Set up a paid plugin's product and price at the gateway (spec `_setup_payment_processing`).

    Idempotent: the same pricing returns the current record. A changed price makes a new record; new buyers pay it at
    once, existing subscribers from their first renewal after PRICE_CHANGE_NOTICE_DAYS of notice.
    """
    wanted = _pricing_of(plugin)
    if wanted["model"] == "free":
        return None
    if wanted["model"] in ("one_time", "subscription") and wanted["amount"] <= 0:
        raise ServiceError("A paid plugin needs a price above zero.", code="invalid_price")
    gateway = get_gateway()
    with transaction.atomic():
        current = PriceRecord.objects.select_for_update(of=("self",)).filter(plugin_id=plugin.pk, current=True).first()
        if current is not None and (
            current.model, current.amount, current.currency, current.interval, current.tiers, current.gateway
        ) == (wanted["model"], wanted["amount"], wanted["currency"], wanted["interval"], wanted["tiers"],
              gateway.name):
            return current
        ref = gateway.price_setup(
            plugin_id=plugin.pk, name=plugin.name, model=wanted["model"], amount=wanted["amount"],
            currency=wanted["currency"], interval=wanted["interval"],
            product_ref=current.product_ref if current is not None and current.gateway == gateway.name else "",
        )
        if current is not None:
            current.current = False
            current.save(update_fields=["current", "updated_at"])
        record = PriceRecord(plugin_id=plugin.pk, gateway=gateway.name, product_ref=ref.product_ref,
                             price_ref=ref.price_ref, **wanted)
        record.full_clean()
        record.save(force_insert=True)
        if current is not None and wanted["model"] == "subscription":
            _price_change_schedule(plugin=plugin, record=record)
        return record


def _price_change_schedule(*, plugin, record: PriceRecord) -> None:
    """Every live subscriber moves to `record` from their first renewal at least PRICE_CHANGE_NOTICE_DAYS away, and
    is told so (in the portal and by e-mail) by a task queued on commit."""
    now = timezone.now()
    notice_ends = now + timedelta(days=PRICE_CHANGE_NOTICE_DAYS)
    subscribers = list(
        Subscription.objects.select_for_update(of=("self",)).select_related("price")
        .filter(plugin_id=plugin.pk, metered=False).exclude(status=Subscription.Status.CANCELED)
    )
    for subscription in subscribers:
        renewal = subscription.current_period_end or notice_ends
        while renewal < notice_ends:
            renewal = billing_period_end(start=renewal, interval=subscription.price.interval,
                                         gateway=subscription.price.gateway)
        subscription.pending_price, subscription.pending_price_effective_at = record, renewal
        subscription.pending_price_notified_at, subscription.updated_at = None, now
    Subscription.objects.bulk_update(
        subscribers, ["pending_price", "pending_price_effective_at", "pending_price_notified_at", "updated_at"],
        batch_size=1000,
    )
    if subscribers:
        from revenue import tasks

        transaction.on_commit(lambda: tasks.notify_price_change.delay(str(record.pk)))


def price_change_notify(*, price_id) -> int:
    """Tell each subscriber moving to this price what it will be and from when (a portal notification and an
    e-mail), once: a retried or repeated task finds them already told."""
    told = 0
    with transaction.atomic():
        pending = (
            Subscription.objects.select_for_update(of=("self",)).select_related("plugin", "price", "pending_price",
                                                                              "user")
            .filter(pending_price_id=price_id, pending_price_notified_at__isnull=True)
            .exclude(status=Subscription.Status.CANCELED)
        )
        for subscription in pending:
            old, new = subscription.price, subscription.pending_price
            local = timezone.localtime(subscription.pending_price_effective_at)
            when = f"{local.day} {local:%B %Y}"
            title = f"{subscription.plugin.name}: new price from {when}"
            body = (
                f"The price of your {subscription.plugin.name} subscription changes from {old.amount} to "
                f"{new.amount} {new.currency} per {new.interval or 'period'}. You pay {old.amount} {old.currency} "
                f"until {when}; the renewal on that date is the first at the new price. To stop before "
                f"then, cancel the subscription on your Purchases and subscriptions page (/my/billing/)."
            )
            host_api.notification_send(user=subscription.user, title=title, body=body, link="/my/billing/")
            if subscription.user.email:
                host_api.email_send(user=subscription.user, subject=title, body=body)
            subscription.pending_price_notified_at = timezone.now()
            subscription.save(update_fields=["pending_price_notified_at", "updated_at"])
            told += 1
    return told


def _current_price(plugin) -> PriceRecord:
    record = PriceRecord.objects.filter(plugin_id=plugin.pk, current=True).first()
    if record is None:
        record = pricing_setup(plugin=plugin)
    if record is None:
        raise Conflict("This plugin is free: there is nothing to buy.", code="free_plugin")
    return record


# --- checkout -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckoutOutcome:
    kind: str  # "purchase" or "subscription"
    id: str
    status: str
    redirect_url: str


def _check_buyer(*, plugin, user, org) -> None:
    if not user.is_authenticated:
        raise Forbidden("Sign in to buy a plugin.")
    if org is not None and not host_api.is_org_admin(user=user, org=org):
        # The same answer as for a missing organization: nobody learns which organizations exist.
        raise NotFound("There is no such organization.")
    if plugin.developer.user_id == user.pk:
        raise Conflict("You cannot buy your own plugin.", code="own_plugin")


def checkout_start(*, plugin, user, org=None, success_url: str, cancel_url: str) -> CheckoutOutcome:
    """Buy a paid plugin: a one-time payment, a subscription, or a metered subscription for usage-based pricing.

    With the local gateway the payment completes at once (recorded, nothing moved); with Stripe the buyer is sent
    to Stripe's hosted checkout and the webhook completes it.
    """
    from revenue import selectors

    _check_buyer(plugin=plugin, user=user, org=org)
    if selectors.entitlement_exists(plugin_id=plugin.pk, user=user, org=org):
        raise Conflict("You already have this plugin.", code="already_entitled")
    price = _current_price(plugin)
    gateway = get_gateway()
    metadata = {"plugin_id": plugin.pk, "user_id": str(user.pk), "org_id": str(org.pk) if org else ""}
    if price.model == "one_time":
        with transaction.atomic():
            Purchase.objects.filter(
                plugin_id=plugin.pk, user=user, org=org, status=Purchase.Status.PENDING
            ).update(status=Purchase.Status.FAILED, updated_at=timezone.now())
            purchase = Purchase(plugin_id=plugin.pk, user=user, org=org, price=price, amount=price.amount,
                                currency=price.currency)
            purchase.full_clean()
            try:
                with transaction.atomic():
                    purchase.save(force_insert=True)
            except IntegrityError:
                raise Conflict("A purchase of this plugin is already under way.", code="already_entitled")
        result = gateway.checkout_one_time(
            purchase_id=str(purchase.pk), amount=price.amount, currency=price.currency,
            description=f"Plugin: {plugin.name}", price_ref=price.price_ref, customer_email=user.email,
            success_url=success_url, cancel_url=cancel_url, metadata={**metadata, "purchase_id": str(purchase.pk),
                                                                      "type": "plugin_purchase"},
        )
        with transaction.atomic():
            purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
            purchase.external_id = result.external_id
            purchase.checkout_url = result.redirect_url
            purchase.save(update_fields=["external_id", "checkout_url", "updated_at"])
            if result.paid:
                purchase = payment_succeeded(external_id=result.external_id, purchase_id=str(purchase.pk))
        return CheckoutOutcome("purchase", str(purchase.pk), purchase.status, result.redirect_url)

    metered = price.model == "usage_based"
    with transaction.atomic():
        Subscription.objects.filter(
            plugin_id=plugin.pk, user=user, org=org, status=Subscription.Status.INCOMPLETE
        ).update(status=Subscription.Status.CANCELED, canceled_at=timezone.now(), updated_at=timezone.now())
        subscription = Subscription(plugin_id=plugin.pk, user=user, org=org, price=price, metered=metered)
        subscription.full_clean()
        try:
            with transaction.atomic():
                subscription.save(force_insert=True)
        except IntegrityError:
            raise Conflict("A subscription to this plugin is already under way.", code="already_entitled")
    if metered:
        # Usage is counted from plugin_usage and invoiced per period; nothing is charged up front.
        today = timezone.now()
        with transaction.atomic():
            subscription.status = Subscription.Status.ACTIVE
            subscription.current_period_start = today
            subscription.save(update_fields=["status", "current_period_start", "updated_at"])
        return CheckoutOutcome("subscription", str(subscription.pk), subscription.status, "")
    result = gateway.checkout_subscription(
        subscription_id=str(subscription.pk), price_ref=price.price_ref, amount=price.amount,
        currency=price.currency, interval=price.interval, customer_email=user.email, success_url=success_url,
        cancel_url=cancel_url, metadata={**metadata, "subscription_id": str(subscription.pk),
                                         "type": "plugin_subscription"},
    )
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        subscription.checkout_url = result.redirect_url
        fields = ["checkout_url", "updated_at"]
        if result.paid:
            subscription.external_id = result.external_id
            fields.append("external_id")
        subscription.save(update_fields=fields)
        if result.paid:
            subscription = subscription_invoice_paid(
                subscription_external_id=result.external_id, subscription_id=str(subscription.pk),
                invoice_id=f"{result.external_id}-first", amount=price.amount, currency=price.currency,
                period_start=result.period_start, period_end=result.period_end,
            )
    return CheckoutOutcome("subscription", str(subscription.pk), subscription.status, result.redirect_url)


def payment_succeeded(*, external_id: str, purchase_id: str | None = None) -> Purchase:
    """A one-time payment went through: the purchase is paid and its ledger row written (once)."""
    with transaction.atomic():
        query = Purchase.objects.select_for_update(of=("self",)).select_related("plugin")
        purchase = query.filter(external_id=external_id).first()
        if purchase is None and purchase_id:
            purchase = query.filter(pk=purchase_id).first()
        if purchase is None:
            raise NotFound(f"No purchase for payment {external_id}.")
        if purchase.external_id != external_id:
            purchase.external_id = external_id
        if purchase.status in (Purchase.Status.PENDING, Purchase.Status.FAILED):
            purchase.status = Purchase.Status.PAID
            purchase.paid_at = timezone.now()
        purchase.full_clean()
        purchase.save(update_fields=["external_id", "status", "paid_at", "updated_at"])
        ledger_record(plugin=purchase.plugin, transaction_type=RevenueEntry.TransactionType.PURCHASE,
                      amount=purchase.amount, currency=purchase.currency, external_id=external_id)
        return purchase


def subscription_invoice_paid(
    *,
    subscription_external_id: str,
    invoice_id: str,
    amount: Decimal,
    currency: str,
    period_start: datetime | None,
    period_end: datetime | None,
    subscription_id: str | None = None,
) -> Subscription:
    """A subscription's invoice was paid (first payment or renewal): active, new period, one ledger row."""
    with transaction.atomic():
        query = Subscription.objects.select_for_update(of=("self",)).select_related("plugin", "price")
        subscription = query.filter(external_id=subscription_external_id).first()
        if subscription is None and subscription_id:
            subscription = query.filter(pk=subscription_id).first()
        if subscription is None:
            raise NotFound(f"No subscription {subscription_external_id}.")
        subscription.external_id = subscription_external_id
        if subscription.status != Subscription.Status.CANCELED:
            subscription.status = Subscription.Status.ACTIVE
        subscription.current_period_start = period_start or subscription.current_period_start
        subscription.current_period_end = period_end or subscription.current_period_end
        fields = ["external_id", "status", "current_period_start", "current_period_end", "updated_at"]
        # A pending price applies to the periods that start on or after its date (the date the subscriber was
        # told). Stripe bills a period at its start, so it is told one invoice ahead: when the period just paid
        # ends on or after that date, the next invoice is at the new price.
        starts = period_start or timezone.now()
        if subscription.pending_price_id and (
            subscription.pending_price_effective_at <= starts
            or (period_end is not None and subscription.pending_price_effective_at <= period_end)
        ):
            get_gateway().subscription_change_price(external_id=subscription_external_id,
                                                    price_ref=subscription.pending_price.price_ref)
        if subscription.pending_price_id and subscription.pending_price_effective_at <= starts:
            subscription.price_id = subscription.pending_price_id
            subscription.pending_price, subscription.pending_price_effective_at = None, None
            subscription.pending_price_notified_at = None
            fields += ["price", "pending_price", "pending_price_effective_at", "pending_price_notified_at"]
        subscription.full_clean()
        subscription.save(update_fields=fields)
        ledger_record(
            plugin=subscription.plugin, transaction_type=RevenueEntry.TransactionType.SUBSCRIPTION, amount=amount,
            currency=currency, external_id=invoice_id,
            period_start=period_start.date() if period_start else None,
            period_end=period_end.date() if period_end else None,
        )
        return subscription


def subscription_cancel(*, subscription: Subscription, user) -> Subscription:
    """Cancel at the end of the paid period: the entitlement lasts until then."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.user_id != user.pk:
            raise NotFound("There is no such subscription.")
        if subscription.status == Subscription.Status.CANCELED or subscription.cancel_at_period_end:
            return subscription
        if subscription.external_id and not subscription.metered:
            get_gateway().subscription_cancel(external_id=subscription.external_id, at_period_end=True)
        if subscription.metered or subscription.current_period_end is None:
            subscription.status = Subscription.Status.CANCELED
            subscription.canceled_at = timezone.now()
        subscription.cancel_at_period_end = True
        subscription.save(update_fields=["status", "canceled_at", "cancel_at_period_end", "updated_at"])
        return subscription


def subscription_ended(*, external_id: str) -> Subscription | None:
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().filter(external_id=external_id).first()
        if subscription is None:
            return None
        subscription.status = Subscription.Status.CANCELED
        subscription.canceled_at = subscription.canceled_at or timezone.now()
        subscription.save(update_fields=["status", "canceled_at", "updated_at"])
        return subscription


def subscriptions_expire(*, now: datetime | None = None) -> int:
    """Local gateway: subscriptions cancelled at period end stop when the period is over."""
    now = now or timezone.now()
    return Subscription.objects.filter(
        cancel_at_period_end=True, current_period_end__lte=now
    ).exclude(status=Subscription.Status.CANCELED).update(
        status=Subscription.Status.CANCELED, canceled_at=now, updated_at=now
    )


def subscriptions_renew_local(*, now: datetime | None = None) -> int:
    """The local gateway has no billing engine: when a period ends, record the renewal payment (nothing moves) and
    start the next period at the subscription's price (or the new one, once its notice is over). Stripe renews by
    itself and tells us with invoice.paid."""
    now = now or timezone.now()
    gateway = get_gateway()
    if gateway.moves_money:
        return 0
    subscriptions_expire(now=now)
    renewed = 0
    due = Subscription.objects.filter(
        status=Subscription.Status.ACTIVE, metered=False, cancel_at_period_end=False, current_period_end__lte=now,
        price__gateway=gateway.name,
    ).select_related("price", "pending_price")
    for subscription in due:
        start = subscription.current_period_end
        price = subscription.price
        if subscription.pending_price_id and subscription.pending_price_effective_at <= start:
            price = subscription.pending_price
        end = billing_period_end(start=start, interval=price.interval, gateway=gateway.name)
        subscription_invoice_paid(
            subscription_external_id=subscription.external_id, invoice_id=f"{subscription.external_id}-{start:%Y%m%d}",
            amount=price.amount, currency=price.currency, period_start=start, period_end=end,
        )
        renewed += 1
    return renewed


# --- refunds and disputes ------------------------------------------------------------------------------------------

def reversal_record(*, payment_external_id: str, reversal_external_id: str, amount: Decimal, currency: str,
                    kind: str = RevenueEntry.TransactionType.REFUND) -> RevenueEntry:
    """A refund or dispute of a payment, as a negative row reversing the developer's share (once per event)."""
    with transaction.atomic():
        payment = RevenueEntry.objects.filter(external_id=payment_external_id).first()
        if payment is None:
            raise NotFound(f"No payment {payment_external_id} in the ledger.")
        entry = ledger_record(plugin=None, transaction_type=kind, amount=-abs(amount), currency=currency,
                              external_id=reversal_external_id, reverses=payment)
        left = payment.amount + payment.reversals.aggregate(total=Coalesce(Sum("amount"), Decimal("0")))["total"]
        if left == 0:
            Purchase.objects.filter(external_id=payment_external_id).update(
                status=Purchase.Status.REFUNDED, updated_at=timezone.now()
            )
        return entry


def refund_create(*, entry: RevenueEntry, amount: Decimal | None = None, actor=None) -> RevenueEntry:
    """Staff refund of a payment through the gateway, recorded as a negative ledger row."""
    if entry.transaction_type in (RevenueEntry.TransactionType.REFUND, RevenueEntry.TransactionType.DISPUTE):
        raise Conflict("A refund row cannot itself be refunded.", code="not_a_payment")
    amount = money.quantize(amount if amount is not None else entry.amount, entry.currency)
    left = entry.amount + entry.reversals.aggregate(total=Coalesce(Sum("amount"), Decimal("0")))["total"]
    if amount <= 0 or amount > left:
        raise Conflict(f"A refund is between 0 and {left} {entry.currency}.", code="over_reversal")
    number = entry.reversals.count() + 1
    key = f"refund-{entry.pk}-{number}"
    refund_id = get_gateway().refund(payment_id=entry.external_id, amount=amount, currency=entry.currency,
                                     idempotency_key=key)
    return reversal_record(payment_external_id=entry.external_id, reversal_external_id=refund_id, amount=amount,
                           currency=entry.currency)


# --- usage-based billing -------------------------------------------------------------------------------------------

def price_tiers(*, quantity: int, tiers: list[dict], currency: str) -> Decimal:
    """Graduated tiers: the first `up_to` units at the first unit price, the next ones at the next, and so on."""
    total, previous = Decimal("0"), 0
    for tier in tiers:
        up_to = tier.get("up_to")
        units = (quantity if up_to is None else min(quantity, up_to)) - previous
        if units <= 0:
            break
        total += Decimal(units) * Decimal(str(tier["unit_price"]))
        if up_to is None:
            break
        previous = up_to
    return money.quantize(total, currency)


def usage_invoices_create(*, period: date) -> list[UsageInvoice]:
    """Invoice every metered subscription for the month `period`: count, price by tiers, charge once, ledger row."""
    from runtime import api as runtime_api

    start, end = month_bounds(period)
    start_dt = timezone.make_aware(datetime.combine(start, datetime.min.time()))
    end_dt = timezone.make_aware(datetime.combine(end + timedelta(days=1), datetime.min.time()))
    invoices = []
    subscriptions = Subscription.objects.filter(metered=True, current_period_start__lt=end_dt).filter(
        Q(canceled_at__isnull=True) | Q(canceled_at__gte=start_dt)
    ).select_related("plugin", "price", "user")
    counts_by_plugin: dict[str, dict] = {}
    for subscription in subscriptions:
        if subscription.plugin_id not in counts_by_plugin:
            counts_by_plugin[subscription.plugin_id] = runtime_api.usage_counts(
                plugin_id=subscription.plugin_id, start=start_dt, end=end_dt
            )
        counts = counts_by_plugin[subscription.plugin_id]
        owner = ("org", subscription.org_id) if subscription.org_id else ("user", subscription.user_id)
        quantity = counts.get(owner, 0)
        invoices.append(usage_invoice_charge(subscription=subscription, start=start, end=end, quantity=quantity))
    return invoices


def usage_invoice_charge(*, subscription: Subscription, start: date, end: date, quantity: int) -> UsageInvoice:
    currency = subscription.price.currency
    amount = price_tiers(quantity=quantity, tiers=subscription.price.tiers, currency=currency)
    with transaction.atomic():
        invoice, _ = UsageInvoice.objects.get_or_create(
            subscription=subscription, period_start=start,
            defaults={"period_end": end, "quantity": quantity, "amount": amount, "currency": currency},
        )
        invoice = UsageInvoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status in (UsageInvoice.Status.PAID, UsageInvoice.Status.VOID):
            return invoice
        if invoice.amount <= 0:
            invoice.status = UsageInvoice.Status.VOID
            invoice.save(update_fields=["status", "updated_at"])
            return invoice
    try:
        result = get_gateway().charge_usage(
            invoice_id=str(invoice.pk), amount=invoice.amount, currency=currency,
            customer_email=subscription.user.email,
            description=f"{subscription.plugin.name}: {invoice.quantity} uses, {start:%Y-%m}",
            metadata={"plugin_id": subscription.plugin_id, "usage_invoice_id": str(invoice.pk)},
        )
    except GatewayError as exc:
        UsageInvoice.objects.filter(pk=invoice.pk).update(status=UsageInvoice.Status.FAILED, last_error=str(exc))
        invoice.refresh_from_db()
        return invoice
    with transaction.atomic():
        invoice = UsageInvoice.objects.select_for_update().get(pk=invoice.pk)
        invoice.external_id = result.external_id
        if result.paid:
            invoice.status = UsageInvoice.Status.PAID
            ledger_record(plugin=subscription.plugin, transaction_type=RevenueEntry.TransactionType.USAGE,
                          amount=invoice.amount, currency=currency, external_id=result.external_id,
                          period_start=start, period_end=end)
        invoice.save(update_fields=["external_id", "status", "updated_at"])
        return invoice


# --- payout accounts -----------------------------------------------------------------------------------------------

def payout_account_set(*, developer, account_id: str) -> PayoutAccount:
    """Local gateway: the developer types the account to be paid into (nothing is moved to it)."""
    account_id = (account_id or "").strip()
    if not account_id or len(account_id) > 255:
        raise ServiceError("Enter the payout account (1 to 255 characters).", code="invalid",
                           fields={"account_id": ["This field is required."]})
    gateway = get_gateway()
    if gateway.moves_money:
        raise Conflict("Payout accounts are connected through the gateway's onboarding.", code="use_onboarding")
    with transaction.atomic():
        account, _ = PayoutAccount.objects.select_for_update().get_or_create(
            developer=developer, defaults={"gateway": gateway.name, "account_id": account_id}
        )
        account.gateway, account.account_id, account.payouts_enabled = gateway.name, account_id, True
        account.full_clean()
        account.save(update_fields=["gateway", "account_id", "payouts_enabled", "updated_at"])
        return account


def payout_account_onboarding(*, developer, refresh_url: str, return_url: str) -> str:
    """Stripe Connect: create the Express account once, then hand out a fresh onboarding link."""
    gateway = get_gateway()
    account = PayoutAccount.objects.filter(developer=developer, gateway=gateway.name).first()
    link = gateway.onboarding_link(account_id=account.account_id if account else "",
                                   email=developer.support_email or developer.user.email,
                                   refresh_url=refresh_url, return_url=return_url)
    with transaction.atomic():
        account, _ = PayoutAccount.objects.select_for_update().get_or_create(
            developer=developer, defaults={"gateway": gateway.name, "account_id": link.account_id}
        )
        account.gateway, account.account_id = gateway.name, link.account_id
        account.save(update_fields=["gateway", "account_id", "updated_at"])
    return link.url


def payout_account_updated(*, account_id: str, payouts_enabled: bool) -> int:
    """From Stripe's account.updated webhook: the account can (or can no longer) receive transfers."""
    return PayoutAccount.objects.filter(account_id=account_id).update(
        payouts_enabled=payouts_enabled, updated_at=timezone.now()
    )


# --- payouts -------------------------------------------------------------------------------------------------------

def _period_cutoff(period_start: date) -> datetime:
    _, last = month_bounds(period_start)
    return timezone.make_aware(datetime.combine(last + timedelta(days=1), datetime.min.time()))


def payouts_create(*, period: date) -> int:
    """Make one pending payout per developer and currency for the month `period`, claiming the unpaid rows.

    A fixed number of statements whatever the number of rows or developers: one aggregate, one bulk insert, one
    UPDATE that links the rows and reports what it linked. Rows of developers below the minimum or without a payout
    account stay unclaimed and carry over. Re-running it for the same period adds nothing (the unique constraint on
    developer, currency and period), and concurrent runs are serialised by a lock.
    """
    period_start, period_end = month_bounds(period)
    cutoff = _period_cutoff(period_start)
    gateway = get_gateway()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('revenue.payouts_create'))")
        eligible = RevenueEntry.objects.filter(
            payment_status=RevenueEntry.PaymentStatus.SUCCEEDED, payout__isnull=True, created_at__lt=cutoff,
        )
        accounts = PayoutAccount.objects.filter(developer_id=OuterRef("developer_id"), payouts_enabled=True)
        groups = (
            eligible.filter(Exists(accounts)).values("developer_id", "currency")
            .annotate(total=Sum("developer_share")).filter(total__gte=settings.PAYOUT_MINIMUM)
            .order_by()
        )
        new = [Payout(developer_id=g["developer_id"], currency=g["currency"], period_start=period_start,
                      period_end=period_end, amount=money.column_sum(g["total"]), gateway=gateway.name)
               for g in groups]
        Payout.objects.bulk_create(new, ignore_conflicts=True, batch_size=2000)
        # Lock the payouts that may still take rows: a sender that starts meanwhile skips them (skip_locked), and
        # one that already started has moved them out of pending/attempts=0, so no row joins a sent transfer.
        # Only the payouts (of=self): the default ordering joins the developers, and locking their rows would
        # block, or deadlock with, every ledger write's foreign-key check on them until the run commits.
        fresh = dict(
            Payout.objects.select_for_update(of=("self",)).filter(
                period_start=period_start, status=Payout.Status.PENDING, attempts=0
            ).values_list("id", "amount")
        )
        # What each payout holds before the claim: nothing for the ones just inserted (their amount is the
        # aggregate's), its own linked rows for one left pending by an earlier run.
        inserted = {p.pk for p in new}
        holds = {pk: Decimal("0") if pk in inserted else amount for pk, amount in fresh.items()}
        claimed = _ledger_claim(period_start=period_start, cutoff=cutoff)
        # The payout is what its rows add up to: a refund or a late row committed since the aggregate counts.
        changed = []
        for pk, amount in fresh.items():
            total = holds[pk] + claimed.get(pk, Decimal("0"))
            if total != amount:
                changed.append(Payout(pk=pk, amount=total, updated_at=timezone.now()))
        Payout.objects.bulk_update(changed, ["amount", "updated_at"], batch_size=1000)
        # Below the minimum now (a refund since the aggregate): release its rows, they carry over.
        small = [p for p in changed if p.amount < settings.PAYOUT_MINIMUM]
        if small:
            owners = Payout.objects.filter(pk__in=[p.pk for p in small]).values_list("pk", "developer_id")
            for pk, developer_id in owners:
                # The developer index finds the rows (payout_id is deliberately unindexed, see RevenueEntry).
                RevenueEntry.objects.filter(developer_id=developer_id, payout_id=pk).update(payout=None)
            Payout.objects.filter(pk__in=[p.pk for p in small]).delete()
        return len(fresh) - len(small)


def _ledger_claim(*, period_start: date, cutoff: datetime) -> dict:
    """Link every unpaid row of the period to its pending payout in one join UPDATE, and return the developer
    share it linked per payout (so the payouts' amounts are exactly their rows, whatever committed meanwhile).

    The payouts it joins are exactly the ones `payouts_create` locked (this period's, pending, never sent). Only
    payout_id changes, and no index of plugin_revenue covers it, so with the table's fillfactor each row is
    rewritten in place (a HOT update: no index entry written), which is what makes a million-row claim cheap.
    """
    claim = (
        "UPDATE plugin_revenue SET payout_id = p.id FROM revenue_payout p "
        "WHERE p.period_start = %s AND p.status = %s AND p.attempts = 0 "
        "AND p.developer_id = plugin_revenue.developer_id AND p.currency = plugin_revenue.currency "
        "AND plugin_revenue.payout_id IS NULL AND plugin_revenue.payment_status = %s "
        "AND plugin_revenue.created_at < %s RETURNING payout_id, developer_share"
    )
    if connection.vendor == "postgresql":
        # Summed in the database: 10,000 sums come back, not a million rows.
        # Only placeholders are interpolated: `claim` is the constant statement above.
        claim = f"WITH claimed AS ({claim}) SELECT payout_id, SUM(developer_share) FROM claimed GROUP BY payout_id"  # noqa: S608
    totals: dict = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The payouts were just inserted: without fresh statistics the planner takes them for a handful and
            # probes each developer's history through its index (random reads of every page, ~9x slower) instead
            # of one sequential scan hashed against them.
            cursor.execute("ANALYZE revenue_payout")
        cursor.execute(claim, [period_start, Payout.Status.PENDING, RevenueEntry.PaymentStatus.SUCCEEDED, cutoff])
        for payout_id, share in cursor.fetchall():
            key = payout_id if isinstance(payout_id, uuid.UUID) else uuid.UUID(str(payout_id))
            totals[key] = totals.get(key, Decimal("0")) + money.column_sum(share)
    return totals


def _due(now: datetime) -> Q:
    return Q(status__in=[Payout.Status.PENDING, Payout.Status.PROCESSING]) | Q(
        status=Payout.Status.FAILED, next_attempt_at__lte=now
    )


def payouts_send(*, payout_ids, now: datetime | None = None) -> dict:
    """Send the transfers of these payouts (those that are due). Safe to call any number of times, concurrently,
    or after a crash; a batch costs a fixed number of statements plus the gateway calls and one notice each.

    1. One transaction locks the due payouts (skipping any another sender holds), moves them to processing,
       records an attempt each, and commits: from here on a crash leaves them in processing.
    2. The gateway is called per payout with the idempotency key derived from the payout; a payout that was sent
       before (processing after a crash, or failed) is first looked up at the gateway by that key / its transfer
       group, so a transfer that went out before a crash is found, not repeated.
    3. One transaction records the outcomes: paid, or failed with a backoff for errors that may pass (5, 10, 20,
       40 minutes; PAYOUT_MAX_ATTEMPTS in all) and none for refusals. A ledger row is paid out when the payout it
       is linked to is paid: that is read through the link (one source of truth), not copied onto each row, which
       would write every row a second time.
    """
    now = now or timezone.now()
    counts = {"paid": 0, "failed": 0, "skipped": 0}
    ids = list(payout_ids)
    with transaction.atomic():
        payouts = list(
            Payout.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("developer__payout_account").filter(pk__in=ids).filter(_due(now))
            .exclude(status=Payout.Status.FAILED, attempts__gte=PAYOUT_MAX_ATTEMPTS)
        )
        counts["skipped"] = len(ids) - len(payouts)
        sent_before = {}
        for payout in payouts:
            account = getattr(payout.developer, "payout_account", None)
            sent_before[payout.pk] = payout.attempts > 0 or payout.status != Payout.Status.PENDING
            payout.destination = account.account_id if account else ""
            payout.status = Payout.Status.PROCESSING
            payout.attempts += 1
        accounts = PayoutAccount.objects.filter(developer_id=OuterRef("developer_id")).values("account_id")[:1]
        Payout.objects.filter(pk__in=[p.pk for p in payouts]).update(
            status=Payout.Status.PROCESSING, attempts=F("attempts") + 1, updated_at=now,
            destination=Coalesce(Subquery(accounts), Value("")),
        )
        attempts = {a.payout_id: a for a in PayoutAttempt.objects.bulk_create(
            [PayoutAttempt(payout=p, number=p.attempts) for p in payouts], batch_size=1000)}

    gateway = get_gateway()
    outcomes: dict = {}
    requests = []
    for payout in payouts:
        transfer = None
        if sent_before[payout.pk]:
            try:
                transfer = gateway.transfer_find(idempotency_key=payout.idempotency_key, payout_id=str(payout.pk))
            except GatewayError as exc:
                outcomes[payout.pk] = ("", PayoutAttempt.Outcome.FAILED, exc)
                continue
        if transfer is not None:
            outcomes[payout.pk] = (transfer.transfer_id, PayoutAttempt.Outcome.FOUND, None)
            continue
        requests.append(TransferRequest(
            amount=payout.amount, currency=payout.currency, destination=payout.destination,
            idempotency_key=payout.idempotency_key, payout_id=str(payout.pk),
            description=f"Plugin revenue {payout.period_start:%Y-%m}",
            metadata={"payout_id": str(payout.pk), "developer_id": str(payout.developer_id),
                      "period": f"{payout.period_start:%Y-%m}"},
        ))
    if requests:
        for payout_id, result in gateway.transfer_create_many(requests=requests).items():
            if isinstance(result, GatewayError):
                outcomes[uuid.UUID(payout_id)] = ("", PayoutAttempt.Outcome.FAILED, result)
            else:
                outcomes[uuid.UUID(payout_id)] = (result.transfer_id, PayoutAttempt.Outcome.SUCCEEDED, None)

    with transaction.atomic():
        by_id = {
            p.pk: p for p in Payout.objects.select_for_update(of=("self",))
            .filter(pk__in=list(outcomes)).exclude(status__in=[Payout.Status.PAID, Payout.Status.REVERSED])
            .only("id", "status", "attempts")
        }
        paid, failed, by_outcome, transfer_ids = [], 0, {}, {}
        for payout_id, (transfer_id, outcome, error) in outcomes.items():
            payout, attempt = by_id.get(payout_id), attempts[payout_id]
            message = str(error)[:2000] if error is not None else ""
            if error is not None:
                PayoutAttempt.objects.filter(pk=attempt.pk).update(outcome=outcome, error=message, updated_at=now)
            else:
                by_outcome.setdefault(outcome, []).append(attempt.pk)
            if payout is None:
                continue  # another sender finished it meanwhile
            if error is None:
                paid.append(payout_id)
                transfer_ids[payout_id] = transfer_id
            elif payout.status == Payout.Status.PROCESSING and payout.attempts == attempt.number:
                retry = error.retryable and payout.attempts < PAYOUT_MAX_ATTEMPTS
                Payout.objects.filter(pk=payout_id).update(
                    status=Payout.Status.FAILED, last_error=message, updated_at=now,
                    next_attempt_at=now + timedelta(minutes=5 * 2 ** (payout.attempts - 1)) if retry else None,
                )
                failed += 1
        _payouts_mark_paid(transfer_ids=transfer_ids, now=now)
        transfers = Payout.objects.filter(pk=OuterRef("payout_id")).values("transfer_id")[:1]
        for outcome, attempt_ids in by_outcome.items():
            PayoutAttempt.objects.filter(pk__in=attempt_ids).update(
                outcome=outcome, transfer_id=Subquery(transfers), updated_at=now)
        if paid:
            # The developers hear about it from a task after the commit, not inside the run.
            from revenue import tasks

            ids = [str(i) for i in paid]
            transaction.on_commit(lambda: tasks.notify_payouts_paid.delay(ids))
        counts["paid"], counts["failed"] = len(paid), failed
    return counts


def payouts_notify_paid(*, payout_ids) -> int:
    """Tell each developer about their paid payout (portal notice and e-mail, through developers.api)."""
    sent = 0
    for payout in Payout.objects.filter(pk__in=payout_ids, status=Payout.Status.PAID).select_related("developer"):
        _notify(payout, f"Payout of {payout.amount} {payout.currency} sent",
                f"Your revenue for {payout.period_start:%B %Y} was transferred ({payout.transfer_id}).")
        sent += 1
    return sent


def _payouts_mark_paid(*, transfer_ids: dict, now: datetime, chunk: int = 500) -> None:
    """Paid, with each payout's own transfer id: one UPDATE per `chunk` payouts (a derived table of (id, transfer)
    pairs joined to the payouts; portable to SQLite 3.33+)."""
    items = list(transfer_ids.items())
    field = Payout._meta.pk
    for i in range(0, len(items), chunk):
        part = items[i:i + chunk]
        rows = " UNION ALL ".join(["SELECT %s AS pid, %s AS tid"] * len(part))
        params = [Payout.Status.PAID, now, now]
        for payout_id, transfer_id in part:
            params += [field.get_db_prep_value(payout_id, connection), transfer_id]
        with connection.cursor() as cursor:
            # Only placeholders are interpolated: `rows` is "SELECT %s AS pid, %s AS tid" repeated.
            sql = (
                "UPDATE revenue_payout SET status = %s, transfer_id = v.tid, paid_at = %s, updated_at = %s, "  # noqa: S608
                f"last_error = '', next_attempt_at = NULL FROM ({rows}) AS v WHERE revenue_payout.id = v.pid"
            )
            cursor.execute(sql, params)


def payout_send(*, payout_id, now: datetime | None = None) -> Payout:
    """Send one payout (the Celery task and the admin action): `payouts_send` for a batch of one."""
    counts = payouts_send(payout_ids=[payout_id], now=now)
    payout = Payout.objects.filter(pk=payout_id).first()
    if payout is None:
        raise NotFound("There is no such payout.")
    if counts["skipped"] and payout.status == Payout.Status.PROCESSING:
        raise Conflict("This payout is being sent by another worker.", code="locked")
    return payout


def payout_reverse(*, payout: Payout, reason: str) -> Payout:
    """A paid transfer was reversed at the gateway, or staff abandon a failed payout: its rows become unpaid again
    and carry over to the next payout."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout.pk)
        if payout.status == Payout.Status.REVERSED:
            return payout
        if payout.status not in (Payout.Status.PAID, Payout.Status.FAILED):
            raise Conflict(f"A {payout.get_status_display().lower()} payout cannot be reversed.",
                           code="invalid_status")
        RevenueEntry.objects.filter(developer_id=payout.developer_id, payout=payout).update(payout=None)
        payout.status, payout.reversed_at = Payout.Status.REVERSED, timezone.now()
        payout.last_error = reason[:2000]
        payout.save(update_fields=["status", "reversed_at", "last_error", "updated_at"])
        return payout


def payout_transfer_reversed(*, transfer_id: str, reason: str = "Transfer reversed at the gateway") -> Payout | None:
    payout = Payout.objects.filter(transfer_id=transfer_id).first()
    return payout_reverse(payout=payout, reason=reason) if payout else None


def payouts_due(*, now: datetime | None = None) -> list:
    """Ids of payouts that should be (re)sent now."""
    now = now or timezone.now()
    return list(
        Payout.objects.filter(_due(now)).exclude(status=Payout.Status.FAILED, attempts__gte=PAYOUT_MAX_ATTEMPTS)
        .order_by("created_at").values_list("id", flat=True)
    )


def payouts_run(*, period: date | None = None, now: datetime | None = None, batch_size: int = 500) -> dict:
    """Create the period's payouts, then send every payout that is due (this period's and retries of earlier ones),
    in batches. `manage.py run_payouts` runs this; the beat task creates the same payouts and sends them one task
    per payout."""
    now = now or timezone.now()
    period = period or previous_month(timezone.localdate(now))
    return {"created": payouts_create(period=period), **payouts_send_due(now=now, batch_size=batch_size)}


def payouts_send_due(*, now: datetime | None = None, batch_size: int = 500) -> dict:
    """Send every payout that is due now, `batch_size` at a time: {paid, failed, skipped}."""
    now = now or timezone.now()
    counts = {"paid": 0, "failed": 0, "skipped": 0}
    due = payouts_due(now=now)
    for i in range(0, len(due), batch_size):
        for key, value in payouts_send(payout_ids=due[i:i + batch_size], now=now).items():
            counts[key] += value
    return counts


def _notify(payout: Payout, subject: str, body: str) -> None:
    """The developer hears about a payout in the portal and by e-mail."""
    from developers import api as developers_api  # at call time, like the other apps' front doors here

    developers_api.developer_notify(developer=payout.developer, subject=subject, body=body, link="/developer/revenue/")


# --- schedules -----------------------------------------------------------------------------------------------------

PAYOUT_TASK_NAME = "revenue.run_payouts"
USAGE_TASK_NAME = "revenue.invoice_usage"


def schedules_setup() -> list:
    """The beat schedule (django-celery-beat rows): payouts on the 1st of each month at 06:00 UTC, usage invoices at
    01:00 UTC, retries of failed payouts hourly. Idempotent; called by a data migration and by `setup_schedules`."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    wanted = [
        ("Revenue: monthly payouts", PAYOUT_TASK_NAME, {"minute": "0", "hour": "6", "day_of_month": "1"}),
        ("Revenue: monthly usage invoices", USAGE_TASK_NAME, {"minute": "0", "hour": "1", "day_of_month": "1"}),
        ("Revenue: payout retries", "revenue.retry_payouts", {"minute": "15", "hour": "*", "day_of_month": "*"}),
        ("Revenue: subscription periods", "revenue.roll_subscriptions",
         {"minute": "30", "hour": "*", "day_of_month": "*"}),
    ]
    tasks = []
    with transaction.atomic():
        for name, task, cron in wanted:
            schedule, _ = CrontabSchedule.objects.get_or_create(
                minute=cron["minute"], hour=cron["hour"], day_of_month=cron["day_of_month"], month_of_year="*",
                day_of_week="*", timezone="UTC",
            )
            periodic, _ = PeriodicTask.objects.update_or_create(
                name=name, defaults={"task": task, "crontab": schedule, "interval": None, "enabled": True},
            )
            tasks.append(periodic)
    return tasks


def usage_invoice_paid(*, usage_invoice_id: str, external_id: str) -> UsageInvoice:
    """Stripe's invoice.paid for a usage invoice: paid, and its ledger row written once."""
    with transaction.atomic():
        invoice = UsageInvoice.objects.select_for_update(of=("self",)).select_related("subscription__plugin").filter(
            pk=usage_invoice_id).first()
        if invoice is None:
            raise NotFound(f"No usage invoice {usage_invoice_id}.")
        invoice.external_id, invoice.status = external_id, UsageInvoice.Status.PAID
        invoice.save(update_fields=["external_id", "status", "updated_at"])
        ledger_record(plugin=invoice.subscription.plugin, transaction_type=RevenueEntry.TransactionType.USAGE,
                      amount=invoice.amount, currency=invoice.currency, external_id=external_id,
                      period_start=invoice.period_start, period_end=invoice.period_end)
        return invoice


def subscription_checkout_completed(*, subscription_id: str, external_id: str) -> Subscription | None:
    """Stripe Checkout made the subscription: remember Stripe's id (the first invoice.paid activates it)."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().filter(pk=subscription_id).first()
        if subscription is None:
            return None
        if not subscription.external_id:
            subscription.external_id = external_id
            subscription.save(update_fields=["external_id", "updated_at"])
        return subscription
