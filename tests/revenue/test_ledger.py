"""The ledger: fee rounded half-up to the currency's minor unit, shares that add up, reversals, overrides."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from aisquare_plugins.exceptions import Conflict, ServiceError
from revenue import money, services
from revenue.models import RevenueEntry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "currency", "fee", "share"),
    [
        ("10.00", "USD", "3.00", "7.00"),
        ("9.99", "USD", "3.00", "6.99"),  # 2.997 -> 3.00
        ("0.05", "USD", "0.02", "0.03"),  # 0.015 -> 0.02 (half-up, not banker's 0.02/0.01)
        ("0.25", "EUR", "0.08", "0.17"),  # 0.075 -> 0.08
        ("1005", "JPY", "302", "703"),  # 301.5 -> 302: zero-decimal currency
        ("1001", "JPY", "300", "701"),  # 300.3 -> 300
        ("5", "KRW", "2", "3"),  # 1.5 -> 2
    ],
)
def test_split_rounds_the_fee_half_up_to_the_minor_unit(amount, currency, fee, share):
    got_fee, got_share = money.split(Decimal(amount), currency, Decimal("0.30"))
    assert (got_fee, got_share) == (Decimal(fee), Decimal(share))
    assert got_fee + got_share == money.quantize(Decimal(amount), currency)


def test_split_refuses_floats():
    with pytest.raises(TypeError):
        money.split(9.99, "USD", Decimal("0.3"))


def test_ledger_row_is_written_once_per_gateway_event(make_paid_plugin):
    plugin = make_paid_plugin()
    first = services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal("9.99"),
                                   currency="usd", external_id="pi_1")
    again = services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal("9.99"),
                                   currency="USD", external_id="pi_1")
    assert first.pk == again.pk
    assert RevenueEntry.objects.count() == 1
    assert (first.currency, first.platform_fee, first.developer_share) == ("USD", Decimal("3.00"), Decimal("6.99"))
    assert first.developer_id == plugin.developer_id


def test_the_database_refuses_a_fee_and_share_that_do_not_add_up(make_paid_plugin):
    entry = services.ledger_record(plugin=make_paid_plugin(), transaction_type="purchase", amount=Decimal("10"),
                                   currency="USD", external_id="pi_2")
    with pytest.raises(IntegrityError), transaction.atomic():
        RevenueEntry.objects.filter(pk=entry.pk).update(developer_share=Decimal("7.01"))


def test_per_developer_fee_override(make_paid_plugin):
    plugin = make_paid_plugin()
    services.fee_override_set(developer=plugin.developer, rate=Decimal("0.15"), reason="partner")
    entry = services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal("20.00"),
                                   currency="USD", external_id="pi_3")
    assert (entry.platform_fee, entry.developer_share) == (Decimal("3.00"), Decimal("17.00"))
    with pytest.raises(ServiceError):
        services.fee_override_set(developer=plugin.developer, rate=Decimal("1.5"))


def test_partial_refunds_reverse_the_share_and_net_to_zero(make_paid_plugin):
    plugin = make_paid_plugin()
    payment = services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal("9.99"),
                                     currency="USD", external_id="pi_4")
    first = services.reversal_record(payment_external_id="pi_4", reversal_external_id="re_1",
                                     amount=Decimal("3.33"), currency="USD")
    assert first.amount == Decimal("-3.33") and first.reverses_id == payment.pk
    assert first.platform_fee + first.developer_share == first.amount
    assert first.developer_share < 0
    services.reversal_record(payment_external_id="pi_4", reversal_external_id="re_2", amount=Decimal("6.66"),
                             currency="USD")
    totals = RevenueEntry.objects.filter(plugin=plugin).values_list("amount", "platform_fee", "developer_share")
    assert [sum(col) for col in zip(*totals, strict=True)] == [Decimal("0")] * 3
    # Nothing is left to refund; the same refund event delivered again changes nothing.
    with pytest.raises(Conflict):
        services.reversal_record(payment_external_id="pi_4", reversal_external_id="re_3", amount=Decimal("0.01"),
                                 currency="USD")
    services.reversal_record(payment_external_id="pi_4", reversal_external_id="re_2", amount=Decimal("6.66"),
                             currency="USD")
    assert RevenueEntry.objects.filter(plugin=plugin).count() == 3


def test_a_dispute_reverses_the_share_with_a_dispute_row(make_paid_plugin):
    plugin = make_paid_plugin(price="1000", currency="JPY")
    services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal("1000"), currency="JPY",
                           external_id="pi_5")
    row = services.reversal_record(payment_external_id="pi_5", reversal_external_id="dp_1", amount=Decimal("1000"),
                                   currency="JPY", kind=RevenueEntry.TransactionType.DISPUTE)
    assert (row.transaction_type, row.amount, row.platform_fee, row.developer_share) == (
        "dispute", Decimal("-1000"), Decimal("-300"), Decimal("-700"))
