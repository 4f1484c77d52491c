"""/api/plugins/…: the installation endpoints, as the owner, as a stranger and as an organization admin."""

import pytest
from django.test import TestCase
from rest_framework.test import APIClient

from runtime.models import Installation
from tests.factories import InstallationFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.django_db]


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.sandbox
def test_install_activate_invoke_deactivate_uninstall_over_http(sandbox, make_version):
    make_version()
    owner = UserFactory()
    client = client_for(owner)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/api/plugins/install", {"plugin_id": "benign", "source": "marketplace"},
                               format="json")
    assert response.status_code in (201, 202), response.content
    installation_id = response.json()["id"]
    assert response.json()["status"] in ("installing", "installed")

    listed = client.get("/api/plugins/installed").json()["results"]
    assert [i["id"] for i in listed] == [installation_id] and listed[0]["status"] == "installed"

    assert client.put(f"/api/plugins/{installation_id}/activate").json()["status"] == "active"
    response = client.post(f"/api/plugins/{installation_id}/invoke", {"function": "add", "args": [2, 40]},
                           format="json")
    assert response.status_code == 200 and response.json()["value"] == 42
    response = client.post(f"/api/plugins/{installation_id}/invoke",
                           {"function": "remember", "args": ["colour", "teal"]}, format="json")
    assert response.json()["value"] == "teal"

    response = client.post(f"/api/plugins/{installation_id}/invoke", {"function": "missing"}, format="json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "plugin_error"

    assert client.put(f"/api/plugins/{installation_id}/deactivate").json()["status"] == "installed"
    response = client.post(f"/api/plugins/{installation_id}/invoke", {"function": "add", "args": [1, 1]},
                           format="json")
    assert response.status_code == 409
    assert client.delete(f"/api/plugins/{installation_id}").json()["status"] == "uninstalled"
    assert client.get("/api/plugins/installed").json()["results"] == []


def test_consent_and_unknown_plugin_errors(make_version):
    make_version(plugin_id="reader", permissions=[{"scope": "content:read", "reason": "Reads lessons"}])
    client = client_for(UserFactory())
    response = client.post("/api/plugins/install", {"plugin_id": "reader"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "consent_required"
    response = client.post("/api/plugins/install", {"plugin_id": "nope"}, format="json")
    assert response.status_code == 404


def test_others_get_404_for_every_action():
    installation = InstallationFactory()
    stranger = client_for(UserFactory())
    base = f"/api/plugins/{installation.pk}"
    assert stranger.put(f"{base}/activate").status_code == 404
    assert stranger.put(f"{base}/deactivate").status_code == 404
    assert stranger.delete(base).status_code == 404
    assert stranger.post(f"{base}/invoke", {"function": "add"}, format="json").status_code == 404
    assert stranger.get("/api/plugins/installed").json()["results"] == []
    installation.refresh_from_db()
    assert installation.status == Installation.Status.ACTIVE


def test_an_org_admin_acts_on_the_orgs_installation_and_a_member_does_not():
    org = OrganizationFactory()
    admin = MembershipFactory(organization=org, role="admin").user
    member = MembershipFactory(organization=org, role="member").user
    installation = InstallationFactory(org=org, user=admin, status=Installation.Status.INSTALLED)
    assert client_for(member).delete(f"/api/plugins/{installation.pk}").status_code == 404
    other_admin = MembershipFactory(organization=org, role="admin").user
    listed = client_for(other_admin).get("/api/plugins/installed").json()["results"]
    assert [i["id"] for i in listed] == [str(installation.pk)]


def test_anonymous_is_refused():
    assert APIClient().get("/api/plugins/installed").status_code in (401, 403)
