"""Spec §Caching Strategy for the runtime: plugin metadata (1 h) and code (24 h) under the spec's keys, used on the
hot paths, dropped when a version is published or yanked; granted scopes are never cached."""

import hashlib
import shutil

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import TestCase

from marketplace import catalogue
from marketplace.models import PluginVersion
from runtime import api as runtime_api
from runtime import plugin_files, services
from runtime.models import Installation
from runtime.package import read_package
from runtime.plugin_api import cache as plugin_cache
from tests.factories import InstallationFactory, PluginFactory, PluginVersionFactory
from tests.runtime.packages import build_package

pytestmark = pytest.mark.django_db

MANIFEST = {"id": "cachey", "version": "1.0.0", "main": "plugin.py", "description": "x" * 500,
            "permissions": [{"scope": "content:read", "reason": "r"}], "dependencies": [], "limits": {"memory": 64}}


class SpyCache:
    """The real cache, with every set() recorded (key, timeout)."""

    def __init__(self):
        self.sets = []

    def __getattr__(self, name):
        return getattr(cache, name)

    def set(self, key, value, timeout=None):
        self.sets.append((key, timeout))
        return cache.set(key, value, timeout=timeout)


@pytest.fixture
def spy(monkeypatch):
    spy = SpyCache()
    monkeypatch.setattr(plugin_cache, "cache", spy)
    return spy


def _real_version(plugin_id="cachey", status=PluginVersion.Status.APPROVED):
    data = build_package(plugin_id=plugin_id)
    package = read_package(data)
    return PluginVersionFactory(
        plugin=PluginFactory(id=plugin_id), version="1.0.0", package=ContentFile(data, name=f"{plugin_id}.zip"),
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), manifest=package.manifest.data, status=status,
    ), data


def test_metadata_miss_then_hit_under_the_spec_key_and_ttl(spy, django_assert_num_queries):
    version = PluginVersionFactory(plugin=PluginFactory(id="cachey"), version="1.0.0", manifest=MANIFEST)
    installation = InstallationFactory(plugin=version.plugin, plugin_version=version, version="1.0.0")

    def load():
        return (Installation.objects.select_related("plugin_version").defer("plugin_version__manifest")
                .get(pk=installation.pk))

    cold = load()
    with django_assert_num_queries(1):  # the deferred manifest column, read once on a miss
        subset = services._manifest(cold.plugin_version)
    assert subset == {k: MANIFEST[k] for k in ("id", "version", "permissions", "main", "dependencies", "limits")}
    assert "description" not in subset
    assert spy.sets == [("plugin:metadata:cachey", 3600)]
    warm = load()
    with django_assert_num_queries(0):  # a hit never touches the manifest column
        assert services._manifest(warm.plugin_version) == subset
    assert len(spy.sets) == 1


def test_metadata_of_another_version_or_package_is_never_served(spy):
    one = PluginVersionFactory(plugin=PluginFactory(id="cachey"), version="1.0.0", manifest=MANIFEST)
    two = PluginVersionFactory(plugin=one.plugin, version="2.0.0", manifest={**MANIFEST, "version": "2.0.0",
                                                                            "main": "two.py"})
    assert services._manifest(one)["main"] == "plugin.py"
    assert services._manifest(two)["main"] == "two.py"
    # Same version string, different package (hash): the cached entry does not apply either.
    one.sha256, one.manifest = "0" * 64, {**MANIFEST, "main": "other.py"}
    assert services._manifest(one)["main"] == "other.py"


def test_metadata_of_an_unpublished_version_is_not_cached(spy):
    version = PluginVersionFactory(plugin=PluginFactory(id="cachey"), manifest=MANIFEST,
                                   status=PluginVersion.Status.PASSED)
    assert services._manifest(version)["id"] == "cachey"
    assert spy.sets == []


def test_code_is_cached_by_version_and_saves_rereading_storage_when_the_code_dir_is_gone(spy, monkeypatch):
    version, data = _real_version()
    dest, main = services._code_for(version)
    assert (dest / plugin_files.COMPLETE_MARKER).exists() and main == "plugin.py"
    assert ("plugin:code:cachey:1.0.0", 86400) in spy.sets
    assert cache.get("plugin:code:cachey:1.0.0") == data
    shutil.rmtree(dest)  # another sandbox host, or a wiped disk

    def no_storage(*args, **kwargs):
        raise AssertionError("the package was read from storage again")

    monkeypatch.setattr(type(version.package), "open", no_storage)
    dest_again, _ = services._code_for(version)
    assert dest_again == dest and (dest / plugin_files.COMPLETE_MARKER).exists()
    shutil.rmtree(dest)


