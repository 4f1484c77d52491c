"""Money arithmetic of the ledger: Decimal only, the platform fee rounded half-up to the currency's minor unit."""

from decimal import ROUND_HALF_UP, Decimal

from aisquare_plugin_sdk.manifest import ZERO_DECIMAL_CURRENCIES

ZERO = Decimal("0")
CENTS = Decimal("0.01")


def column_sum(value) -> Decimal:
    """A SUM over the ledger's 2-decimal money columns, exact on every database.

    PostgreSQL adds NUMERIC exactly; SQLite adds in floating point and hands back e.g. 13.9900000000000. Every
    operand has two decimal places, so rounding the sum back to two places restores the exact figure.
    """
    return (ZERO if value is None else Decimal(value)).quantize(CENTS, rounding=ROUND_HALF_UP)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of a currency: 1 for JPY and the other zero-decimal currencies, 0.01 otherwise."""
    return Decimal("1") if currency.upper() in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")


def quantize(amount: Decimal, currency: str) -> Decimal:
    return Decimal(amount).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def split(amount: Decimal, currency: str, rate: Decimal) -> tuple[Decimal, Decimal]:
    """(platform_fee, developer_share) of an amount; the fee is rounded, the share is the rest, so they add up.

    A negative amount (refund, dispute) splits symmetrically: -x gives (-fee(x), -share(x)), so a full refund
    reverses exactly what the payment credited.
    """
    if not isinstance(amount, Decimal) or not isinstance(rate, Decimal):
        raise TypeError("money is Decimal, never float")
    amount = quantize(amount, currency)
    sign = Decimal(-1) if amount < 0 else Decimal(1)
    fee = quantize(abs(amount) * rate, currency) * sign
    return fee, amount - fee


def to_minor(amount: Decimal, currency: str) -> int:
    """Gateway integer amount: cents for USD, yen for JPY."""
    return int(quantize(amount, currency) / minor_unit(currency))


def from_minor(value: int, currency: str) -> Decimal:
    return quantize(Decimal(value) * minor_unit(currency), currency)
