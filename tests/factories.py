"""factory_boy factories for the core models, shared by every app's tests."""

import hashlib
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from developers.models import Developer
from host.models import Membership, Organization
from marketplace.catalogue import listing_state_refresh
from marketplace.models import Category, Plugin, PluginVersion
from revenue.models import RevenueEntry
from reviews.models import Review
from runtime.models import Installation, PluginUsage


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("pass-word-123")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"School {n}")
    slug = factory.Sequence(lambda n: f"school-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class DeveloperFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Developer

    user = factory.SubFactory(UserFactory)
    company_name = factory.Sequence(lambda n: f"Studio {n}")
    support_email = factory.LazyAttribute(lambda o: f"support@{o.company_name.lower().replace(' ', '')}.test")


class PluginFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plugin

    id = factory.Sequence(lambda n: f"plugin-{n}")
    developer = factory.SubFactory(DeveloperFactory)
    name = factory.Sequence(lambda n: f"Plugin {n}")
    description = "A plugin that helps teachers and learners."
    author = factory.LazyAttribute(lambda o: {"name": o.developer.company_name})
    category = Category.ASSESSMENT
    tags = factory.LazyFunction(lambda: ["assessment"])
    pricing = factory.LazyFunction(lambda: {"model": "free"})


class PluginVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PluginVersion

    plugin = factory.SubFactory(PluginFactory)
    version = "1.0.0"
    version_major = 1
    package = factory.LazyAttribute(lambda o: ContentFile(b"PK\x05\x06" + b"\0" * 18, name=f"{o.plugin.id}.zip"))
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"package-{n}".encode()).hexdigest())
    manifest = factory.LazyAttribute(lambda o: {"id": o.plugin.id, "name": o.plugin.name, "version": o.version})
    min_platform_version = "2.0.0"
    min_platform_key = 200000000
    status = PluginVersion.Status.APPROVED

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # A version row written directly, as the catalogue's services would: its plugin's `listed` columns follow.
        version = super()._create(model_class, *args, **kwargs)
        listing_state_refresh(plugin=version.plugin)
        return version


class InstallationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Installation

    plugin = factory.SubFactory(PluginFactory)
    user = factory.SubFactory(UserFactory)
    version = "1.0.0"
    status = Installation.Status.ACTIVE


class PluginUsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PluginUsage

    plugin_id = factory.Sequence(lambda n: f"plugin-{n}")
    action = "storage.get"


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    plugin = factory.SubFactory(PluginFactory)
    user = factory.SubFactory(UserFactory)
    rating = 5
    title = "Great"
    review = "Works well in my classes."


class RevenueEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RevenueEntry

    plugin = factory.SubFactory(PluginFactory)
    developer = factory.LazyAttribute(lambda o: o.plugin.developer)
    transaction_type = RevenueEntry.TransactionType.PURCHASE
    amount = Decimal("10.00")
    currency = "USD"
    platform_fee = Decimal("3.00")
    developer_share = Decimal("7.00")
    payment_status = RevenueEntry.PaymentStatus.SUCCEEDED
