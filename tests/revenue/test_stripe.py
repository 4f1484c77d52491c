"""Stripe, offline: the SDK talks to a local fake of Stripe's API; webhooks are signed for real and go through
dj-stripe's own view. Assertions are on the recorded requests: amounts, destinations, idempotency keys."""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djstripe.models import Dispute, Event, WebhookEndpoint
from djstripe.models import Invoice as StripeInvoice
from rest_framework.test import APIClient

from revenue import api as revenue_api
from revenue import services
from revenue.models import Payout, PayoutAccount, PriceRecord, Purchase, RevenueEntry
from tests.factories import DeveloperFactory
from tests.revenue.conftest import FAKE_KEY, paid_plugin
from tests.revenue.stripe_fake import sign

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_secret_for_revenue"


@pytest.fixture
def endpoint(fake_stripe):
    return WebhookEndpoint.objects.create(
        id="we_test_revenue", secret=SECRET, url="https://plugins.example.test/stripe/webhook/",
        enabled_events=["*"], status="enabled", livemode=False, djstripe_uuid=uuid.uuid4(), api_version="2024-06-20",
    )


def deliver(client, endpoint, fake, event_type, obj, *, secret=SECRET, signature=None, event=None):
    event = event or fake.make("event", type=event_type, data={"object": obj})
    body = json.dumps(event)
    headers = {} if signature is False else {"HTTP_STRIPE_SIGNATURE": signature or sign(body, secret)}
    return client.post(f"/stripe/webhook/{endpoint.djstripe_uuid}/", data=body, content_type="application/json",
                        **headers), event


def buy(user, plugin):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/marketplace/plugins/{plugin.pk}/purchase", {}, format="json")


def test_webhook_url_is_djstripes_view():
    from django.urls import resolve

    match = resolve(f"/stripe/webhook/{uuid.uuid4()}/")
    assert match.func.view_class.__module__ == "djstripe.views"


def test_publishing_a_paid_plugin_sets_up_product_and_price(fake_stripe):
    plugin = paid_plugin(model="subscription", price="9.99", interval="year")
    record = revenue_api.pricing_setup(plugin=plugin)
    product = fake_stripe.calls("POST", "/v1/products")
    price = fake_stripe.calls("POST", "/v1/prices")
    assert len(product) == 1 and len(price) == 1
    assert product[0]["idempotency_key"] == f"product-{plugin.pk}"
    assert product[0]["params"]["metadata"] == {"plugin_id": plugin.pk}
    assert price[0]["params"]["unit_amount"] == "999" and price[0]["params"]["currency"] == "usd"
    assert price[0]["params"]["recurring"] == {"interval": "year"}
    assert price[0]["authorization"] == f"Bearer {FAKE_KEY}"
    stripe_price = fake_stripe.objects[record.price_ref]
    assert record.gateway == "stripe" and stripe_price["object"] == "price"
    assert stripe_price["product"] == record.product_ref
    assert fake_stripe.objects[record.product_ref]["metadata"] == {"plugin_id": plugin.pk}
    # A zero-decimal currency is sent in whole units.
    jpy = paid_plugin(price="1500", currency="JPY")
    revenue_api.pricing_setup(plugin=jpy)
    assert fake_stripe.calls("POST", "/v1/prices")[-1]["params"]["unit_amount"] == "1500"


