"""An installation's own key-value storage: the Plugin API's storage.get / storage.set / storage.delete.

No scope is needed (it is the installation's own data), but the gateway still checks the installation, counts the
call against the rate limit and audits it. Values are JSON; keys and values are capped and the installation's total
is held under a quota (settings.PLUGIN_STORAGE_QUOTA_BYTES, 5 MiB by default).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum

from runtime.models import PluginStorageItem
from runtime.plugin_api.gateway import APIRefusal, CallContext, LimitRefused, host_function, require

_TABLE = PluginStorageItem._meta.db_table
_GET_SQL = f"SELECT value FROM {_TABLE} WHERE installation_id = %s AND key = %s"  # noqa: S608 - constant names
_GET_SQL_PG = f"SELECT value FROM {_TABLE} WHERE installation_id = %s::uuid AND key = %s::text"  # noqa: S608
_VALUE_FIELD = PluginStorageItem._meta.get_field("value")
_ID_FIELD = PluginStorageItem._meta.get_field("installation").target_field
MAX_KEY_LENGTH = 255
MAX_VALUE_BYTES = 256 * 1024


def quota_bytes() -> int:
    return int(getattr(settings, "PLUGIN_STORAGE_QUOTA_BYTES", 5 * 1024 * 1024))


def _key(params: dict[str, Any]) -> str:
    key = require(params, "key", str)
    if len(key) > MAX_KEY_LENGTH or "\x00" in key:
        raise APIRefusal("invalid", f"key must be at most {MAX_KEY_LENGTH} characters, without NUL.")
    return key


@host_function("storage.get", scope=None)
def storage_get(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    key = _key(params)
    ctx.touched("storage", key)
    row = _read(ctx.installation_id, key)
    if row is None:
        return {"found": False, "value": None}
    return {"found": True, "value": _VALUE_FIELD.from_db_value(row[0], None, connection)}


def _read(installation_id: str, key: str):
    """The hottest host function's one indexed read, in plain SQL (the ORM's query compilation cost more than the
    query itself). On PostgreSQL it is a prepared statement on the request's connection: parsed and planned once per
    connection, then only executed (about half the time of the unprepared read here)."""
    installation_id = _ID_FIELD.to_python(installation_id)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        # Django turns psycopg's automatic preparation off (prepare_threshold None, for connection poolers) and binds
        # on the client; this one statement is prepared explicitly, through a server-side binding cursor. psycopg
        # keeps it per connection and drops it on rollback (it is then prepared again).
        threshold, raw.prepare_threshold = raw.prepare_threshold, 0
        try:
            with psycopg.Cursor(raw) as cursor:
                cursor.execute(_GET_SQL_PG, (installation_id, key), prepare=True)
                return cursor.fetchone()
        finally:
            raw.prepare_threshold = threshold
    with connection.cursor() as cursor:
        cursor.execute(_GET_SQL, [_ID_FIELD.get_db_prep_value(installation_id, connection), key])
        return cursor.fetchone()


@host_function("storage.set", scope=None)
def storage_set(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    key = _key(params)
    value = params.get("value")
    try:
        size = len(key.encode()) + len(json.dumps(value, allow_nan=False).encode())
    except (TypeError, ValueError):
        raise APIRefusal("invalid", "value must be JSON.")
    if size > MAX_VALUE_BYTES:
        raise APIRefusal("invalid", f"value is {size} bytes; a value may hold at most {MAX_VALUE_BYTES} bytes.")
    ctx.touched("storage", key)
    with transaction.atomic():
        used = (
            PluginStorageItem.objects.filter(installation_id=ctx.installation_id).exclude(key=key)
            .aggregate(total=Sum("size"))["total"] or 0
        )
        if used + size > quota_bytes():
            raise LimitRefused("quota_exceeded",
                               f"Storage quota of {quota_bytes()} bytes reached ({used} bytes in use).")
        PluginStorageItem.objects.update_or_create(
            installation_id=ctx.installation_id, key=key, defaults={"value": value, "size": size}
        )
    return {"size": size}


@host_function("storage.delete", scope=None)
def storage_delete(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    key = _key(params)
    ctx.touched("storage", key)
    deleted, _ = PluginStorageItem.objects.filter(installation_id=ctx.installation_id, key=key).delete()
    return {"deleted": bool(deleted)}
