"""A plugin that other active installations of the same owner depend on (their manifest `dependencies`) cannot be
uninstalled or deactivated: the service, `DELETE /api/plugins/{id}` and `PUT /api/plugins/{id}/deactivate` answer
409 naming the dependants; once the dependants are gone it works. Other owners' installations do not count."""

import pytest
from rest_framework.test import APIClient

from aisquare_plugins.exceptions import Conflict, ServiceError
from runtime import api
from runtime.models import Installation
from tests.factories import (
    InstallationFactory,
    MembershipFactory,
    OrganizationFactory,
    PluginFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox]


@pytest.fixture
def family(sandbox, make_version, install):
    """A user's active `base-lib` and the active `reports` that depends on it, both installed through the services
    (so `reports` could only be installed because `base-lib` was active)."""
    user = UserFactory()
    base = install(make_version(plugin_id="base-lib", version="1.2.0"), user=user)
    reports_version = make_version(plugin_id="reports", plugin=PluginFactory(id="reports", name="Reports"),
                                   dependencies=[{"id": "base-lib", "version": "^1.0.0"}])
    reports = install(reports_version, user=user)
    assert (base.status, reports.status) == ("active", "active")
    return user, base, reports


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_service_refuses_and_names_the_dependants_then_works_once_they_are_gone(family):
    user, base, reports = family
    for action, verb in ((api.installation_uninstall, "uninstalled"), (api.installation_deactivate, "deactivated")):
        with pytest.raises(Conflict) as refused:
            action(installation=base)
        assert refused.value.status_code == 409 and refused.value.code == "has_dependants"
        assert f"cannot be {verb}" in refused.value.message and "Reports (reports)" in refused.value.message
        assert refused.value.fields == {"dependants": [
            {"installation_id": str(reports.pk), "plugin_id": "reports", "name": "Reports", "status": "active"}]}
        base.refresh_from_db()
        assert base.status == "active"  # nothing happened: no hook ran, the API was not revoked
    assert api.installation_invoke(installation=base, function="add", args=[2, 3])["value"] == 5

    api.installation_uninstall(installation=reports)
    assert api.installation_uninstall(installation=base).status == "uninstalled"


def test_an_inactive_dependant_does_not_hold_it_but_cannot_come_back_without_it(family):
    user, base, reports = family
    api.installation_deactivate(installation=reports)
    api.installation_deactivate(installation=base)
    api.installation_uninstall(installation=base)
    with pytest.raises(ServiceError) as refused:
        api.installation_activate(installation=reports)
    assert refused.value.code == "missing_dependencies"
    assert refused.value.fields == {"dependencies": [{"id": "base-lib", "version": "^1.0.0"}]}
    reports.refresh_from_db()
    assert reports.status == "installed"


def test_other_owners_installations_do_not_count(sandbox, make_version, install):
    user, stranger = UserFactory(), UserFactory()
    base = install(make_version(plugin_id="base-lib", version="1.2.0"), user=user)
    reports_version = make_version(plugin_id="reports", plugin=PluginFactory(id="reports", name="Reports"),
                                   dependencies=[{"id": "base-lib", "version": "^1.0.0"}])
    # Someone else's active dependant, and the same user's dependant installed for an organization they run.
    InstallationFactory(plugin=reports_version.plugin, plugin_version=reports_version, user=stranger)
    org = OrganizationFactory()
    MembershipFactory(organization=org, user=user, role="admin")
    InstallationFactory(plugin=reports_version.plugin, plugin_version=reports_version, user=user, org=org)
    assert api.installation_uninstall(installation=base).status == "uninstalled"


def test_within_an_organization_the_orgs_dependants_count_and_a_members_personal_ones_do_not(
    sandbox, make_version, install
):
    org = OrganizationFactory()
    admin = MembershipFactory(organization=org, role="admin").user
    base_version = make_version(plugin_id="base-lib", version="1.2.0")
    reports_version = make_version(plugin_id="reports", plugin=PluginFactory(id="reports", name="Reports"),
                                   dependencies=[{"id": "base-lib", "version": "^1.0.0"}])
    base = InstallationFactory(plugin=base_version.plugin, plugin_version=base_version, user=admin, org=org)
    InstallationFactory(plugin=reports_version.plugin, plugin_version=reports_version, user=admin)  # personal
    dependant = InstallationFactory(plugin=reports_version.plugin, plugin_version=reports_version, user=admin,
                                    org=org, status=Installation.Status.UPDATING)  # mid-update counts as active
    with pytest.raises(Conflict) as refused:
        api.installation_deactivate(installation=base)
    assert [d["installation_id"] for d in refused.value.fields["dependants"]] == [str(dependant.pk)]


def test_over_http_delete_and_deactivate_answer_409_naming_the_dependants(family):
    user, base, reports = family
    client = client_for(user)
    for response in (client.delete(f"/api/plugins/{base.pk}"), client.put(f"/api/plugins/{base.pk}/deactivate")):
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "has_dependants" and "Reports (reports)" in error["message"]
        assert [d["plugin_id"] for d in error["fields"]["dependants"]] == ["reports"]
    base.refresh_from_db()
    assert base.status == "active"
    # Another user cannot even learn that the installation exists.
    assert client_for(UserFactory()).delete(f"/api/plugins/{base.pk}").status_code == 404

    assert client.delete(f"/api/plugins/{reports.pk}").status_code == 200
    response = client.delete(f"/api/plugins/{base.pk}")
    assert response.status_code == 200 and response.json()["status"] == "uninstalled"


def test_an_update_out_of_a_dependants_range_is_refused_and_one_within_it_goes_through(family, make_version):
    user, base, reports = family
    breaking = make_version(plugin_id="base-lib", version="2.0.0", plugin=base.plugin)
    with pytest.raises(Conflict) as refused:
        api.installation_update(installation=base, plugin_version=breaking)
    assert refused.value.code == "has_dependants"
    assert "cannot be moved to version 2.0.0" in refused.value.message and "Reports (reports)" in refused.value.message
    base.refresh_from_db()
    assert (base.status, base.version, base.plugin_version_id) == ("active", "1.2.0", base.plugin_version_id)
    assert api.installation_invoke(installation=base, function="add", args=[1, 1])["value"] == 2

    compatible = make_version(plugin_id="base-lib", version="1.3.0", plugin=base.plugin)
    updated = api.installation_update(installation=base, plugin_version=compatible)
    assert (updated.status, updated.version) == ("active", "1.3.0")
    # Once the dependant is gone, the breaking version is allowed.
    api.installation_uninstall(installation=reports)
    assert api.installation_update(installation=updated, plugin_version=breaking).version == "2.0.0"


def test_an_update_that_needs_a_plugin_the_owner_lacks_is_refused_and_leaves_the_installation_as_it_was(
    family, make_version
):
    user, base, reports = family
    needs_more = make_version(plugin_id="reports", version="1.1.0", plugin=reports.plugin,
                              dependencies=[{"id": "base-lib", "version": "^1.0.0"},
                                            {"id": "charts", "version": ">=2.0.0"}])
    with pytest.raises(ServiceError) as refused:
        api.installation_update(installation=reports, plugin_version=needs_more)
    assert refused.value.code == "missing_dependencies"
    assert refused.value.fields == {"dependencies": [{"id": "charts", "version": ">=2.0.0"}]}
    reports.refresh_from_db()
    assert (reports.status, reports.version) == ("active", "1.0.0")
