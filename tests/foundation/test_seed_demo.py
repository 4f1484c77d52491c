"""`seed_demo` builds a believable marketplace, and running it twice changes nothing."""

import io
import zipfile

import pytest
from django.core.management import call_command
from django.test import TestCase

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


@pytest.mark.sandbox
@pytest.mark.django_db
def test_demo_plugins_install_and_run_in_the_real_sandbox():
    import shutil

    from conftest import require
    from runtime import api as runtime_api

    require(shutil.which("bwrap") is not None, "bubblewrap")
    with TestCase.captureOnCommitCallbacks(execute=True):  # the queued provisioning tasks find nothing to do
        call_command("seed_demo", stdout=io.StringIO())
    learner = User.objects.get(username="learner")
    # The demo login's plugins were installed, provisioned and activated through the real runtime.
    statuses = dict(runtime_api.installations_for_user(user=learner).values_list("plugin_id", "status"))
    assert statuses == {"advanced-assessment-suite": "active", "focus-timer": "active", "midnight-theme": "active",
                        "lesson-summaries": "active"}

    focus = runtime_api.installations_for_user(user=learner).get(plugin_id="focus-timer")
    result = runtime_api.installation_invoke(installation=focus, function="hello", kwargs={"name": "Lena"})
    assert result["value"] == {"greeting": "Hello, Lena!", "plugin": "focus-timer"}
    extensions = str(runtime_api.ui_extensions_for_user(user=learner))
    assert "Focus Timer" in extensions and "Advanced Assessment" in extensions
