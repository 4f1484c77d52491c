"""`seed_demo` builds a believable marketplace, and running it twice changes nothing."""

import io
import zipfile

import pytest
from django.core.management import call_command

from aisquare_plugin_sdk.manifest import CATEGORIES, parse_manifest
from developers.models import Developer
from host.models import Organization, User
from marketplace.models import Plugin, PluginVersion
from revenue.models import RevenueEntry
from reviews.models import Review
from runtime.models import Installation, PluginUsage


def _counts():
    return {model.__name__: model.objects.count() for model in (
        User, Developer, Organization, Plugin, PluginVersion, Installation, PluginUsage, Review, RevenueEntry)}


@pytest.mark.django_db
def test_seed_demo_twice_gives_the_same_counts_and_a_believable_marketplace():
    call_command("seed_demo", stdout=io.StringIO())
    first = _counts()
    call_command("seed_demo", stdout=io.StringIO())

    assert _counts() == first
    assert first["Developer"] >= 3 and first["Organization"] >= 1
    assert first["Plugin"] >= 40
    assert set(Plugin.objects.values_list("category", flat=True)) == set(CATEGORIES)
    assert set(Plugin.objects.values_list("pricing_model", flat=True)) == {
        "free", "one_time", "subscription", "usage_based"}
    assert first["Installation"] and first["Review"] and first["RevenueEntry"]
    for role in ("learner", "orgadmin", "dev-labs", "reviewer"):
        assert User.objects.get(username=role).check_password("demo-pass-2026")


@pytest.mark.django_db
def test_every_demo_package_is_a_valid_plugin_package():
    call_command("seed_demo", stdout=io.StringIO())
    for version in PluginVersion.objects.all():
        with version.package.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            manifest = parse_manifest(archive.read("plugin.json"))
            assert manifest.id == version.plugin_id
            assert str(manifest.version) == version.version
            compile(archive.read("plugin.py"), "plugin.py", "exec")
