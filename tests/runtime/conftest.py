"""Fixtures of the runtime tests: real packages in the catalogue and installations driven through the services, in
the real bubblewrap sandbox (the project-wide `sandbox` fixture: skipped on a laptop without it, required in CI)."""

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.test import TestCase

from runtime import services
from runtime.package import read_package
from runtime.sandbox.volumes import unmount_all_under
from tests.factories import PluginFactory, PluginVersionFactory, UserFactory
from tests.runtime.packages import BENIGN_SOURCE, build_package
from tests.runtime.sandboxes import (  # noqa: F401 - fixtures: run a test against each sandbox backend
    any_sandbox,
    bubblewrap_sandbox,
    docker_engine,
    docker_sandbox,
    terminal_summary,
)


def pytest_terminal_summary(terminalreporter):
    """Say plainly whether the container backend's tests ran, and on which engine."""
    terminal_summary(terminalreporter)


@pytest.fixture(autouse=True)
def _unmount_data_volumes(settings):
    yield
    unmount_all_under(settings.PLUGIN_ROOT)


@pytest.fixture
def make_version():
    def make(source=BENIGN_SOURCE, *, plugin_id="benign", version="1.0.0", plugin=None, **manifest_extra):
        data = build_package(source, plugin_id=plugin_id, version=version, **manifest_extra)
        package = read_package(data)
        plugin = plugin or PluginFactory(id=plugin_id)
        major, minor, patch = (int(p) for p in version.split("."))
        return PluginVersionFactory(
            plugin=plugin, version=version, version_major=major, version_minor=minor, version_patch=patch,
            package=ContentFile(data, name=f"{plugin_id}-{version}.zip"), sha256=hashlib.sha256(data).hexdigest(),
            size=len(data), manifest=package.manifest.data,
        )

    return make


@pytest.fixture
def install():
    def do(plugin_version, *, user=None, scopes=(), activate=True, limits=None):
        user = user or UserFactory()
        # The provisioning task is queued on commit: run it (eagerly) as the commit would.
        with TestCase.captureOnCommitCallbacks(execute=True):
            installation = services.installation_install(plugin_version=plugin_version, user=user,
                                                         granted_scopes=list(scopes))
        installation.refresh_from_db()
        if limits:
            installation.settings = {"limits": limits}
            installation.save(update_fields=["settings"])
        if activate and installation.status == "installed":
            installation = services.installation_activate(installation=installation)
        return installation

    return do
