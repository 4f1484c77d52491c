"""Spec §Caching Strategy, for the runtime: plugin code (24 h) and Plugin API responses (5 min).

Keys follow the spec: `plugin:code:{plugin_id}:{version}` and `plugin:api:{plugin_id}:{endpoint}:{hash(params)}`.
The API key's hash covers the installation (tenants never share an answer) and the installed version, so a new
version starts with a cold cache and the old entries expire on their own; `plugin_caches_invalidate` also drops the
code entry of a version at once. (Plugin metadata, 1 h, is the marketplace's: `marketplace.api`.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

CODE_TTL = 86400
API_TTL = 300


def code_key(plugin_id: str, version: str) -> str:
    return f"plugin:code:{plugin_id}:{version}"


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


def code_get_or_load(plugin_id: str, version: str, load: Callable[[], dict[str, str]]) -> dict[str, str]:
    """A version's source files ({path: text}), from the cache or `load()`; kept 24 hours."""
    key = code_key(plugin_id, version)
    files = cache.get(key)
    if files is None:
        files = load()
        cache.set(key, files, timeout=CODE_TTL)
    return files


def plugin_caches_invalidate(*, plugin_id: str, version: str | None = None) -> None:
    """Call when a version changes (update, rollback, yank): its code entry goes now; API entries are keyed by the
    installed version, so they stop being read at once."""
    if version:
        cache.delete(code_key(plugin_id, version))
