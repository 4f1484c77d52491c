"""Fixtures of the revenue tests: paid plugins, buyers, developers with payout accounts, the fake Stripe server."""

from decimal import Decimal

import pytest
from django.utils import timezone

from revenue.models import PayoutAccount
from tests.factories import DeveloperFactory, PluginFactory, UserFactory
from tests.revenue.stripe_fake import FakeStripe

FAKE_KEY = "sk_test_" + "fakefakefake" * 3


def paid_plugin(*, model="one_time", price="10.00", currency="USD", developer=None, **pricing):
    data = {"model": model, "currency": currency, **pricing}
    if model != "usage_based":
        data["price"] = price
    plugin_kwargs = {"pricing": data, "pricing_model": model, "price": Decimal(price) if price else Decimal("0"),
                     "currency": currency, "published_at": timezone.now(), "version": "1.0.0"}
    if developer is not None:
        plugin_kwargs["developer"] = developer
    return PluginFactory(**plugin_kwargs)


@pytest.fixture
def buyer(db):
    return UserFactory()


@pytest.fixture
def developer(db):
    developer = DeveloperFactory()
    PayoutAccount.objects.create(developer=developer, gateway="local", account_id="local-acct-1",
                                 payouts_enabled=True)
    return developer


@pytest.fixture
def make_paid_plugin(db):
    return paid_plugin


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    """Stripe's API, offline: a local HTTP server answering Stripe-shaped JSON and recording every request."""
    import stripe

    server = FakeStripe()
    server.start()
    monkeypatch.setattr(stripe, "api_base", server.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    settings.STRIPE_API_HOST = server.url
    settings.PAYMENT_GATEWAY = "revenue.gateways.stripe.StripeGateway"
    settings.STRIPE_TEST_SECRET_KEY = FAKE_KEY
    yield server
    server.stop()
