"""The audit of Plugin API calls in `plugin_usage`, written in batches.

Each call appends a row (a plain tuple: building a model instance per call cost more than the rest of a cheap call)
to a per-process buffer; the buffer goes to the database in one statement (COPY on PostgreSQL, one bulk INSERT
elsewhere) when it holds `AUDIT_BATCH_SIZE` rows, when `AUDIT_FLUSH_SECONDS` have passed since the last write, when a
sandbox call ends (`flush()` is called by the runtime after each plugin call) and when the process exits. A call
therefore costs no database round trip of its own for its audit row. A row's `created_at` is the time of the call.

`settings.PLUGIN_AUDIT_ENABLED = False` turns the audit off (benchmarks only: production always audits).
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from runtime.models import PluginUsage

logger = logging.getLogger(__name__)

_COLUMNS = ("id", "plugin_id", "user_id", "installation_id", "version", "action", "resource_type", "resource_id",
            "outcome", "metadata", "created_at")
_COPY_SQL = f"COPY {PluginUsage._meta.db_table} ({', '.join(_COLUMNS)}) FROM STDIN"

_lock = threading.Lock()
_buffer: list[tuple] = []
_last_flush = time.monotonic()


def _batch_size() -> int:
    return getattr(settings, "AUDIT_BATCH_SIZE", 200)


def _flush_seconds() -> float:
    return getattr(settings, "AUDIT_FLUSH_SECONDS", 2.0)


def record(
    *, plugin_id: str, installation_id, user_id, version: str, action: str, resource_type: str = "",
    resource_id: str = "", outcome: str = PluginUsage.Outcome.OK, metadata: dict[str, Any] | None = None,
) -> None:
    if not getattr(settings, "PLUGIN_AUDIT_ENABLED", True):
        return
    metadata = dict(metadata or {})
    row = (uuid.uuid4(), plugin_id, _uuid_or_none(user_id), _uuid_or_none(installation_id, metadata), version, action,
           resource_type, resource_id, outcome, metadata, timezone.now())
    with _lock:
        _buffer.append(row)
        due = len(_buffer) >= _batch_size() or time.monotonic() - _last_flush >= _flush_seconds()
    if due:
        flush()


def _uuid_or_none(value, metadata: dict | None = None) -> uuid.UUID | None:
    """A UUID column's value; what a plugin sent that is not one is kept in the metadata, never fails the batch."""
    if not value:
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        if metadata is not None:
            metadata["installation"] = str(value)[:100]
        return None


def flush() -> int:
    """Write the buffered rows now; returns how many were written."""
    global _last_flush
    with _lock:
        rows = _buffer[:]
        _buffer.clear()
        _last_flush = time.monotonic()
    if not rows:
        return 0
    try:
        _write(rows)
    except DatabaseError:
        # Never lose the audit silently: put the rows back for the next flush and say so.
        logger.exception("writing %d plugin_usage rows failed; keeping them for the next flush", len(rows))
        with _lock:
            _buffer[:0] = rows
        return 0
    return len(rows)


def _write(rows: list[tuple]) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(_COPY_SQL) as copy:
            for row in rows:
                copy.write_row((*row[:9], json.dumps(row[9], default=str), row[10]))
        return
    PluginUsage.objects.bulk_create([PluginUsage(**dict(zip(_COLUMNS, row, strict=True))) for row in rows],
                                    batch_size=500)


def pending() -> int:
    return len(_buffer)


def discard() -> None:
    """Drop buffered rows (tests that roll their database back between cases)."""
    with _lock:
        _buffer.clear()


atexit.register(flush)
