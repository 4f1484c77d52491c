"""Spec §Caching Strategy, for the Plugin API: API responses (5 min) under `plugin:api:{plugin_id}:{endpoint}:
{hash(params)}`. The hash covers the installation (tenants never share an answer), the acting user and the installed
version, so a new version starts with a cold cache at once and the old entries expire on their own.

Plugin metadata (1 h, `plugin:metadata:{plugin_id}`) is the marketplace's cache (marketplace/cache.py). Plugin code
is kept unpacked and precompiled on disk per plugin, version and package hash (runtime/plugin_files.py), which a new
version can never hit by mistake; it needs no Redis copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

API_TTL = 300


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
