"""My plugins and the dashboard, with plugin code running in the real sandbox: install from the marketplace,
activate, see the widget, update, roll back, deactivate, uninstall; and nobody acts on another's installation."""


import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from runtime.models import Installation
from tests.factories import PluginFactory, UserFactory
from tests.marketplace.packaged import packaged_version

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox]


@pytest.fixture
def quizmaster():
    plugin = PluginFactory(id="quizmaster", name="Quiz Master", published_at=timezone.now(), verified=True,
                           tags=["quiz"])
    packaged_version(plugin, "1.0.0")
    return plugin


def act(client, installation, action):
    return client.post(f"/my/plugins/{installation.pk}/{action}/", follow=True)


def test_install_activate_dashboard_update_rollback_deactivate_uninstall(
    client, sandbox, quizmaster, django_capture_on_commit_callbacks
):
    user = UserFactory()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):  # provisioning runs on commit
        response = client.post("/plugins/quizmaster/install/", {"scopes": ["content:read"]})
    assert response.status_code == 302
    installation = Installation.objects.get(user=user)
    assert installation.status == "installed", installation.last_error

    page = act(client, installation, "activate").content.decode()
    assert "Quiz Master is activated." in page
    dashboard = client.get("/dashboard/").content.decode()
    assert "Quiz scores" in dashboard and "Class average: <strong>87%</strong> (v1.0.0)" in dashboard
    assert 'href="/plugins/quizmaster/"' in dashboard and "Quiz reports" in dashboard

    packaged_version(quizmaster, "1.1.0")
    assert "1.1.0 available" in client.get("/my/plugins/").content.decode()
    assert "Quiz Master is updated." in act(client, installation, "update").content.decode()
    installation.refresh_from_db()
    assert installation.version == "1.1.0" and installation.permissions == ["content:read"]

    assert "Quiz Master is rolled back." in act(client, installation, "rollback").content.decode()
    installation.refresh_from_db()
    assert installation.version == "1.0.0"

    act(client, installation, "deactivate")
    assert "Quiz scores" not in client.get("/dashboard/").content.decode()

    act(client, installation, "uninstall")
    installation.refresh_from_db()
    assert installation.status == "uninstalled"
    assert "not installed any plugin" in client.get("/my/plugins/").content.decode()


def test_uninstalling_a_plugin_another_one_depends_on_is_refused_naming_it(
    client, sandbox, quizmaster, django_capture_on_commit_callbacks
):
    extras = PluginFactory(id="quiz-extras", name="Quiz Extras", published_at=timezone.now(), verified=True)
    packaged_version(extras, "1.0.0", dependencies=[{"id": "quizmaster", "version": "^1.0.0"}])
    user = UserFactory()
    client.force_login(user)
    installed = {}
    for plugin_id in ("quizmaster", "quiz-extras"):  # the dependency first: the install needs it active
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/plugins/{plugin_id}/install/", {"scopes": ["content:read"]})
        installed[plugin_id] = Installation.objects.get(user=user, plugin_id=plugin_id)
        assert "is activated." in act(client, installed[plugin_id], "activate").content.decode()

    page = act(client, installed["quizmaster"], "uninstall").content.decode()
    assert ("Quiz Master cannot be uninstalled: Quiz Extras (quiz-extras) depends on it. "
            "Deactivate or uninstall it first.") in page
    installed["quizmaster"].refresh_from_db()
    assert installed["quizmaster"].status == "active"

    assert "Quiz Extras is uninstalled." in act(client, installed["quiz-extras"], "uninstall").content.decode()
    assert "Quiz Master is uninstalled." in act(client, installed["quizmaster"], "uninstall").content.decode()


def test_nobody_acts_on_another_users_installation(client, quizmaster):
    owner, attacker = UserFactory(), UserFactory()
    installation = Installation.objects.create(plugin=quizmaster, user=owner, version="1.0.0",
                                               plugin_version=quizmaster.versions.get(), status="active")
    client.force_login(attacker)

    for action in ("deactivate", "uninstall", "update", "rollback", "activate"):
        assert client.post(f"/my/plugins/{installation.pk}/{action}/").status_code == 404
    assert client.post(f"/my/plugins/{installation.pk}/explode/").status_code == 404
    assert client.get(f"/my/plugins/{installation.pk}/uninstall/").status_code == 405
    installation.refresh_from_db()
    assert installation.status == "active"
    assert "Quiz Master" not in client.get("/my/plugins/").content.decode()


def test_an_up_to_date_installation_is_not_updated(client, quizmaster):
    user = UserFactory()
    installation = Installation.objects.create(plugin=quizmaster, user=user, version="1.0.0",
                                               plugin_version=quizmaster.versions.get(), status="installed",
                                               permissions=["content:read"])
    client.force_login(user)

    page = act(client, installation, "update").content.decode()

    assert "is the newest version for this platform" in page


def test_my_plugins_and_dashboard_queries_do_not_grow_with_installations(client):
    user = UserFactory()
    client.force_login(user)

    def count(url):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def add(n):
        plugin = PluginFactory(id=f"p{n}", published_at=timezone.now())
        version = packaged_version(plugin, "1.0.0")
        Installation.objects.create(plugin=plugin, user=user, version="1.0.0", plugin_version=version,
                                    status="installed", permissions=["content:read"])

    add(0)
    few = (count("/my/plugins/"), count("/dashboard/"))
    for n in range(1, 12):
        add(n)
    many = (count("/my/plugins/"), count("/dashboard/"))

    assert few == many