def test_one_time_purchase_goes_through_checkout_and_the_signed_webhook(client, fake_stripe, endpoint, buyer):
    plugin = paid_plugin(price="9.99")
    response = buy(buyer, plugin)
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["redirect_url"].startswith("https://checkout.stripe.test/")
    assert body["test_mode"] is False
    session = fake_stripe.calls("POST", "/v1/checkout/sessions")[0]
    assert session["params"]["mode"] == "payment"
    assert session["params"]["metadata"]["purchase_id"] == body["id"]
    assert session["params"]["line_items"] == [{"price": PriceRecord.objects.get().price_ref, "quantity": "1"}]
    assert session["idempotency_key"] == f"checkout-purchase-{body['id']}"
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    assert not RevenueEntry.objects.exists()

    intent = fake_stripe.add("payment_intent", amount=999, amount_received=999, currency="usd",
                             metadata={"purchase_id": body["id"], "plugin_id": plugin.pk})
    answer, event = deliver(client, endpoint, fake_stripe, "payment_intent.succeeded", intent)
    assert answer.status_code == 200, answer.content
    # Stripe may deliver the same event again, and may also send other events about the same payment.
    again, _ = deliver(client, endpoint, fake_stripe, None, None, event=event)
    assert again.status_code == 200
    other, _ = deliver(client, endpoint, fake_stripe, "payment_intent.succeeded", intent)
    assert other.status_code == 200
    purchase = Purchase.objects.get(pk=body["id"])
    assert purchase.status == "paid" and purchase.external_id == intent["id"]
    entry = RevenueEntry.objects.get()
    assert (entry.external_id, entry.amount, entry.developer_share) == (intent["id"], Decimal("9.99"),
                                                                       Decimal("6.99"))
    assert revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    assert Event.objects.filter(type="payment_intent.succeeded").count() == 2


def test_forged_webhooks_are_refused_and_store_nothing(client, fake_stripe, endpoint, buyer):
    plugin = paid_plugin(price="9.99")
    purchase_id = buy(buyer, plugin).json()["id"]
    intent = fake_stripe.add("payment_intent", amount=999, currency="usd", metadata={"purchase_id": purchase_id})
    forged, _ = deliver(client, endpoint, fake_stripe, "payment_intent.succeeded", intent, secret="whsec_guess")
    assert forged.status_code == 400
    unsigned, _ = deliver(client, endpoint, fake_stripe, "payment_intent.succeeded", intent, signature=False)
    assert unsigned.status_code == 400
    stale = sign(json.dumps({"id": "evt_x"}), SECRET, timestamp=1)
    replayed, _ = deliver(client, endpoint, fake_stripe, "payment_intent.succeeded", intent, signature=stale)
    assert replayed.status_code == 400
    wrong_endpoint = client.post(f"/stripe/webhook/{uuid.uuid4()}/", data="{}", content_type="application/json",
                                 HTTP_STRIPE_SIGNATURE="t=1,v1=00")
    assert wrong_endpoint.status_code == 404
    assert not Event.objects.exists() and not RevenueEntry.objects.exists()
    assert Purchase.objects.get().status == "pending"


def test_refund_through_stripe_and_the_charge_refunded_webhook(client, fake_stripe, endpoint, buyer):
    plugin = paid_plugin(price="20.00")
    purchase_id = buy(buyer, plugin).json()["id"]
    intent = fake_stripe.add("payment_intent", amount=2000, currency="usd", metadata={"purchase_id": purchase_id})
    charge = fake_stripe.add("charge", amount=2000, amount_captured=2000, currency="usd", payment_intent=intent["id"])
    intent["latest_charge"] = charge["id"]
    deliver(client, endpoint, fake_stripe, "payment_intent.succeeded", intent)
    payment = RevenueEntry.objects.get()

    refund_row = services.refund_create(entry=payment, amount=Decimal("5.00"))
    call = fake_stripe.calls("POST", "/v1/refunds")[0]
    assert call["params"] == {"payment_intent": intent["id"], "amount": "500"}
    assert call["idempotency_key"] == f"refund-{payment.pk}-1"
    assert refund_row.amount == Decimal("-5.00") and refund_row.developer_share == Decimal("-3.50")

    # The same refund, told by Stripe's signed webhook, is not recorded twice; a refund made in Stripe's dashboard
    # is. dj-stripe re-fetches the charge from (fake) Stripe before the revenue receiver runs.
    stored = fake_stripe.objects[refund_row.external_id]
    assert stored["charge"] == charge["id"]
    other = fake_stripe.add("refund", amount=1500, currency="usd", payment_intent=intent["id"], charge=charge["id"])
    charge.update(amount_refunded=2000, refunded=True,
                  refunds={"object": "list", "data": [stored, other], "has_more": False, "url": "/v1/refunds"})
    answer, event = deliver(client, endpoint, fake_stripe, "charge.refunded", charge)
    assert answer.status_code == 200, answer.content
    again, _ = deliver(client, endpoint, fake_stripe, None, None, event=event)
    assert again.status_code == 200
    assert fake_stripe.calls("GET", f"/v1/charges/{charge['id']}")
    assert RevenueEntry.objects.filter(transaction_type="refund").count() == 2
    assert sum(RevenueEntry.objects.values_list("developer_share", flat=True)) == Decimal("0.00")
    assert Purchase.objects.get().status == "refunded"
    assert Event.objects.filter(type="charge.refunded").count() == 1


