"""The payment gateway interface: what the revenue services ask of Stripe or of the local test gateway."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable


class GatewayError(Exception):
    """The gateway refused or could not be reached. `retryable` says whether the same call may succeed later."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class PriceRef:
    product_ref: str
    price_ref: str


@dataclass(frozen=True)
class CheckoutResult:
    """`paid` when the money moved (or, locally, was recorded) now; otherwise the buyer goes to `redirect_url`."""

    external_id: str
    paid: bool
    redirect_url: str = ""
    period_start: datetime | None = None
    period_end: datetime | None = None


@dataclass(frozen=True)
class TransferResult:
    transfer_id: str
    amount: Decimal
    currency: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TransferRequest:
    amount: Decimal
    currency: str
    destination: str
    idempotency_key: str
    payout_id: str
    description: str
    metadata: dict = field(default_factory=dict)


def create_each(gateway, requests: list[TransferRequest]) -> dict:
    """`transfer_create_many` for gateways whose API makes one transfer per call."""
    results: dict = {}
    for request in requests:
        try:
            results[request.payout_id] = gateway.transfer_create(
                amount=request.amount, currency=request.currency, destination=request.destination,
                idempotency_key=request.idempotency_key, payout_id=request.payout_id,
                description=request.description, metadata=request.metadata,
            )
        except GatewayError as exc:
            results[request.payout_id] = exc
    return results


@dataclass(frozen=True)
class OnboardingLink:
    account_id: str
    url: str


@runtime_checkable
class Gateway(Protocol):
    name: str
    # False for the local test gateway: every page that shows its money says that nothing moved.
    moves_money: bool

    def price_setup(self, *, plugin_id: str, name: str, model: str, amount: Decimal, currency: str,
                    interval: str, product_ref: str = "") -> PriceRef:
        """Create (or reuse) the product and create a price for it."""

    def checkout_one_time(self, *, purchase_id: str, amount: Decimal, currency: str, description: str,
                          price_ref: str, customer_email: str, success_url: str, cancel_url: str,
                          metadata: dict) -> CheckoutResult:
        """Start (or, locally, complete) a one-time payment keyed by the purchase."""

    def checkout_subscription(self, *, subscription_id: str, price_ref: str, amount: Decimal, currency: str,
                              interval: str, customer_email: str, success_url: str, cancel_url: str,
                              metadata: dict) -> CheckoutResult:
        """Start (or, locally, complete) a subscription keyed by our subscription row."""

    def subscription_cancel(self, *, external_id: str, at_period_end: bool = True) -> None:
        """Cancel at the end of the paid period (or now)."""

    def subscription_change_price(self, *, external_id: str, price_ref: str) -> None:
        """Move a subscription to a new price from its next renewal, without proration."""

    def charge_usage(self, *, invoice_id: str, amount: Decimal, currency: str, customer_email: str,
                     description: str, metadata: dict) -> CheckoutResult:
        """Charge a usage invoice off-session, keyed by the invoice."""

    def refund(self, *, payment_id: str, amount: Decimal, currency: str, idempotency_key: str) -> str:
        """Refund (part of) a payment; returns the refund id."""

    def transfer_find(self, *, idempotency_key: str, payout_id: str) -> TransferResult | None:
        """The transfer already made for this payout, if any (after a crash between transfer and commit)."""

    def transfer_create(self, *, amount: Decimal, currency: str, destination: str, idempotency_key: str,
                        payout_id: str, description: str, metadata: dict) -> TransferResult:
        """Send a payout to a connected account, keyed so that the same payout can never be sent twice."""

    def transfer_create_many(self, *, requests: list[TransferRequest]) -> dict:
        """Make many transfers (a payout run): {payout_id: TransferResult or GatewayError}, each keyed as above."""

    def onboarding_link(self, *, account_id: str, email: str, refresh_url: str, return_url: str) -> OnboardingLink:
        """Create the connected account if needed and return where the developer completes onboarding."""
