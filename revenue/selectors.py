"""Revenue reads: entitlements, the developer's revenue report (spec `generate_revenue_report`), payouts, totals."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from aisquare_plugins.exceptions import NotFound, ServiceError
from revenue.models import Payout, PayoutAccount, Purchase, RevenueEntry, Subscription
from revenue.money import column_sum

PERIODS = ("monthly", "quarterly", "yearly")
# A ledger row is paid out when the payout it is linked to is paid.
PAID_OUT = Q(payout__status=Payout.Status.PAID) | Q(payment_status=RevenueEntry.PaymentStatus.PAID_OUT)
ZERO = Decimal("0")


def _plugin(plugin_id: str):
    from marketplace import api as marketplace_api

    return marketplace_api.plugin_get_reviewable(plugin_id=plugin_id)


def entitlement_exists(*, plugin_id: str, user, org=None) -> bool:
    """May this user (or this organization) use the plugin? Free plugins: yes. Paid: a paid purchase, or a
    subscription that is active (including one cancelled at period end, until that end)."""
    try:
        plugin = _plugin(plugin_id)
    except NotFound:
        return False
    if (plugin.pricing or {}).get("model", plugin.pricing_model) in (None, "", "free"):
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    owner = Q(org=org) if org is not None else Q(user=user, org__isnull=True)
    if Purchase.objects.filter(owner, plugin_id=plugin_id, status=Purchase.Status.PAID).exists():
        return True
    now = timezone.now()
    return Subscription.objects.filter(owner, plugin_id=plugin_id).filter(
        Q(status__in=[Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE])
        & (Q(cancel_at_period_end=False) | Q(current_period_end__gt=now))
    ).exists()


def has_purchased(*, user, plugin_id: str) -> bool:
    """Did this user ever pay for the plugin (a "verified purchase" for reviews)? Refunded purchases do not count."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if Purchase.objects.filter(user=user, plugin_id=plugin_id, status=Purchase.Status.PAID).exists():
        return True
    return Subscription.objects.filter(user=user, plugin_id=plugin_id, metered=False).exclude(
        status=Subscription.Status.INCOMPLETE
    ).exists()