def test_a_dispute_reverses_the_share_through_the_signed_webhook(client, fake_stripe, endpoint, buyer):
    plugin = paid_plugin(price="30.00")
    purchase_id = buy(buyer, plugin).json()["id"]
    intent = fake_stripe.add("payment_intent", amount=3000, currency="usd", metadata={"purchase_id": purchase_id})
    deliver(client, endpoint, fake_stripe, "payment_intent.succeeded", intent)
    charge = fake_stripe.add("charge", amount=3000, amount_captured=3000, currency="usd",
                             payment_intent=intent["id"], disputed=True)
    dispute = fake_stripe.add("dispute", amount=3000, currency="usd", charge=charge["id"],
                              payment_intent=intent["id"])
    answer, event = deliver(client, endpoint, fake_stripe, "charge.dispute.created", dispute)
    assert answer.status_code == 200, answer.content
    assert deliver(client, endpoint, fake_stripe, None, None, event=event)[0].status_code == 200
    # dj-stripe re-fetched the dispute from (fake) Stripe and stored it before the revenue receiver ran.
    assert fake_stripe.calls("GET", f"/v1/disputes/{dispute['id']}")
    assert Dispute.objects.filter(id=dispute["id"]).exists()
    reversal = RevenueEntry.objects.get(transaction_type="dispute")
    assert (reversal.external_id, reversal.amount, reversal.developer_share) == (
        dispute["id"], Decimal("-30.00"), Decimal("-21.00"))
    assert RevenueEntry.objects.get(transaction_type="purchase").developer_share + reversal.developer_share == 0


@pytest.fixture
def stripe_developer(fake_stripe):
    developer = DeveloperFactory()
    account = fake_stripe.add("account", id="acct_dev_1")
    PayoutAccount.objects.create(developer=developer, gateway="stripe", account_id=account["id"],
                                 payouts_enabled=True)
    plugin = paid_plugin(developer=developer)
    entry = services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal("100.00"),
                                   currency="USD", external_id="pi_seed")
    RevenueEntry.objects.filter(pk=entry.pk).update(created_at=timezone.make_aware(timezone.datetime(2026, 10, 2)))
    return developer


def test_payout_is_a_connect_transfer_keyed_by_the_payout(fake_stripe, stripe_developer):
    services.payouts_run(period=date(2026, 10, 1))
    payout = Payout.objects.get()
    creates = fake_stripe.calls("POST", "/v1/transfers")
    # A payout never sent before needs no lookup: the idempotency key alone makes the create safe to repeat.
    assert fake_stripe.calls("GET", "/v1/transfers") == []
    assert len(creates) == 1
    call = creates[0]
    assert call["idempotency_key"] == f"payout-{payout.pk}"
    assert call["params"]["amount"] == "7000" and call["params"]["currency"] == "usd"
    assert call["params"]["destination"] == "acct_dev_1"
    assert call["params"]["metadata"]["payout_id"] == str(payout.pk)
    assert payout.status == "paid" and payout.transfer_id == fake_stripe.objects[payout.transfer_id]["id"]


def test_stripe_outage_then_retry_uses_the_same_key_and_pays_once(fake_stripe, stripe_developer):
    fake_stripe.fail_next("/v1/transfers", 500)
    now = timezone.now()
    services.payouts_run(period=date(2026, 10, 1), now=now)
    payout = Payout.objects.get()
    assert payout.status == "failed" and payout.next_attempt_at is not None
    assert "unavailable" in payout.last_error
    services.payouts_run(period=date(2026, 10, 1), now=payout.next_attempt_at)
    payout.refresh_from_db()
    assert payout.status == "paid"
    creates = fake_stripe.calls("POST", "/v1/transfers")
    assert len(creates) == 2 and {c["idempotency_key"] for c in creates} == {f"payout-{payout.pk}"}
    assert sum(1 for o in fake_stripe.objects.values() if o.get("object") == "transfer") == 1


