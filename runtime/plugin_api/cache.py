"""Spec §Caching Strategy, for the Plugin API: API responses (5 min) under `plugin:api:{plugin_id}:{endpoint}:
{hash(params)}`. The hash covers the installation (tenants never share an answer), the acting user and the installed
version, so a new version starts with a cold cache at once and the old entries expire on their own.

Plugin metadata (1 h) under `plugin:metadata:{plugin_id}`: the manifest subset the runtime reads on every start,
call and consent check (id, version, permissions, main, dependencies, limits) of the plugin's published version, so
the hot paths need not load the manifest column. An entry names its version and package hash and is used only for
that exact version: a stale entry can cost a read, never give a wrong answer.

Plugin code (24 h) under `plugin:code:{plugin_id}:{version}`: the package bytes (≤ PACKAGE_MAX_BYTES), so a sandbox
host whose unpacked code directory (runtime/plugin_files.py) is missing does not fetch the package from storage (S3
in production) again. The bytes are checked against the version's sha256 before use.

Both are dropped by `plugin_caches_invalidate` when a version is published or yanked (marketplace/catalogue.py calls
it on commit through runtime.api). Granted scopes and status are not cached here: the gateway keeps them per process
only while the installation's state token is unchanged (admission.py). See docs/runtime-caching.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

API_TTL = 300
METADATA_TTL = 3600
CODE_TTL = 86400
METADATA_FIELDS = ("id", "version", "permissions", "main", "dependencies", "limits")
PUBLISHED = "approved"


def metadata_key(plugin_id: str) -> str:
    return f"plugin:metadata:{plugin_id}"


def code_key(plugin_id: str, version: str) -> str:
    return f"plugin:code:{plugin_id}:{version}"


def _subset(manifest: Any) -> dict[str, Any]:
    manifest = manifest if isinstance(manifest, dict) else {}
    return {field: manifest[field] for field in METADATA_FIELDS if field in manifest}


def plugin_metadata(plugin_version) -> dict[str, Any]:
    """The runtime's view of a version's manifest: from the cache when it holds this exact version and package,
    else from the row (which may then load its deferred manifest column), cached when the version is published."""
    plugin_id, version = plugin_version.plugin_id, plugin_version.version
    sha256 = getattr(plugin_version, "sha256", "")
    key = metadata_key(plugin_id)
    hit = cache.get(key)
    if isinstance(hit, dict) and hit.get("version") == version and hit.get("sha256") == sha256:
        return hit["manifest"]
    subset = _subset(plugin_version.manifest)
    if getattr(plugin_version, "status", None) == PUBLISHED:
        cache.set(key, {"version": version, "sha256": sha256, "manifest": subset}, timeout=METADATA_TTL)
    return subset


def package_bytes(plugin_version, read: Callable[[], bytes]) -> bytes:
    """The version's package bytes: from the cache when they hash to the version's sha256, else `read()` from
    storage and cached when small enough. What `read()` returns is passed on unchanged (read_package checks it)."""
    key = code_key(plugin_version.plugin_id, plugin_version.version)
    hit = cache.get(key)
    if isinstance(hit, bytes) and hashlib.sha256(hit).hexdigest() == plugin_version.sha256:
        return hit
    data = read()
    if len(data) <= settings.PACKAGE_MAX_BYTES and hashlib.sha256(data).hexdigest() == plugin_version.sha256:
        cache.set(key, data, timeout=CODE_TTL)
    return data


def plugin_caches_invalidate(*, plugin_id: str, versions: list[str] | tuple[str, ...] = ()) -> None:
    """Forget a plugin's metadata and the cached code of the given versions (publish/yank changes them)."""
    cache.delete_many([metadata_key(plugin_id), *(code_key(plugin_id, v) for v in versions)])


def api_key(plugin_id: str, endpoint: str, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"plugin:api:{plugin_id}:{endpoint}:{digest}"


def cached_api_response(ctx, endpoint: str, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
    key = api_key(ctx.plugin_id, endpoint, {"p": params, "i": ctx.installation_id, "u": ctx.user_id,
                                            "v": ctx.version})
    hit = cache.get(key)
    if hit is not None:
        ctx.audit_metadata["cache"] = "hit"
        return hit
    value = compute()
    cache.set(key, value, timeout=API_TTL)
    return value