def report_range(*, period: str, start: str | None, end: str | None, today: date | None = None) -> tuple[date, date]:
    """The report's dates: explicit start/end (YYYY-MM-DD), or the current month / quarter / year."""
    if period not in PERIODS:
        raise ServiceError(f"period must be one of {', '.join(PERIODS)}.", code="invalid",
                           fields={"period": [f"Choose one of {', '.join(PERIODS)}."]})
    today = today or timezone.localdate()
    try:
        start_date = date.fromisoformat(start) if start else None
        end_date = date.fromisoformat(end) if end else None
    except ValueError:
        raise ServiceError("start and end are dates written YYYY-MM-DD.", code="invalid",
                           fields={"start": ["YYYY-MM-DD"], "end": ["YYYY-MM-DD"]})
    if start_date is None:
        anchor = end_date or today
        if period == "monthly":
            start_date = anchor.replace(day=1)
        elif period == "quarterly":
            start_date = anchor.replace(month=3 * ((anchor.month - 1) // 3) + 1, day=1)
        else:
            start_date = anchor.replace(month=1, day=1)
    if end_date is None:
        if start and not end:
            months = {"monthly": 1, "quarterly": 3, "yearly": 12}[period]
            y, m = divmod(start_date.month - 1 + months, 12)
            end_date = date(start_date.year + y, m + 1, 1) - timedelta(days=1)
        else:
            end_date = today
    if end_date < start_date:
        raise ServiceError("end is before start.", code="invalid", fields={"end": ["Must not be before start."]})
    if (end_date - start_date).days > 366 * 10:
        raise ServiceError("A report covers at most ten years.", code="invalid")
    return start_date, end_date


def _window(start: date, end: date):
    tz = timezone.get_current_timezone()
    return (timezone.make_aware(datetime.combine(start, datetime.min.time()), tz),
            timezone.make_aware(datetime.combine(end + timedelta(days=1), datetime.min.time()), tz))


def revenue_report(*, developer, start: date, end: date) -> dict:
    """The spec's report: per plugin and in total, the developer's share (total_revenue), the number of money
    events and the platform fees, over [start, end]. Amounts are Decimal (all currencies are summed per plugin
    only when the developer sells in one currency; `currencies` lists them)."""
    low, high = _window(start, end)
    rows = (
        RevenueEntry.objects.filter(developer=developer, created_at__gte=low, created_at__lt=high)
        .exclude(payment_status__in=[RevenueEntry.PaymentStatus.PENDING, RevenueEntry.PaymentStatus.FAILED])
        .values("plugin_id", "currency")
        .annotate(total=Sum("developer_share"), fees=Sum("platform_fee"), gross=Sum("amount"), count=Count("id"))
        .order_by("plugin_id", "currency")
    )
    plugins: dict[str, dict] = {}
    currencies = set()
    for row in rows:
        currencies.add(row["currency"])
        entry = plugins.setdefault(row["plugin_id"], {"total_revenue": ZERO, "transaction_count": 0,
                                                      "platform_fees": ZERO, "gross": ZERO, "currency": ""})
        entry["total_revenue"] += column_sum(row["total"])
        entry["transaction_count"] += row["count"]
        entry["platform_fees"] += column_sum(row["fees"])
        entry["gross"] += column_sum(row["gross"])
        entry["currency"] = row["currency"] if not entry["currency"] else (
            entry["currency"] if entry["currency"] == row["currency"] else "mixed")
    return {
        "developer_id": str(developer.pk),
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "summary": {
            "total_revenue": sum((p["total_revenue"] for p in plugins.values()), ZERO),
            "total_transactions": sum(p["transaction_count"] for p in plugins.values()),
            "total_platform_fees": sum((p["platform_fees"] for p in plugins.values()), ZERO),
        },
        "plugins": plugins,
        "currencies": sorted(currencies),
        "generated_at": timezone.now().isoformat(),
    }


def revenue_by_month(*, developer, months: int = 12, today: date | None = None) -> list[dict]:
    """The developer's share per month over the last `months` months (zeros included), for the portal's chart."""
    today = today or timezone.localdate()
    first = today.replace(day=1)
    starts = []
    for _ in range(months):
        starts.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    starts.reverse()
    low, _ = _window(starts[0], starts[0])
    totals = {
        row["month"].date() if isinstance(row["month"], datetime) else row["month"]: row
        for row in RevenueEntry.objects.filter(developer=developer, created_at__gte=low)
        .exclude(payment_status__in=[RevenueEntry.PaymentStatus.PENDING, RevenueEntry.PaymentStatus.FAILED])
        .annotate(month=TruncMonth("created_at")).values("month")
        .annotate(share=Sum("developer_share"), count=Count("id")).order_by("month")
    }
    return [{"month": m, "share": column_sum(totals.get(m, {}).get("share")),
             "count": totals.get(m, {}).get("count", 0)} for m in starts]


def developer_balance(*, developer) -> list[dict]:
    """Unpaid shares per currency (carried over until they reach the payout minimum)."""
    rows = (
        RevenueEntry.objects.filter(developer=developer, payment_status=RevenueEntry.PaymentStatus.SUCCEEDED,
                                    payout__isnull=True)
        .values("currency").annotate(balance=Sum("developer_share")).order_by("currency")
    )
    return [{**row, "balance": column_sum(row["balance"])} for row in rows]


def developer_payouts(*, developer):
    return Payout.objects.filter(developer=developer).order_by("-period_start", "currency")


def payout_account_for(*, developer) -> PayoutAccount | None:
    return PayoutAccount.objects.filter(developer=developer).first()


def platform_totals() -> list[dict]:
    """Staff view: gross, fees, developer shares, paid out and owed, per currency."""
    rows = (
        RevenueEntry.objects.values("currency").annotate(
            gross=Coalesce(Sum("amount"), ZERO),
            fees=Coalesce(Sum("platform_fee"), ZERO),
            shares=Coalesce(Sum("developer_share"), ZERO),
            paid_out=Coalesce(Sum("developer_share", filter=PAID_OUT), ZERO),
            owed=Coalesce(Sum("developer_share", filter=Q(payment_status=RevenueEntry.PaymentStatus.SUCCEEDED)
                              & ~PAID_OUT), ZERO),
            transactions=Count("id"),
        ).order_by("currency")
    )
    money = ("gross", "fees", "shares", "paid_out", "owed")
    return [{**row, **{key: column_sum(row[key]) for key in money}} for row in rows]


def user_entitlements(*, user):
    return (
        Purchase.objects.filter(user=user).select_related("plugin").order_by("-created_at"),
        Subscription.objects.filter(user=user).select_related("plugin", "price", "pending_price")
        .order_by("-created_at"),
    )


def access_subscription_by_id(*, user, subscription_id) -> Subscription:
    """The one gate to a subscription: the subscriber's own, or NotFound (for missing and for someone else's)."""
    import uuid

    try:
        key = uuid.UUID(str(subscription_id))
    except ValueError:
        raise NotFound("There is no such subscription.")
    subscription = Subscription.objects.select_related("plugin").filter(pk=key, user=user).first() \
        if getattr(user, "is_authenticated", False) else None
    if subscription is None:
        raise NotFound("There is no such subscription.")
    return subscription