def test_a_transfer_made_before_a_crash_is_found_not_repeated(fake_stripe, stripe_developer):
    services.payouts_create(period=date(2026, 10, 1))
    payout = Payout.objects.get()
    # The transfer went out, then the worker died before recording it.
    Payout.objects.filter(pk=payout.pk).update(status="processing", attempts=1)
    fake_stripe.add("transfer", amount=7000, currency="usd", destination="acct_dev_1",
                    transfer_group=f"payout-{payout.pk}", metadata={"payout_id": str(payout.pk)})
    services.payouts_run(period=date(2026, 10, 1))
    payout.refresh_from_db()
    assert payout.status == "paid"
    lookup = fake_stripe.calls("GET", "/v1/transfers")
    assert lookup[0]["params"]["transfer_group"] == f"payout-{payout.pk}"
    assert fake_stripe.calls("POST", "/v1/transfers") == []


def test_a_refused_transfer_is_not_retried(fake_stripe, stripe_developer):
    fake_stripe.fail_next("/v1/transfers", 400)
    services.payouts_run(period=date(2026, 10, 1))
    payout = Payout.objects.get()
    assert payout.status == "failed" and payout.next_attempt_at is None
    assert "refused" in payout.last_error
    assert services.payouts_due() == []
    assert RevenueEntry.objects.get().payout.status == "failed"  # so its share is not paid out
    # Staff abandon it: the share carries over to the next payout.
    services.payout_reverse(payout=payout, reason="account closed")
    assert RevenueEntry.objects.get().payout is None


def test_transfer_reversed_webhook_reverses_the_payout(client, fake_stripe, endpoint, stripe_developer):
    services.payouts_run(period=date(2026, 10, 1))
    payout = Payout.objects.get()
    transfer = fake_stripe.objects[payout.transfer_id]
    transfer.update(reversed=True, amount_reversed=7000)
    answer, _ = deliver(client, endpoint, fake_stripe, "transfer.reversed", transfer)
    assert answer.status_code == 200, answer.content
    payout.refresh_from_db()
    assert payout.status == "reversed"
    assert RevenueEntry.objects.get().payout is None


def test_connect_onboarding_creates_the_account_once(client, fake_stripe, endpoint):
    developer = DeveloperFactory()
    client.force_login(developer.user)
    page = client.get("/developer/payouts/connect/")
    assert "notice-test-mode" not in page.content.decode() and "Connect with Stripe" in page.content.decode()
    first = client.post("/developer/payouts/connect/")
    assert first.status_code == 302 and first["Location"].startswith("https://connect.stripe.test/setup/acct_")
    second = client.post("/developer/payouts/connect/")
    assert second.status_code == 302
    assert len(fake_stripe.calls("POST", "/v1/accounts")) == 1
    links = fake_stripe.calls("POST", "/v1/account_links")
    assert len(links) == 2 and links[0]["params"]["type"] == "account_onboarding"
    account = PayoutAccount.objects.get(developer=developer)
    assert account.gateway == "stripe" and not account.payouts_enabled
    # The local form cannot be used to point payouts at an arbitrary account while Stripe is the gateway.
    with pytest.raises(services.Conflict):
        services.payout_account_set(developer=developer, account_id="acct_attacker")
    stripe_account = fake_stripe.objects[account.account_id]
    answer, _ = deliver(client, endpoint, fake_stripe, "account.updated", stripe_account)
    assert answer.status_code == 200, answer.content
    account.refresh_from_db()
    assert account.payouts_enabled


