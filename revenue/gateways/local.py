"""The embedded default gateway: it records every money movement it is asked for and moves none.

Each call is keyed like Stripe's idempotency keys, so repeating a call returns the first result. Pages that show
money handled by this gateway say that nothing moved (`notice-test-mode`).
"""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from revenue.gateways.base import CheckoutResult, GatewayError, OnboardingLink, PriceRef, TransferResult
from revenue.models import LocalGatewayRecord


class LocalGateway:
    name = "local"
    moves_money = False

    def _record(self, *, kind: str, key: str, amount: Decimal, currency: str, reference: str = "",
                metadata: dict | None = None) -> LocalGatewayRecord:
        # Insert-or-keep in one statement, like a gateway that dedupes on the idempotency key: on a repeated key
        # the row already recorded is kept and its id returned.
        (record,) = LocalGatewayRecord.objects.bulk_create(
            [LocalGatewayRecord(id=f"local_{kind}_{uuid.uuid4().hex[:24]}", kind=kind, idempotency_key=key,
                                amount=amount, currency=currency, reference=reference, metadata=metadata or {})],
            update_conflicts=True, unique_fields=["idempotency_key"], update_fields=["idempotency_key"],
        )
        return record

    def price_setup(self, *, plugin_id, name, model, amount, currency, interval, product_ref=""):
        return PriceRef(product_ref=product_ref or f"local_prod_{plugin_id}",
                        price_ref=f"local_price_{uuid.uuid4().hex[:16]}")

    def checkout_one_time(self, *, purchase_id, amount, currency, description, price_ref, customer_email,
                          success_url, cancel_url, metadata):
        record = self._record(kind="pi", key=f"purchase-{purchase_id}", amount=amount, currency=currency,
                              reference=description, metadata=metadata)
        return CheckoutResult(external_id=record.id, paid=True)

    def checkout_subscription(self, *, subscription_id, price_ref, amount, currency, interval, customer_email,
                              success_url, cancel_url, metadata):
        now = timezone.now()
        self._record(kind="in", key=f"subscription-{subscription_id}", amount=amount, currency=currency,
                     reference=price_ref, metadata=metadata)
        days = 365 if interval == "year" else 30
        return CheckoutResult(external_id=f"local_sub_{subscription_id.replace('-', '')[:24]}", paid=True,
                              period_start=now, period_end=now + timedelta(days=days))

    def subscription_cancel(self, *, external_id, at_period_end=True):
        return None

    def subscription_change_price(self, *, external_id, price_ref):
        return None

    def charge_usage(self, *, invoice_id, amount, currency, customer_email, description, metadata):
        record = self._record(kind="in", key=f"usage-invoice-{invoice_id}", amount=amount, currency=currency,
                              reference=description, metadata=metadata)
        return CheckoutResult(external_id=record.id, paid=True)

    def refund(self, *, payment_id, amount, currency, idempotency_key):
        return self._record(kind="re", key=idempotency_key, amount=amount, currency=currency,
                            reference=payment_id).id

    def transfer_find(self, *, idempotency_key, payout_id):
        record = LocalGatewayRecord.objects.filter(idempotency_key=idempotency_key, kind="tr").first()
        if record is None:
            return None
        return TransferResult(transfer_id=record.id, amount=record.amount, currency=record.currency,
                              metadata=record.metadata)

    def transfer_create(self, *, amount, currency, destination, idempotency_key, payout_id, description, metadata):
        if not destination:
            raise GatewayError("no payout account", retryable=False)
        record = self._record(kind="tr", key=idempotency_key, amount=amount, currency=currency,
                              reference=destination, metadata={**metadata, "payout_id": payout_id})
        return TransferResult(transfer_id=record.id, amount=record.amount, currency=record.currency,
                              metadata=record.metadata)

    def transfer_create_many(self, *, requests):
        """One statement for the whole run: the records live in our own database."""
        results = {r.payout_id: GatewayError("no payout account", retryable=False) for r in requests
                   if not r.destination}
        valid = [r for r in requests if r.destination]
        records = LocalGatewayRecord.objects.bulk_create(
            [LocalGatewayRecord(id=f"local_tr_{uuid.uuid4().hex[:24]}", kind="tr", idempotency_key=r.idempotency_key,
                                amount=r.amount, currency=r.currency, reference=r.destination,
                                metadata={**r.metadata, "payout_id": r.payout_id}) for r in valid],
            update_conflicts=True, unique_fields=["idempotency_key"], update_fields=["idempotency_key"],
        )
        for request, record in zip(valid, records, strict=True):
            results[request.payout_id] = TransferResult(transfer_id=record.id, amount=request.amount,
                                                        currency=request.currency, metadata=record.metadata)
        return results

    def onboarding_link(self, *, account_id, email, refresh_url, return_url):
        # The local gateway has no hosted onboarding: the portal shows a form instead.
        return OnboardingLink(account_id=account_id, url="")
