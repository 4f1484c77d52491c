"""Optional scopes granted and revoked after install, by the installation's owner only; required ones stay."""

import pytest

from aisquare_plugins.exceptions import NotFound, ServiceError
from runtime import api as runtime_api
from runtime.models import PluginUsage
from runtime.plugin_api import audit
from runtime.plugin_api.gateway import APIRefusal
from tests.factories import PluginVersionFactory


@pytest.fixture
def installation(world, install):
    version = PluginVersionFactory(manifest={"id": "p", "permissions": [
        {"scope": "content:read", "reason": "list lessons"},
        {"scope": "ai:use", "reason": "summaries", "optional": True}]})
    return install(["content:read"], plugin=version.plugin, plugin_version=version)


def test_grant_and_revoke_an_optional_scope_bite_on_the_next_call(world, installation, call,
                                                                  django_capture_on_commit_callbacks):
    with pytest.raises(APIRefusal):
        call(installation, "ai.generateContent", prompt="hi")
    runtime_api.installation_scopes_set(installation=installation, user=world.admin,
                                        granted_scopes=["content:read", "ai:use"])
    assert call(installation, "ai.generateContent", prompt="hi")
    with django_capture_on_commit_callbacks(execute=True):
        runtime_api.installation_scopes_set(installation=installation, user=world.admin,
                                            granted_scopes=["content:read"])
    with pytest.raises(APIRefusal) as refused:
        call(installation, "ai.generateContent", prompt="hi")
    assert refused.value.code == "permission_denied"
    audit.flush()
    actions = list(PluginUsage.objects.filter(installation_id=installation.pk, resource_type="scope")
                   .order_by("created_at").values_list("action", "resource_id"))
    assert actions == [("permissions.grant", "ai:use"), ("permissions.revoke", "ai:use")]


def test_required_scopes_cannot_be_revoked_and_unknown_ones_not_granted(world, installation):
    with pytest.raises(ServiceError) as refused:
        runtime_api.installation_scopes_set(installation=installation, user=world.admin, granted_scopes=[])
    assert refused.value.code == "required_scope"
    with pytest.raises(ServiceError) as refused:
        runtime_api.installation_scopes_set(installation=installation, user=world.admin,
                                            granted_scopes=["content:read", "system:admin"])
    assert refused.value.code == "invalid_scopes"
    installation.refresh_from_db()
    assert installation.permissions == ["content:read"]


def test_only_the_owner_or_an_org_admin_may_change_grants(world, installation):
    for intruder in (world.member, world.outsider):
        with pytest.raises(NotFound):
            runtime_api.installation_scopes_set(installation=installation, user=intruder,
                                                granted_scopes=["content:read", "ai:use"])
    installation.refresh_from_db()
    assert installation.permissions == ["content:read"]