def test_subscription_through_checkout_then_paid_invoices(client, fake_stripe, endpoint, buyer):
    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    body = buy(buyer, plugin).json()
    session_call = fake_stripe.calls("POST", "/v1/checkout/sessions")[0]
    assert session_call["params"]["mode"] == "subscription"
    assert session_call["params"]["subscription_data"]["metadata"]["subscription_id"] == body["id"]
    customer = fake_stripe.add("customer", email=buyer.email)
    stripe_sub = fake_stripe.add("subscription", customer=customer["id"],
                                 metadata={"subscription_id": body["id"]})
    session = next(o for o in fake_stripe.objects.values() if o.get("object") == "checkout.session")
    session.update(status="complete", payment_status="paid", subscription=stripe_sub["id"],
                   customer=customer["id"])
    answer, _ = deliver(client, endpoint, fake_stripe, "checkout.session.completed", session)
    assert answer.status_code == 200, answer.content
    from revenue.models import Subscription

    subscription = Subscription.objects.get(pk=body["id"])
    assert subscription.external_id == stripe_sub["id"]
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)  # paid invoice not seen yet

    # Each renewal arrives as a signed invoice.paid (the subscription named where Stripe's current API puts it,
    # parent.subscription_details); dj-stripe re-fetches the invoice first.
    for number in (1, 2):
        start = 1767225600 + number * 2592000
        invoice = fake_stripe.add(
            "invoice", currency="usd", amount_due=499, amount_paid=499, status="paid", customer=customer["id"],
            parent={"type": "subscription_details", "quote_details": None,
                    "subscription_details": {"subscription": stripe_sub["id"], "metadata": {}}},
            lines={"object": "list", "has_more": False, "url": "/v1/invoices/lines",
                   "data": [{"id": f"il_fake_{number}", "object": "line_item", "amount": 499, "currency": "usd",
                             "period": {"start": start, "end": start + 2592000}}]},
        )
        answer, event = deliver(client, endpoint, fake_stripe, "invoice.paid", invoice)
        assert answer.status_code == 200, answer.content
        assert deliver(client, endpoint, fake_stripe, None, None, event=event)[0].status_code == 200
        assert fake_stripe.calls("GET", f"/v1/invoices/{invoice['id']}")
        assert StripeInvoice.objects.filter(id=invoice["id"]).exists()
    subscription.refresh_from_db()
    assert subscription.status == "active"
    rows = RevenueEntry.objects.filter(transaction_type="subscription")
    assert rows.count() == 2 and {r.amount for r in rows} == {Decimal("4.99")}
    assert subscription.current_period_end == datetime.fromtimestamp(1767225600 + 3 * 2592000, tz=UTC)
    assert revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    # Cancelling asks Stripe to stop at period end; the end arrives as customer.subscription.deleted.
    services.subscription_cancel(subscription=subscription, user=buyer)
    modify = fake_stripe.calls("POST", f"/v1/subscriptions/{stripe_sub['id']}")
    assert modify[-1]["params"] == {"cancel_at_period_end": "true"}
    stripe_sub.update(status="canceled", canceled_at=1767225600 + 3 * 2592000)
    answer, _ = deliver(client, endpoint, fake_stripe, "customer.subscription.deleted", stripe_sub)
    assert answer.status_code == 200, answer.content
    assert fake_stripe.calls("GET", f"/v1/subscriptions/{stripe_sub['id']}")
    assert Subscription.objects.get(pk=body["id"]).status == "canceled"
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)


def test_usage_invoice_is_charged_through_a_stripe_invoice(client, fake_stripe, endpoint, buyer):
    from revenue.models import Subscription, UsageInvoice

    plugin = paid_plugin(model="usage_based", price=None, tiers=[{"up_to": None, "unit_price": "0.02"}])
    buy(buyer, plugin)
    subscription = Subscription.objects.get()
    invoice = services.usage_invoice_charge(subscription=subscription, start=date(2026, 10, 1),
                                            end=date(2026, 10, 31), quantity=1234)
    assert (invoice.amount, invoice.status) == (Decimal("24.68"), "pending")
    item = fake_stripe.calls("POST", "/v1/invoiceitems")[0]
    assert item["params"]["amount"] == "2468" and item["params"]["currency"] == "usd"
    assert item["idempotency_key"] == f"usage-invoice-item-{invoice.pk}"
    assert fake_stripe.calls("POST", f"/v1/invoices/{invoice.external_id}/finalize")
    assert not RevenueEntry.objects.exists()  # paid asynchronously
    stripe_invoice = fake_stripe.objects[invoice.external_id]
    stripe_invoice.update(status="paid", amount_paid=2468, metadata={"usage_invoice_id": str(invoice.pk)})
    for _ in range(2):  # Stripe may send invoice.paid twice (two events about the same payment)
        answer, _ = deliver(client, endpoint, fake_stripe, "invoice.paid", stripe_invoice)
        assert answer.status_code == 200, answer.content
    assert UsageInvoice.objects.get().status == "paid"
    entry = RevenueEntry.objects.get()
    assert (entry.transaction_type, entry.amount, entry.developer_share) == ("usage", Decimal("24.68"),
                                                                            Decimal("17.28"))


