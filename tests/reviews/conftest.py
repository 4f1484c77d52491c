"""Fixtures of the reviews tests: a listed plugin and users who used it (runtime.api.user_has_used_plugin reads
PluginUsage rows with outcome "ok")."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from runtime.models import Installation, PluginUsage
from tests.factories import InstallationFactory, PluginFactory, PluginUsageFactory, UserFactory


@pytest.fixture
def plugin(db):
    return PluginFactory(published_at=timezone.now(), version="1.0.0", name="Quiz Builder")


def install(user, plugin, *, status=Installation.Status.ACTIVE, version="1.0.0"):
    return InstallationFactory(plugin=plugin, user=user, status=status, version=version)


def use(user, plugin, *, outcome=PluginUsage.Outcome.OK, version="1.0.0"):
    """The user installed the plugin and it made one recorded call on their behalf."""
    installation = Installation.objects.filter(plugin=plugin, user=user).first()
    installation = installation or install(user, plugin, version=version)
    PluginUsageFactory(
        plugin_id=plugin.pk, user=user, installation_id=installation.pk, version=version, outcome=outcome
    )
    return installation


@pytest.fixture
def reviewer(plugin):
    user = UserFactory()
    use(user, plugin)
    return user


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def post_review(user, plugin_id, **body):
    payload = {"rating": 4, "title": "Good", "review": "Saves me an hour a week."}
    payload.update(body)
    return api_client(user).post(f"/api/marketplace/plugins/{plugin_id}/review", payload, format="json")
