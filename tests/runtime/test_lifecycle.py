"""The installation lifecycle through the services, with plugin code running in the real sandbox."""

import pytest

from aisquare_plugins.exceptions import Conflict, ServiceError
from runtime import api
from runtime.models import Installation, PluginStorageItem, PluginUsage
from runtime.plugin_files import data_dir_for
from tests.factories import InstallationFactory, PluginFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox]

HOOKS_SOURCE = '''
context = None

def init(ctx):
    global context
    context = ctx

def on_install():
    context.storage.set("installed", True)
    with open("/data/notes.txt", "w") as f:
        f.write("hello")

def on_activate():
    context.storage.set("activations", (context.storage.get("activations") or 0) + 1)

def on_deactivate():
    context.storage.set("deactivated", True)

def on_update(previous_version):
    context.storage.set("updated_from", previous_version)

def state():
    return {k: context.storage.get(k) for k in ("installed", "activations", "deactivated", "updated_from")}

def notes():
    return open("/data/notes.txt").read()

def version():
    return VERSION

VERSION = "one"
'''


def test_install_activate_invoke_deactivate_uninstall(sandbox, make_version, install):
    version = make_version(HOOKS_SOURCE)
    installation = install(version)
    assert installation.status == Installation.Status.ACTIVE
    assert data_dir_for(installation.pk).is_dir()

    result = api.installation_invoke(installation=installation, function="state", args=[], kwargs={})
    assert result["value"] == {"installed": True, "activations": 1, "deactivated": None, "updated_from": None}
    assert result["wall_ms"] > 0 and result["peak_memory_kb"] > 0
    assert api.installation_invoke(installation=installation, function="notes")["value"] == "hello"

    # Every run and every API call is audited, with wall time, CPU time and peak memory for the runs.
    run = PluginUsage.objects.filter(installation_id=installation.pk, action="function:state").get()
    assert run.outcome == "ok" and {"wall_ms", "cpu_ms", "peak_memory_kb"} <= set(run.metadata)
    assert PluginUsage.objects.filter(installation_id=installation.pk, action="storage.get").count() >= 4
    assert api.user_has_used_plugin(user=installation.user, plugin_id=installation.plugin_id)

    api.installation_deactivate(installation=installation)
    installation.refresh_from_db()
    assert installation.status == Installation.Status.INSTALLED
    with pytest.raises(Conflict):
        api.installation_invoke(installation=installation, function="state")
    assert PluginStorageItem.objects.get(installation=installation, key="deactivated").value is True

    api.installation_uninstall(installation=installation)
    installation.refresh_from_db()
    assert installation.status == Installation.Status.UNINSTALLED
    assert not data_dir_for(installation.pk).exists()
    assert not PluginStorageItem.objects.filter(installation=installation).exists()


def test_update_runs_on_update_in_the_new_code_and_rollback_returns(sandbox, make_version, install):
    v1 = make_version(HOOKS_SOURCE)
    installation = install(v1)
    assert api.installation_invoke(installation=installation, function="version")["value"] == "one"
    v2 = make_version(HOOKS_SOURCE.replace('VERSION = "one"', 'VERSION = "two"'), version="1.1.0",
                      plugin=v1.plugin)
    installation = api.installation_update(installation=installation, plugin_version=v2)
    assert installation.version == "1.1.0" and installation.status == Installation.Status.ACTIVE
    # The warm worker of 1.0.0 was replaced: the next call runs the new code.
    assert api.installation_invoke(installation=installation, function="version")["value"] == "two"
    assert api.installation_invoke(installation=installation, function="state")["value"]["updated_from"] == "1.0.0"

    installation = api.installation_rollback(installation=installation)
    assert installation.version == "1.0.0"
    assert api.installation_invoke(installation=installation, function="version")["value"] == "one"


def test_a_failing_hook_leaves_the_previous_state_with_the_error(sandbox, make_version, install):
    source = "def on_activate():\n    raise ValueError('not today')\n\ndef f():\n    return 1\n"
    installation = install(make_version(source), activate=False)
    assert installation.status == Installation.Status.INSTALLED
    with pytest.raises(ServiceError) as info:
        api.installation_activate(installation=installation)
    assert info.value.code == "hook_failed"
    installation.refresh_from_db()
    assert installation.status == Installation.Status.INSTALLED
    assert "not today" in installation.last_error


def test_a_hook_that_times_out_fails_the_install_and_leaves_nothing(sandbox, make_version, install, settings):
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "function_timeout": 1}
    installation = install(make_version("import time\n\ndef on_install():\n    time.sleep(60)\n"))
    assert installation.status == Installation.Status.FAILED
    assert "timeout" in installation.last_error
    assert not data_dir_for(installation.pk).exists()


def test_a_failing_update_keeps_the_old_version(sandbox, make_version, install):
    v1 = make_version(HOOKS_SOURCE)
    installation = install(v1)
    v2 = make_version("def on_update(previous):\n    raise RuntimeError('broken')\n", version="2.0.0",
                      plugin=v1.plugin)
    with pytest.raises(ServiceError):
        api.installation_update(installation=installation, plugin_version=v2)
    installation.refresh_from_db()
    assert installation.version == "1.0.0" and installation.status == Installation.Status.ACTIVE
    assert "broken" in installation.last_error
    assert api.installation_invoke(installation=installation, function="version")["value"] == "one"


@pytest.mark.django_db
def test_consent_is_required_for_every_required_scope(make_version):
    version = make_version(permissions=[{"scope": "content:read", "reason": "Reads lessons"},
                                        {"scope": "ai:use", "reason": "Summaries", "optional": True}])
    user = UserFactory()
    with pytest.raises(ServiceError) as info:
        api.installation_install(plugin_version=version, user=user, granted_scopes=["ai:use"])
    assert info.value.code == "consent_required" and info.value.fields == {"scopes": ["content:read"]}
    with pytest.raises(ServiceError) as info:
        api.installation_install(plugin_version=version, user=user, granted_scopes=["content:read", "users:read"])
    assert info.value.code == "invalid_scopes"
    installation = api.installation_install(plugin_version=version, user=user, granted_scopes=["content:read"])
    assert installation.status == Installation.Status.INSTALLING
    assert installation.permissions == ["content:read"]


@pytest.mark.django_db
def test_dependencies_must_be_installed_and_active_first(make_version):
    version = make_version(plugin_id="needs-deps", dependencies=[{"id": "base-lib", "version": "^1.2.0"}])
    user = UserFactory()
    with pytest.raises(ServiceError) as info:
        api.installation_install(plugin_version=version, user=user, granted_scopes=[])
    assert info.value.code == "missing_dependencies"
    assert info.value.fields == {"dependencies": [{"id": "base-lib", "version": "^1.2.0"}]}
    # Installed but too old, or inactive, does not count.
    base = PluginFactory(id="base-lib")
    InstallationFactory(plugin=base, user=user, version="1.1.0", status=Installation.Status.ACTIVE)
    with pytest.raises(ServiceError):
        api.installation_install(plugin_version=version, user=user, granted_scopes=[])
    Installation.objects.filter(plugin=base).update(version="1.4.2")
    assert api.installation_install(plugin_version=version, user=user, granted_scopes=[]).status == "installing"


@pytest.mark.django_db
def test_no_sandbox_means_no_plugin_code(make_version, install, settings):
    settings.SANDBOX_BACKEND = "runtime.sandbox.bubblewrap.Missing"
    from runtime.sandbox.pool import reset_pool

    reset_pool()
    installation = install(make_version())
    assert installation.status == Installation.Status.FAILED
    assert "sandbox" in installation.last_error.lower()
    reset_pool()