def test_a_price_change_reaches_a_stripe_subscriber_at_the_renewal_they_were_told(
    client, fake_stripe, endpoint, buyer, django_capture_on_commit_callbacks, mailoutbox
):
    from revenue.models import Subscription

    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    body = buy(buyer, plugin).json()
    old_price = PriceRecord.objects.get(current=True)
    customer = fake_stripe.add("customer", email=buyer.email)
    stripe_sub = fake_stripe.add(
        "subscription", customer=customer["id"], metadata={"subscription_id": body["id"]},
        items={"object": "list", "has_more": False, "url": "/v1/subscription_items",
               "data": [{"id": "si_fake_1", "object": "subscription_item", "quantity": 1, "metadata": {},
                         "price": fake_stripe.objects[old_price.price_ref]}]},
    )
    stripe_sub["items"]["data"][0]["subscription"] = stripe_sub["id"]
    session = next(o for o in fake_stripe.objects.values() if o.get("object") == "checkout.session")
    session.update(status="complete", payment_status="paid", subscription=stripe_sub["id"], customer=customer["id"])
    assert deliver(client, endpoint, fake_stripe, "checkout.session.completed", session)[0].status_code == 200
    start = int(timezone.now().timestamp())
    month = 2592000

    def renewal(number, period_start):
        invoice = fake_stripe.add(
            "invoice", currency="usd", amount_due=499, amount_paid=499, status="paid", customer=customer["id"],
            subscription=stripe_sub["id"],  # the field of Stripe's older API versions, still read
            lines={"object": "list", "has_more": False, "url": "/v1/invoices/lines",
                   "data": [{"id": f"il_fake_{number}", "object": "line_item", "amount": 499, "currency": "usd",
                             "period": {"start": period_start, "end": period_start + month}}]},
        )
        answer, _ = deliver(client, endpoint, fake_stripe, "invoice.paid", invoice)
        assert answer.status_code == 200, answer.content

    renewal(1, start - 10)
    subscription = Subscription.objects.get(pk=body["id"])
    assert subscription.status == "active"

    plugin.pricing = {**plugin.pricing, "price": "6.99"}
    plugin.save()
    with django_capture_on_commit_callbacks(execute=True):
        new_price = revenue_api.pricing_setup(plugin=plugin)
    subscription.refresh_from_db()
    # The renewal at the end of the paid period is less than 30 days away: the new price starts a month later.
    applies = subscription.pending_price_effective_at
    period_end = datetime.fromtimestamp(start - 10 + month, tz=UTC)
    assert applies == services.billing_period_end(start=period_end, interval="month", gateway="stripe")
    assert applies >= timezone.now() + timedelta(days=30)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [buyer.email]

    def modifies():
        return [c for c in fake_stripe.calls("POST", f"/v1/subscriptions/{stripe_sub['id']}")
                if "items" in c["params"]]

    # The renewal paid now is for a period that ends before the new price's date: Stripe keeps the old price.
    renewal(2, int(applies.timestamp()) - 2 * month)
    assert modifies() == []
    # The period paid next ends on that date: Stripe is told now, so that the invoice on that date is at 6.99...
    renewal(3, int(applies.timestamp()) - month)
    (call,) = modifies()
    assert call["params"]["items"] == [{"id": "si_fake_1", "price": new_price.price_ref}]
    assert call["params"]["proration_behavior"] == "none"
    subscription.refresh_from_db()
    assert subscription.price == old_price and subscription.pending_price == new_price
    # ...and from the period starting on it, the subscription is at the new price.
    renewal(4, int(applies.timestamp()))
    subscription.refresh_from_db()
    assert subscription.price == new_price and subscription.pending_price is None
    assert fake_stripe.objects[stripe_sub["id"]]["items"]["data"][0]["price"]["id"] == new_price.price_ref
