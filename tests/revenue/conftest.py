"""Fixtures of the revenue tests: paid plugins, buyers, developers with payout accounts, the fake Stripe server."""

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from revenue.models import PayoutAccount
from tests.factories import DeveloperFactory, PluginFactory, UserFactory
from tests.revenue.stripe_fake import FakeStripe, answer_problems

FAKE_KEY = "sk_test_" + "fakefakefake" * 3
# Stripe's published example objects (from stripe/openapi), outside the repository: ../shared/stripe/fixtures3.json.
STRIPE_FIXTURES = Path(os.environ.get(
    "STRIPE_FIXTURES", Path(__file__).resolve().parents[3] / "shared" / "stripe" / "fixtures3.json"))


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
    # Every answer the test got has Stripe's shapes (test_stripe_contract.py requires the fixtures in CI).
    if STRIPE_FIXTURES.is_file():
        problems = answer_problems(server, json.loads(STRIPE_FIXTURES.read_text())["resources"])
        assert not problems, "the fake answered objects Stripe would not:\n" + "\n".join(problems)
