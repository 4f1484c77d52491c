"""POST /api/marketplace/plugins/{id}/install and the consent page: consent, 409s, 402, the download counter."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from marketplace.models import Plugin, PluginVersion
from revenue.models import PriceRecord, Purchase
from runtime.models import Installation
from tests.factories import InstallationFactory, PluginFactory, UserFactory
from tests.marketplace.helpers import add_version, listed

pytestmark = pytest.mark.django_db


def url(plugin_id):
    return f"/api/marketplace/plugins/{plugin_id}/install"


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def paid_plugin(**fields):
    return listed(pricing_model="one_time", price=Decimal("5.00"),
                  pricing={"model": "one_time", "price": "5.00", "currency": "USD"}, **fields)


def test_install_with_consent_creates_the_installation_and_counts_the_download(api, user):
    listed(id="quizzer", downloads=41)

    response = api.post(url("quizzer"), {"granted_scopes": ["content:read", "ai:use"]}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    installation = Installation.objects.get(pk=body["installation_id"])
    assert installation.user == user and installation.plugin_id == "quizzer"
    assert sorted(installation.permissions) == ["ai:use", "content:read"]
    assert body["activation_required"] is True and body["version"] == "1.0.0"
    assert Plugin.objects.get(pk="quizzer").downloads == 42


def test_optional_scopes_are_granted_only_when_chosen(api):
    listed(id="quizzer")

    api.post(url("quizzer"), {"granted_scopes": ["content:read"]}, format="json")

    assert Installation.objects.get().permissions == ["content:read"]


def test_without_consent_to_a_required_scope_nothing_is_installed(api):
    listed(id="quizzer", downloads=3)

    response = api.post(url("quizzer"), {"granted_scopes": ["ai:use"]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "consent_required"
    assert "content:read" in response.json()["error"]["message"]
    assert not Installation.objects.exists()
    assert Plugin.objects.get(pk="quizzer").downloads == 3


def test_a_scope_the_plugin_does_not_ask_for_is_refused(api):
    listed(id="quizzer")

    response = api.post(url("quizzer"), {"granted_scopes": ["content:read", "system:admin"]}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"granted_scopes": ["system:admin"]}
    assert not Installation.objects.exists()


def test_already_installed_is_409(api, user):
    plugin = listed(id="quizzer")
    InstallationFactory(plugin=plugin, user=user, status="installed")

    response = api.post(url("quizzer"), {"granted_scopes": ["content:read"]}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_installed"
    assert Installation.objects.count() == 1


def test_reinstall_after_uninstall_is_allowed(api, user):
    plugin = listed(id="quizzer")
    InstallationFactory(plugin=plugin, user=user, status="uninstalled")

    assert api.post(url("quizzer"), {"granted_scopes": ["content:read"]}, format="json").status_code == 201


def test_incompatible_with_this_platform_is_409_with_the_reason(api, settings):
    settings.PLATFORM_VERSION = "2.4.0"
    listed(id="future", min_platform="3.0.0")

    response = api.post(url("future"), {"granted_scopes": ["content:read"]}, format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "incompatible"
    assert "2.4.0" in error["message"] and "3.0.0" in error["message"]
    assert not Installation.objects.exists()


def test_installs_the_newest_version_that_runs_here_not_a_newer_incompatible_one(api, settings):
    settings.PLATFORM_VERSION = "2.4.0"
    plugin = listed(id="quizzer", version="1.0.0")
    add_version(plugin, "1.5.0", max_platform="2.9.0")
    add_version(plugin, "2.0.0", min_platform="3.0.0")
    add_version(plugin, "1.9.0", status=PluginVersion.Status.YANKED)

    response = api.post(url("quizzer"), {"granted_scopes": ["content:read"]}, format="json")

    assert response.json()["version"] == "1.5.0"


def test_a_paid_plugin_without_payment_is_402(api):
    paid_plugin(id="premium", downloads=7)

    response = api.post(url("premium"), {"granted_scopes": ["content:read"]}, format="json")

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_required"
    assert not Installation.objects.exists()
    assert Plugin.objects.get(pk="premium").downloads == 7


def test_a_paid_plugin_installs_after_purchase_but_not_on_someone_elses(api, user):
    plugin = paid_plugin(id="premium")
    price = PriceRecord.objects.create(plugin=plugin, model="one_time", amount=Decimal("5.00"), currency="USD",
                                       gateway="local")
    other = UserFactory()
    Purchase.objects.create(plugin=plugin, user=other, price=price, amount=Decimal("5.00"), currency="USD",
                            status=Purchase.Status.PAID)
    assert api.post(url("premium"), {"granted_scopes": ["content:read"]}, format="json").status_code == 402

    Purchase.objects.create(plugin=plugin, user=user, price=price, amount=Decimal("5.00"), currency="USD",
                            status=Purchase.Status.PAID)

    assert api.post(url("premium"), {"granted_scopes": ["content:read"]}, format="json").status_code == 201


@pytest.mark.parametrize("status", ["yanked", "rejected", "quarantined", "uploaded"])
def test_a_plugin_without_approved_version_cannot_be_installed(api, status):
    add_version(PluginFactory(id="hidden"), status=status)

    response = api.post(url("hidden"), {"granted_scopes": ["content:read"]}, format="json")

    assert response.status_code == 404
    assert not Installation.objects.exists()


def test_anonymous_install_is_refused():
    listed(id="quizzer")

    response = APIClient().post(url("quizzer"), {"granted_scopes": ["content:read"]}, format="json")

    assert response.status_code in (401, 403)
    assert not Installation.objects.exists()


def test_granted_scopes_must_be_a_list_of_strings(api):
    listed(id="quizzer")

    response = api.post(url("quizzer"), {"granted_scopes": "content:read"}, format="json")

    assert response.status_code == 400
    assert not Installation.objects.exists()


# --- the consent page -------------------------------------------------------------------------------------------


def test_consent_page_installs_and_sends_to_my_plugins(client, user):
    client.force_login(user)
    listed(id="quizzer")

    response = client.post("/plugins/quizzer/install/", {"scopes": ["content:read"]})

    assert response.status_code == 302 and response["Location"] == "/my/plugins/"
    assert Installation.objects.get().permissions == ["content:read"]


def test_consent_page_without_required_consent_explains_and_installs_nothing(client, user):
    client.force_login(user)
    listed(id="quizzer")

    response = client.post("/plugins/quizzer/install/", {"scopes": []})

    assert response.status_code == 400
    assert "content:read" in response.content.decode()
    assert not Installation.objects.exists()


def test_consent_page_for_a_paid_plugin_says_payment_is_required(client, user):
    client.force_login(user)
    paid_plugin(id="premium")

    response = client.post("/plugins/premium/install/", {"scopes": ["content:read"]})

    assert response.status_code == 402
    assert "payment is required" in response.content.decode()
    assert 'href="/plugins/premium/buy/"' in response.content.decode()


def test_consent_page_post_needs_the_csrf_token(user):
    from django.test import Client

    listed(id="quizzer")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.post("/plugins/quizzer/install/", {"scopes": ["content:read"]}).status_code == 403
    assert not Installation.objects.exists()


# --- organizations ----------------------------------------------------------------------------------------------


def test_an_org_admin_installs_for_the_organization(api, user):
    from tests.factories import MembershipFactory

    membership = MembershipFactory(user=user, role="admin")
    listed(id="quizzer")

    response = api.post(url("quizzer"), {"granted_scopes": ["content:read"], "org_id": str(membership.organization_id)},
                        format="json")

    assert response.status_code == 201, response.content
    installation = Installation.objects.get()
    assert installation.org_id == membership.organization_id
    assert response.json()["org_id"] == str(membership.organization_id)
    # A personal install of the same plugin is still possible, and a second org install is not.
    assert api.post(url("quizzer"), {"granted_scopes": ["content:read"]}, format="json").status_code == 201
    again = api.post(url("quizzer"), {"granted_scopes": ["content:read"], "org_id": str(membership.organization_id)},
                     format="json")
    assert again.status_code == 409


@pytest.mark.parametrize("role", ["member", None])
def test_installing_for_an_organization_one_does_not_administer_is_not_found(api, user, role):
    from tests.factories import MembershipFactory, OrganizationFactory

    org = MembershipFactory(user=user, role=role).organization if role else OrganizationFactory()
    listed(id="quizzer", downloads=0)

    response = api.post(url("quizzer"), {"granted_scopes": ["content:read"], "org_id": str(org.pk)}, format="json")

    assert response.status_code == 404
    assert not Installation.objects.exists()
    assert Plugin.objects.get(pk="quizzer").downloads == 0


def test_consent_page_offers_the_administered_organizations(client, user):
    from tests.factories import MembershipFactory

    admin_of = MembershipFactory(user=user, role="admin").organization
    member_of = MembershipFactory(user=user, role="member").organization
    client.force_login(user)
    listed(id="quizzer")

    page = client.get("/plugins/quizzer/install/").content.decode()
    assert admin_of.name in page and member_of.name not in page

    response = client.post("/plugins/quizzer/install/", {"scopes": ["content:read"], "org": str(admin_of.pk)})
    assert response.status_code == 302
    assert Installation.objects.get().org == admin_of
    forged = client.post("/plugins/quizzer/install/", {"scopes": ["content:read"], "org": str(member_of.pk)})
    assert forged.status_code == 404