def test_cached_code_that_does_not_match_the_version_hash_is_ignored(spy):
    version, data = _real_version()
    evil = build_package("def init(ctx):\n    pass\n", plugin_id="cachey")
    cache.set("plugin:code:cachey:1.0.0", evil)
    assert plugin_cache.package_bytes(version, lambda: data) == data
    assert cache.get("plugin:code:cachey:1.0.0") == data  # replaced by the genuine bytes


def test_oversized_packages_are_not_cached(spy, settings):
    version, data = _real_version()
    settings.PACKAGE_MAX_BYTES = len(data) - 1
    assert plugin_cache.package_bytes(version, lambda: data) == data
    assert spy.sets == [] and cache.get("plugin:code:cachey:1.0.0") is None


def _warm(version, data):
    services._manifest(version)
    plugin_cache.package_bytes(version, lambda: data)
    assert cache.get("plugin:metadata:cachey") is not None and cache.get("plugin:code:cachey:1.0.0") is not None


def test_publishing_a_version_drops_the_plugins_metadata_and_code():
    version, data = _real_version()
    _warm(version, data)
    newer = PluginVersionFactory(plugin=version.plugin, version="1.1.0", manifest={**MANIFEST, "version": "1.1.0"},
                                 status=PluginVersion.Status.PASSED)
    with TestCase.captureOnCommitCallbacks(execute=True):
        catalogue.plugin_version_publish(version=newer)
    assert cache.get("plugin:metadata:cachey") is None
    assert cache.get("plugin:code:cachey:1.0.0") is None


def test_yanking_a_version_drops_the_plugins_metadata_and_code():
    version, data = _real_version()
    _warm(version, data)
    with TestCase.captureOnCommitCallbacks(execute=True):
        catalogue.plugin_version_yank(version=version, reason="broken")
    assert cache.get("plugin:metadata:cachey") is None
    assert cache.get("plugin:code:cachey:1.0.0") is None
    version.refresh_from_db()
    services._manifest(version)  # a yanked version is read from its row, and not cached again
    assert cache.get("plugin:metadata:cachey") is None


def test_invalidation_leaves_other_plugins_alone():
    version, data = _real_version()
    _warm(version, data)
    other = PluginVersionFactory(plugin=PluginFactory(id="other"), manifest={**MANIFEST, "id": "other"})
    services._manifest(other)
    with TestCase.captureOnCommitCallbacks(execute=True):
        catalogue.plugin_version_yank(version=version, reason="broken")
    assert cache.get("plugin:metadata:other") is not None


def test_a_revoked_scope_is_refused_on_the_next_call_even_with_a_cached_response(world, install, call):
    from runtime.plugin_api.gateway import APIRefusal

    version = PluginVersionFactory(manifest={"id": "p", "permissions": [
        {"scope": "analytics:write", "reason": "track"},
        {"scope": "analytics:read", "reason": "reports", "optional": True}]})
    installation = install(["analytics:read", "analytics:write"], plugin=version.plugin, plugin_version=version)
    call(installation, "analytics.track", event={"event": "opened"})
    first = call(installation, "analytics.query", query={"event": "opened"})
    assert call(installation, "analytics.query", query={"event": "opened"}) == first
    from runtime.models import PluginUsage

    assert PluginUsage.objects.filter(installation_id=installation.pk, action="analytics.query",
                                      metadata__cache="hit").exists()  # answered from the response cache
    runtime_api.installation_scopes_set(installation=installation, user=world.admin, granted_scopes=["analytics:write"])
    with pytest.raises(APIRefusal) as refused:
        call(installation, "analytics.query", query={"event": "opened"})
    assert refused.value.code == "permission_denied"


def test_invalidating_one_version_keeps_the_code_of_the_others():
    cache.set("plugin:metadata:cachey", {"version": "1.0.0"})
    cache.set("plugin:code:cachey:1.0.0", b"one")
    cache.set("plugin:code:cachey:2.0.0", b"two")
    runtime_api.plugin_caches_invalidate(plugin_id="cachey", version="2.0.0")
    assert cache.get("plugin:metadata:cachey") is None and cache.get("plugin:code:cachey:2.0.0") is None
    assert cache.get("plugin:code:cachey:1.0.0") == b"one"
