"""Buying plugins through the local gateway: one-time, subscription, usage-based; entitlements; refusals."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from revenue import api as revenue_api
from revenue import services
from revenue.models import LocalGatewayRecord, PriceRecord, Purchase, RevenueEntry, Subscription, UsageInvoice
from runtime.models import PluginUsage
from tests.factories import InstallationFactory, MembershipFactory, OrganizationFactory, PluginFactory, UserFactory
from tests.revenue.conftest import paid_plugin

pytestmark = pytest.mark.django_db


def api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def buy(user, plugin, **data):
    return api(user).post(f"/api/marketplace/plugins/{plugin.pk}/purchase", data, format="json")


def test_one_time_purchase_records_the_payment_and_entitles_the_buyer(buyer):
    plugin = paid_plugin(price="9.99")
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)

    response = buy(buyer, plugin)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["redirect_url"], body["test_mode"]) == (
        "purchase", "paid", "", True)
    purchase = Purchase.objects.get(pk=body["id"])
    entry = RevenueEntry.objects.get(external_id=purchase.external_id)
    assert (entry.amount, entry.platform_fee, entry.developer_share) == (
        Decimal("9.99"), Decimal("3.00"), Decimal("6.99"))
    assert entry.developer_id == plugin.developer_id and entry.transaction_type == "purchase"
    assert LocalGatewayRecord.objects.get(pk=purchase.external_id).kind == "pi"
    assert revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    assert revenue_api.has_purchased(user=buyer, plugin_id=plugin.pk)
    # Nobody else got it.
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=UserFactory())


def test_buying_twice_is_refused_and_charges_nothing(buyer):
    plugin = paid_plugin()
    buy(buyer, plugin)
    response = buy(buyer, plugin)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_entitled"
    assert RevenueEntry.objects.count() == 1 and Purchase.objects.count() == 1


def test_free_plugins_need_no_payment(buyer):
    plugin = PluginFactory(published_at=timezone.now())
    assert revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    assert buy(buyer, plugin).status_code == 409
    assert revenue_api.pricing_setup(plugin=plugin) is None
    assert not revenue_api.has_purchased(user=buyer, plugin_id=plugin.pk)


def test_refusals_are_clear_and_leave_nothing_behind(buyer):
    plugin = paid_plugin()
    assert api().post(f"/api/marketplace/plugins/{plugin.pk}/purchase").status_code == 401
    assert api(buyer).post("/api/marketplace/plugins/nope/purchase").status_code == 404
    unpublished = paid_plugin()
    type(unpublished).objects.filter(pk=unpublished.pk).update(published_at=None)
    assert buy(buyer, unpublished).status_code == 404
    own = buy(plugin.developer.user, plugin)
    assert own.status_code == 409 and own.json()["error"]["code"] == "own_plugin"
    bad = buy(buyer, plugin, org_id="not-a-uuid")
    assert bad.status_code == 400 and "org_id" in bad.json()["error"]["fields"]
    assert not Purchase.objects.exists() and not RevenueEntry.objects.exists()


def test_buying_for_an_organization_needs_its_admin(buyer):
    plugin = paid_plugin()
    org = OrganizationFactory()
    MembershipFactory(organization=org, user=buyer, role="member")
    # A member who is not an admin, and a stranger, get the same not-found as for a missing organization.
    assert buy(buyer, plugin, org_id=str(org.pk)).status_code == 404
    assert buy(UserFactory(), plugin, org_id=str(org.pk)).status_code == 404
    assert buy(buyer, plugin, org_id="00000000-0000-0000-0000-000000000000").status_code == 404
    admin = MembershipFactory(organization=org, role="admin").user
    assert buy(admin, plugin, org_id=str(org.pk)).status_code == 201
    assert revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer, org=org)
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)


def test_subscription_renews_and_cancels_at_period_end(buyer):
    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    response = buy(buyer, plugin)
    assert response.status_code == 201 and response.json()["status"] == "active"
    subscription = Subscription.objects.get()
    assert RevenueEntry.objects.get().transaction_type == "subscription"
    # A renewal arrives as a paid invoice: one more ledger row, the same invoice twice still one.
    for _ in range(2):
        services.subscription_invoice_paid(
            subscription_external_id=subscription.external_id, invoice_id="in_renewal_1", amount=Decimal("4.99"),
            currency="USD", period_start=timezone.now(), period_end=timezone.now() + timedelta(days=30))
    assert RevenueEntry.objects.filter(transaction_type="subscription").count() == 2

    services.subscription_cancel(subscription=subscription, user=buyer)
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.status == "active"
    assert revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)  # paid until the period ends
    services.subscriptions_expire(now=subscription.current_period_end + timedelta(seconds=1))
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    assert revenue_api.has_purchased(user=buyer, plugin_id=plugin.pk)


def test_someone_else_cannot_cancel_my_subscription(buyer):
    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    buy(buyer, plugin)
    with pytest.raises(services.NotFound):
        services.subscription_cancel(subscription=Subscription.objects.get(), user=UserFactory())
    assert not Subscription.objects.get().cancel_at_period_end


def test_a_price_change_reaches_subscribers_only_after_notice(buyer):
    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    buy(buyer, plugin)
    first = PriceRecord.objects.get(current=True)
    assert revenue_api.pricing_setup(plugin=plugin) == first  # same pricing: same record
    plugin.pricing = {**plugin.pricing, "price": "6.99"}
    plugin.save()
    second = revenue_api.pricing_setup(plugin=plugin)
    assert second != first and second.amount == Decimal("6.99")
    assert PriceRecord.objects.filter(plugin=plugin, current=True).get() == second
    subscription = Subscription.objects.get()
    assert subscription.price == first and subscription.pending_price == second
    assert subscription.pending_price_effective_at >= timezone.now() + timedelta(days=29)
    # A renewal before the notice ends keeps the old price...
    services.subscription_invoice_paid(subscription_external_id=subscription.external_id, invoice_id="in_2",
                                       amount=Decimal("4.99"), currency="USD", period_start=None, period_end=None)
    subscription.refresh_from_db()
    assert subscription.price == first
    # ...the first one after it moves to the new price.
    Subscription.objects.filter(pk=subscription.pk).update(pending_price_effective_at=timezone.now())
    services.subscription_invoice_paid(subscription_external_id=subscription.external_id, invoice_id="in_3",
                                       amount=Decimal("4.99"), currency="USD", period_start=None, period_end=None)
    subscription.refresh_from_db()
    assert subscription.price == second and subscription.pending_price is None


def test_usage_based_is_metered_priced_by_tiers_and_invoiced_once_per_period(buyer):
    tiers = [{"up_to": 100, "unit_price": "0.05"}, {"up_to": None, "unit_price": "0.01"}]
    plugin = paid_plugin(model="usage_based", price=None, tiers=tiers)
    assert buy(buyer, plugin).json()["status"] == "active"
    subscription = Subscription.objects.get()
    Subscription.objects.filter(pk=subscription.pk).update(current_period_start=datetime(2026, 9, 1, tzinfo=UTC))
    installation = InstallationFactory(plugin=plugin, user=buyer)
    october = datetime(2026, 10, 10, tzinfo=UTC)
    rows = [PluginUsage(plugin_id=plugin.pk, user=buyer, installation_id=installation.pk, action="function:grade",
                        resource_type="plugin", outcome="ok") for _ in range(250)]
    rows += [PluginUsage(plugin_id=plugin.pk, user=buyer, installation_id=installation.pk, action="function:grade",
                         resource_type="plugin", outcome="error") for _ in range(7)]  # failed runs are not billed
    PluginUsage.objects.bulk_create(rows)
    PluginUsage.objects.update(created_at=october)

    invoices = services.usage_invoices_create(period=date(2026, 10, 1))
    assert len(invoices) == 1
    invoice = invoices[0]
    assert (invoice.quantity, invoice.amount, invoice.status) == (250, Decimal("6.50"), "paid")
    entry = RevenueEntry.objects.get(transaction_type="usage")
    assert (entry.amount, entry.developer_share, entry.period_start) == (
        Decimal("6.50"), Decimal("4.55"), date(2026, 10, 1))
    services.usage_invoices_create(period=date(2026, 10, 1))
    assert UsageInvoice.objects.count() == 1 and RevenueEntry.objects.filter(transaction_type="usage").count() == 1
    # A month without use charges nothing.
    november = services.usage_invoices_create(period=date(2026, 11, 1))
    assert november[0].status == "void" and november[0].amount == 0


def test_tier_pricing():
    tiers = [{"up_to": 10, "unit_price": "1.00"}, {"up_to": 20, "unit_price": "0.50"},
             {"up_to": None, "unit_price": "0.1234"}]
    assert services.price_tiers(quantity=0, tiers=tiers, currency="USD") == Decimal("0.00")
    assert services.price_tiers(quantity=10, tiers=tiers, currency="USD") == Decimal("10.00")
    assert services.price_tiers(quantity=15, tiers=tiers, currency="USD") == Decimal("12.50")
    assert services.price_tiers(quantity=25, tiers=tiers, currency="USD") == Decimal("15.62")  # 15 + 0.617


def test_staff_refund_reverses_the_share_and_ends_the_entitlement(buyer):
    plugin = paid_plugin(price="20.00")
    buy(buyer, plugin)
    payment = RevenueEntry.objects.get()
    refund = services.refund_create(entry=payment)
    assert (refund.amount, refund.platform_fee, refund.developer_share) == (
        Decimal("-20.00"), Decimal("-6.00"), Decimal("-14.00"))
    assert Purchase.objects.get().status == "refunded"
    assert not revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    assert not revenue_api.has_purchased(user=buyer, plugin_id=plugin.pk)
    with pytest.raises(services.Conflict):
        services.refund_create(entry=payment)
    # Refunded, the buyer may buy again.
    assert buy(buyer, plugin).status_code == 201


def test_buy_page_says_no_money_moves_and_buys(client, buyer):
    plugin = paid_plugin(price="9.99")
    client.force_login(buyer)
    page = client.get(f"/plugins/{plugin.pk}/buy/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "notice-test-mode" in html and "no money moves" in html
    assert "9.99" in html
    response = client.post(f"/plugins/{plugin.pk}/buy/")
    assert response.status_code == 302 and response["Location"] == f"/plugins/{plugin.pk}/"
    assert revenue_api.entitlement_exists(plugin_id=plugin.pk, user=buyer)
    again = client.post(f"/plugins/{plugin.pk}/buy/")
    assert again.status_code == 400 and "already have" in again.content.decode()


def test_buy_page_requires_sign_in_and_an_existing_plugin(client, buyer):
    plugin = paid_plugin()
    assert client.get(f"/plugins/{plugin.pk}/buy/").status_code == 302
    client.force_login(buyer)
    assert client.get("/plugins/missing/buy/").status_code == 404


def test_local_subscriptions_renew_at_period_end_and_stop_when_cancelled(buyer):
    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    buy(buyer, plugin)
    subscription = Subscription.objects.get()
    end = subscription.current_period_end
    assert services.subscriptions_renew_local(now=end - timedelta(seconds=1)) == 0
    assert services.subscriptions_renew_local(now=end) == 1
    assert services.subscriptions_renew_local(now=end) == 0  # the same period is not charged twice
    subscription.refresh_from_db()
    assert subscription.current_period_end == end + timedelta(days=30)
    assert RevenueEntry.objects.filter(transaction_type="subscription").count() == 2
    services.subscription_cancel(subscription=subscription, user=buyer)
    assert services.subscriptions_renew_local(now=subscription.current_period_end) == 0
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert RevenueEntry.objects.filter(transaction_type="subscription").count() == 2


def test_cancel_api_and_billing_page_only_touch_your_own_subscription(client, buyer):
    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    buy(buyer, plugin)
    subscription = Subscription.objects.get()
    intruder = UserFactory()
    for target in (str(subscription.pk), "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = api(intruder).post(f"/api/revenue/subscriptions/{target}/cancel")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    client.force_login(intruder)
    client.post("/my/billing/", {"subscription_id": str(subscription.pk)})
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end

    client.force_login(buyer)
    page = client.get("/my/billing/").content.decode()
    assert plugin.name in page and "notice-test-mode" in page and f"Cancel {plugin.name}" in page
    assert client.post("/my/billing/", {"subscription_id": str(subscription.pk)}).status_code == 302
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end
    body = api(buyer).post(f"/api/revenue/subscriptions/{subscription.pk}/cancel").json()
    assert body["cancel_at_period_end"] is True and body["status"] == "active"


def test_subscribers_are_told_of_a_price_change_and_pay_it_from_the_date_they_were_told(
    client, buyer, django_capture_on_commit_callbacks, mailoutbox
):
    from host.models import Notification

    plugin = paid_plugin(model="subscription", price="4.99", interval="month")
    other, leaver = UserFactory(), UserFactory()
    for user in (buyer, other, leaver):
        assert buy(user, plugin).json()["status"] == "active"
    Subscription.objects.filter(user=leaver).update(status="canceled", canceled_at=timezone.now())
    subscription = Subscription.objects.get(user=buyer)
    first_renewal = subscription.current_period_end

    plugin.pricing = {**plugin.pricing, "price": "6.99"}
    plugin.save()
    with django_capture_on_commit_callbacks(execute=True):
        new_price = revenue_api.pricing_setup(plugin=plugin)

    # 30 days' notice: the renewal in 30 days is too soon, so the new price starts at the one after it.
    subscription.refresh_from_db()
    applies = first_renewal + timedelta(days=30)
    assert subscription.pending_price == new_price and subscription.pending_price_effective_at == applies
    assert subscription.pending_price_effective_at >= timezone.now() + timedelta(days=30)
    day = timezone.localtime(applies)
    when = f"{day.day} {day:%B %Y}"
    # Each live subscriber is told once, in the portal and by e-mail (a Celery task after the commit), with the date.
    notices = Notification.objects.filter(title=f"{plugin.name}: new price from {when}")
    assert sorted(n.user_id for n in notices) == sorted([buyer.pk, other.pk])
    assert "from 4.99 to 6.99 USD per month" in notices[0].body and notices[0].link == "/my/billing/"
    assert sorted(m.to[0] for m in mailoutbox) == sorted([buyer.email, other.email])
    assert all(when in m.subject and "6.99 USD" in m.body for m in mailoutbox)
    # A retried task tells nobody twice.
    from revenue import tasks

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.notify_price_change.delay(str(new_price.pk)).get() == 0
    assert len(mailoutbox) == 2 and Notification.objects.filter(title__contains="new price").count() == 2
    # The subscriber's page says what changes and when.
    client.force_login(buyer)
    page = client.get("/my/billing/").content.decode()
    assert f"New price: 6.99 USD / month from {when}" in page
    assert "4.99 USD / month" in page

    # The renewal before that date is at the old price, the one on it at the new price.
    services.subscriptions_renew_local(now=first_renewal + timedelta(hours=1))
    services.subscriptions_renew_local(now=applies + timedelta(hours=1))
    renewals = RevenueEntry.objects.filter(transaction_type="subscription", developer=plugin.developer,
                                           external_id__contains=subscription.external_id)
    assert sorted((r.period_start, r.amount) for r in renewals) == [
        (subscription.current_period_start.date(), Decimal("4.99")),
        (first_renewal.date(), Decimal("4.99")),
        (applies.date(), Decimal("6.99")),
    ]
    subscription.refresh_from_db()
    assert subscription.price == new_price and subscription.pending_price is None
    assert "New price" not in client.get("/my/billing/").content.decode()
