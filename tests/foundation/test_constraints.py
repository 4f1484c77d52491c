"""The database itself refuses what the schema forbids (run on PostgreSQL in CI)."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from runtime.models import Installation
from tests.factories import (
    InstallationFactory,
    OrganizationFactory,
    PluginFactory,
    PluginVersionFactory,
    RevenueEntryFactory,
    ReviewFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _refused(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_a_six_star_rating_is_refused_by_the_database():
    review = ReviewFactory()
    _refused(lambda: type(review).objects.filter(pk=review.pk).update(rating=6))
    _refused(lambda: type(review).objects.filter(pk=review.pk).update(rating=0))


def test_a_second_review_by_the_same_user_is_refused():
    review = ReviewFactory()
    _refused(lambda: ReviewFactory(plugin=review.plugin, user=review.user))


def test_a_second_installation_for_the_same_user_is_refused_but_other_users_may_install():
    installation = InstallationFactory()
    _refused(lambda: InstallationFactory(plugin=installation.plugin, user=installation.user))
    # The spec's global UNIQUE(plugin_id) would refuse this one: it is a bug we fixed.
    assert InstallationFactory(plugin=installation.plugin, user=UserFactory()).pk


def test_one_installation_per_organization_and_history_does_not_block_reinstall():
    org = OrganizationFactory()
    first = InstallationFactory(org=org)
    _refused(lambda: InstallationFactory(plugin=first.plugin, org=org, user=UserFactory()))

    Installation.objects.filter(pk=first.pk).update(status=Installation.Status.UNINSTALLED)
    again = InstallationFactory(plugin=first.plugin, org=org, user=first.user)
    assert again.pk != first.pk


def test_a_negative_download_count_is_refused():
    plugin = PluginFactory()
    if connection.vendor == "sqlite":
        # SQLite has no unsigned type; the CHECK constraint still holds.
        pass
    _refused(lambda: type(plugin).objects.filter(pk=plugin.pk).update(downloads=-1))


def test_the_fee_and_the_share_must_add_up_to_the_amount():
    _refused(
        lambda: RevenueEntryFactory(amount=Decimal("10.00"), platform_fee=Decimal("3.00"),
                                    developer_share=Decimal("6.99"))
    )
    assert RevenueEntryFactory(amount=Decimal("10.00"), platform_fee=Decimal("3.00"),
                               developer_share=Decimal("7.00")).pk


def test_a_currency_must_be_an_iso_code():
    _refused(lambda: RevenueEntryFactory(currency="usd"))


def test_an_unknown_category_is_refused():
    _refused(lambda: PluginFactory(category="malware"))


def test_a_version_number_is_unique_per_plugin_and_platform_range_is_ordered():
    version = PluginVersionFactory()
    _refused(lambda: PluginVersionFactory(plugin=version.plugin, version="1.0.0"))
    _refused(lambda: PluginVersionFactory(version="2.0.0", min_platform_key=300000000, max_platform_key=200000000))


def test_the_same_package_cannot_be_uploaded_twice():
    version = PluginVersionFactory()
    _refused(lambda: PluginVersionFactory(version="1.0.1", plugin=version.plugin, sha256=version.sha256))
