"""The fake Stripe's objects have Stripe's shapes: every field it answers exists in Stripe's published example of
that object (../shared/stripe/fixtures3.json, from stripe/openapi) with the same JSON type.

Every answer the fake gives in a test is checked the same way when the fake stops (conftest.fake_stripe).

The fixtures live outside the repository; in CI they must be there (conftest.require fails the test), on a laptop
without them the test is skipped with a message saying where they are expected.
"""

import json

import pytest

from conftest import require
from tests.revenue.conftest import STRIPE_FIXTURES as FIXTURES
from tests.revenue.stripe_fake import TEMPLATES, shape_problems


@pytest.fixture(scope="module")
def stripe_resources():
    require(FIXTURES.is_file(), f"Stripe's fixtures at {FIXTURES} (../shared/stripe/fixtures3.json)")
    return json.loads(FIXTURES.read_text())["resources"]


@pytest.mark.parametrize("object_type", sorted(TEMPLATES))
def test_fake_objects_match_stripes_published_shapes(stripe_resources, object_type):
    assert object_type in stripe_resources, f"Stripe publishes no {object_type} object"
    theirs = stripe_resources[object_type]
    ours = TEMPLATES[object_type]
    assert ours["object"] == theirs["object"]
    problems = shape_problems(ours, theirs, object_type)
    assert not problems, "\n".join(problems)


def test_every_field_the_revenue_code_reads_is_in_stripes_objects(stripe_resources):
    """The webhook receivers and the gateway read these fields; Stripe's objects must have them."""
    read = {
        "checkout.session": ["id", "mode", "payment_status", "payment_intent", "subscription", "metadata",
                             "client_reference_id", "url"],
        "payment_intent": ["id", "metadata"],
        "invoice": ["id", "currency", "amount_paid", "metadata", "lines", "parent"],
        "charge": ["payment_intent", "currency", "refunds"],
        "refund": ["id", "amount", "status"],
        "dispute": ["id", "payment_intent", "currency", "amount"],
        "transfer": ["id", "amount", "currency", "metadata", "transfer_group"],
        "account": ["id", "payouts_enabled"],
        "account_link": ["url"],
        "subscription": ["id", "items"],
        "product": ["id"],
        "price": ["id"],
    }
    missing = [f"{obj}.{field}" for obj, fields in read.items() for field in fields
               if field not in stripe_resources[obj]]
    assert not missing, f"fields read by revenue/ but absent from Stripe's objects: {missing}"
