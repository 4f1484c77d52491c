"""Property tests: for any sequence of payments, refunds and payout runs, the ledger adds up, no share is paid
twice, no payment is reversed below zero and no payout is negative or under the minimum."""

from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from aisquare_plugins.exceptions import Conflict
from revenue import money, services
from revenue.models import LocalGatewayRecord, Payout, PayoutAccount, RevenueEntry
from tests.factories import DeveloperFactory
from tests.revenue.conftest import paid_plugin

CURRENCIES = ["USD", "JPY", "EUR"]

payment = st.tuples(st.just("pay"), st.integers(0, 1), st.sampled_from(CURRENCIES), st.integers(1, 20_000))
refund = st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100))
payout = st.tuples(st.just("payout"))
operations = st.lists(st.one_of(payment, payment, refund, payout), min_size=1, max_size=25)


class LedgerProperties(TestCase):
    @hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=operations, rate=st.sampled_from([Decimal("0.30"), Decimal("0.15"), Decimal("0.333")]))
    def test_any_sequence_keeps_the_books(self, ops, rate):
        developers = [DeveloperFactory(), DeveloperFactory()]
        for d in developers:
            PayoutAccount.objects.create(developer=d, gateway="local", account_id=f"acct-{d.pk}",
                                         payouts_enabled=True)
        services.fee_override_set(developer=developers[1], rate=rate)
        plugins = {}
        payments: list[RevenueEntry] = []
        month = date(2026, 1, 1)
        for n, op in enumerate(ops):
            if op[0] == "pay":
                _, who, currency, minor = op
                key = (who, currency)
                if key not in plugins:
                    plugins[key] = paid_plugin(developer=developers[who], currency=currency)
                amount = money.from_minor(minor, currency)
                entry = services.ledger_record(plugin=plugins[key], transaction_type="purchase", amount=amount,
                                               currency=currency, external_id=f"pi_{n}")
                RevenueEntry.objects.filter(pk=entry.pk).update(
                    created_at=datetime(month.year, month.month, 10, tzinfo=UTC))
                payments.append(entry)
            elif op[0] == "refund" and payments:
                _, index, percent = op
                target = payments[index % len(payments)]
                left = target.amount + (target.reversals.aggregate(s=Sum("amount"))["s"] or 0)
                amount = money.quantize(left * percent / 100, target.currency)
                if amount <= 0:
                    continue
                row = services.reversal_record(payment_external_id=target.external_id,
                                               reversal_external_id=f"re_{n}", amount=amount,
                                               currency=target.currency)
                RevenueEntry.objects.filter(pk=row.pk).update(
                    created_at=datetime(month.year, month.month, 12, tzinfo=UTC))
                # More than what is left is always refused.
                with self.assertRaises(Conflict):
                    services.reversal_record(payment_external_id=target.external_id,
                                             reversal_external_id=f"re_{n}_over", amount=left - amount + 1,
                                             currency=target.currency)
            elif op[0] == "payout":
                services.payouts_run(period=month)
                services.payouts_run(period=month)  # a second run of the same month changes nothing
                month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            self.check_invariants()

    def check_invariants(self):
        rows = list(RevenueEntry.objects.all())
        for row in rows:
            # Fees and shares add up to amounts, to the minor unit.
            assert row.platform_fee + row.developer_share == row.amount
            assert money.quantize(row.amount, row.currency) == row.amount
        for entry in [r for r in rows if r.reverses_id is None]:
            reversals = [r for r in rows if r.reverses_id == entry.pk]
            # A payment is never reversed below zero, on any column.
            assert entry.amount + sum(r.amount for r in reversals) >= 0
            assert entry.developer_share + sum(r.developer_share for r in reversals) >= 0
            assert entry.platform_fee + sum(r.platform_fee for r in reversals) >= 0
        transfers = {t.idempotency_key: t for t in LocalGatewayRecord.objects.filter(kind="tr")}
        for p in Payout.objects.all():
            linked = [r for r in rows if r.payout_id == p.pk]
            assert p.amount == sum(r.developer_share for r in linked)
            assert p.amount >= settings.PAYOUT_MINIMUM
            assert all(r.developer_id == p.developer_id and r.currency == p.currency for r in linked)
            if p.status == Payout.Status.PAID:
                # Exactly one transfer per paid payout, for exactly its amount.
                assert transfers[p.idempotency_key].amount == p.amount
        paid = Payout.objects.filter(status="paid")
        assert len(transfers) == paid.count()
        # No share paid twice: what was transferred equals the shares of the rows marked paid out, per currency.
        for currency in CURRENCIES:
            sent = sum((t.amount for t in transfers.values() if t.currency == currency), Decimal("0"))
            paid_ids = set(paid.values_list("id", flat=True))
            paid_rows = sum((r.developer_share for r in rows if r.currency == currency
                             and r.payout_id in paid_ids), Decimal("0"))
            assert sent == paid_rows
            # Conservation: paid out + still owed (positive or negative carry-over) == every share ever earned.
            owed = sum((r.developer_share for r in rows if r.currency == currency
                        and r.payout_id not in paid_ids), Decimal("0"))
            total = sum((r.developer_share for r in rows if r.currency == currency), Decimal("0"))
            assert sent + owed == total
