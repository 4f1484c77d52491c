"""Stripe: Checkout for payments and subscriptions, invoices for metered usage, Connect for payouts.

Calls go through the stripe SDK with the secret key dj-stripe is configured with (and `stripe.api_base`, which
dj-stripe sets from STRIPE_API_HOST). Every create call carries an idempotency key derived from our row, so a retry
returns Stripe's first answer instead of charging or transferring again. dj-stripe stores the objects that webhooks
bring in (revenue/webhooks.py turns the ones that move money into ledger rows).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import stripe
from djstripe.settings import djstripe_settings

from revenue import money
from revenue.gateways.base import (
    CheckoutResult,
    GatewayError,
    OnboardingLink,
    PriceRef,
    TransferResult,
    create_each,
)


def _key() -> str:
    return djstripe_settings.STRIPE_SECRET_KEY


def _call(function, /, *args, **params):
    try:
        return function(*args, api_key=_key(), **params)
    except stripe.InvalidRequestError as exc:
        raise GatewayError(f"Stripe refused the request: {exc.user_message or exc}", retryable=False)
    except stripe.StripeError as exc:  # connection errors, rate limits, 5xx: the same call may succeed later
        raise GatewayError(f"Stripe is unavailable: {exc.user_message or exc}", retryable=True)


def _when(timestamp) -> datetime | None:
    return datetime.fromtimestamp(int(timestamp), tz=UTC) if timestamp else None


class StripeGateway:
    name = "stripe"
    moves_money = True

    def price_setup(self, *, plugin_id, name, model, amount, currency, interval, product_ref=""):
        if not product_ref:
            product = _call(stripe.Product.create, name=name[:250], metadata={"plugin_id": plugin_id},
                            idempotency_key=f"product-{plugin_id}")
            product_ref = product["id"]
        if model == "usage_based":
            # Metered usage is priced by our tiers and invoiced as an amount per period: no Stripe price needed.
            return PriceRef(product_ref=product_ref, price_ref="")
        params = {
            "product": product_ref, "currency": currency.lower(), "unit_amount": money.to_minor(amount, currency),
            "metadata": {"plugin_id": plugin_id},
        }
        if model == "subscription":
            params["recurring"] = {"interval": interval or "month"}
        price = _call(stripe.Price.create, **params)
        return PriceRef(product_ref=product_ref, price_ref=price["id"])

    def checkout_one_time(self, *, purchase_id, amount, currency, description, price_ref, customer_email,
                          success_url, cancel_url, metadata):
        session = _call(
            stripe.checkout.Session.create, mode="payment",
            line_items=[{"price": price_ref, "quantity": 1}], success_url=success_url, cancel_url=cancel_url,
            client_reference_id=purchase_id, customer_email=customer_email or None, metadata=metadata,
            payment_intent_data={"metadata": metadata, "description": description},
            idempotency_key=f"checkout-purchase-{purchase_id}",
        )
        return CheckoutResult(external_id=session["id"], paid=False, redirect_url=session["url"] or "")

    def checkout_subscription(self, *, subscription_id, price_ref, amount, currency, interval, customer_email,
                              success_url, cancel_url, metadata):
        session = _call(
            stripe.checkout.Session.create, mode="subscription",
            line_items=[{"price": price_ref, "quantity": 1}], success_url=success_url, cancel_url=cancel_url,
            client_reference_id=subscription_id, customer_email=customer_email or None, metadata=metadata,
            subscription_data={"metadata": metadata},
            idempotency_key=f"checkout-subscription-{subscription_id}",
        )
        return CheckoutResult(external_id=session["id"], paid=False, redirect_url=session["url"] or "")

    def subscription_cancel(self, *, external_id, at_period_end=True):
        if at_period_end:
            _call(stripe.Subscription.modify, external_id, cancel_at_period_end=True)
        else:
            _call(stripe.Subscription.cancel, external_id)

    def subscription_change_price(self, *, external_id, price_ref):
        subscription = _call(stripe.Subscription.retrieve, external_id)
        item = subscription["items"]["data"][0]["id"]
        _call(stripe.Subscription.modify, external_id, items=[{"id": item, "price": price_ref}],
              proration_behavior="none")

    def _customer(self, email: str) -> str:
        found = _call(stripe.Customer.list, email=email, limit=1)
        if found["data"]:
            return found["data"][0]["id"]
        return _call(stripe.Customer.create, email=email, idempotency_key=f"customer-{email}")["id"]

    def charge_usage(self, *, invoice_id, amount, currency, customer_email, description, metadata):
        customer = self._customer(customer_email)
        invoice = _call(stripe.Invoice.create, customer=customer, collection_method="charge_automatically",
                        auto_advance=True, metadata=metadata, idempotency_key=f"usage-invoice-{invoice_id}")
        _call(stripe.InvoiceItem.create, customer=customer, invoice=invoice["id"], currency=currency.lower(),
              amount=money.to_minor(amount, currency), description=description, metadata=metadata,
              idempotency_key=f"usage-invoice-item-{invoice_id}")
        _call(stripe.Invoice.finalize_invoice, invoice["id"], idempotency_key=f"usage-invoice-finalize-{invoice_id}")
        # Paid asynchronously: the invoice.paid webhook writes the ledger row.
        return CheckoutResult(external_id=invoice["id"], paid=False)

    def refund(self, *, payment_id, amount, currency, idempotency_key):
        refund = _call(stripe.Refund.create, payment_intent=payment_id, amount=money.to_minor(amount, currency),
                       idempotency_key=idempotency_key)
        return refund["id"]

    def transfer_find(self, *, idempotency_key, payout_id):
        # The payout id is the transfer group: a transfer made before a crash is found even after the 24 hours
        # for which Stripe remembers idempotency keys.
        found = _call(stripe.Transfer.list, transfer_group=f"payout-{payout_id}", limit=1)
        if not found["data"]:
            return None
        transfer = found["data"][0]
        return TransferResult(transfer_id=transfer["id"],
                              amount=money.from_minor(transfer["amount"], transfer["currency"].upper()),
                              currency=transfer["currency"].upper(), metadata=dict(transfer.get("metadata") or {}))

    def transfer_create(self, *, amount, currency, destination, idempotency_key, payout_id, description, metadata):
        if not destination:
            raise GatewayError("The developer has no connected Stripe account.", retryable=False)
        transfer = _call(
            stripe.Transfer.create, amount=money.to_minor(amount, currency), currency=currency.lower(),
            destination=destination, transfer_group=f"payout-{payout_id}", description=description,
            metadata=metadata, idempotency_key=idempotency_key,
        )
        return TransferResult(transfer_id=transfer["id"], amount=Decimal(amount), currency=currency,
                              metadata=dict(transfer.get("metadata") or {}))

    def transfer_create_many(self, *, requests):
        # Stripe makes one transfer per call; each carries its own payout's idempotency key.
        return create_each(self, requests)

    def onboarding_link(self, *, account_id, email, refresh_url, return_url):
        if not account_id:
            account = _call(stripe.Account.create, type="express", email=email or None,
                            capabilities={"transfers": {"requested": True}},
                            idempotency_key=f"connect-account-{email}")
            account_id = account["id"]
        link = _call(stripe.AccountLink.create, account=account_id, refresh_url=refresh_url, return_url=return_url,
                     type="account_onboarding")
        return OnboardingLink(account_id=account_id, url=link["url"])
