"""The revenue app's public surface: the only module of it that other apps may import."""

from revenue.selectors import entitlement_exists, has_purchased
from revenue.services import ledger_record, pricing_setup


def plugin_revenue_days(*, plugin_id: str, start, end) -> list[tuple]:
    """The plugin's ledger per UTC day in [start, end] for the analytics (monitoring, issue 10): [(date, currency,
    amount, developer_share, entries)], refunds and disputes included (negative); pending and failed rows left out."""
    import datetime as dt
    from decimal import Decimal

    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    from revenue.models import RevenueEntry

    low = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    high = dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC) + dt.timedelta(days=1)
    rows = (
        RevenueEntry.objects.filter(plugin_id=plugin_id, created_at__gte=low, created_at__lt=high)
        .exclude(payment_status__in=[RevenueEntry.PaymentStatus.PENDING, RevenueEntry.PaymentStatus.FAILED])
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC)).values("day", "currency")
        .annotate(amount=Sum("amount"), share=Sum("developer_share"), entries=Count("id")).order_by("day", "currency")
    )
    cent = Decimal("0.01")  # the ledger's two decimal places (SQLite's SUM drops them)
    return [(r["day"], r["currency"], Decimal(r["amount"]).quantize(cent), Decimal(r["share"]).quantize(cent),
             r["entries"]) for r in rows]


__all__ = ["entitlement_exists", "has_purchased", "ledger_record", "plugin_revenue_days", "pricing_setup"]
