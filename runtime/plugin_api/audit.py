"""The audit of Plugin API calls in `plugin_usage`, written in batches.

Each call appends a row to a per-process buffer; the buffer goes to the database in one `bulk_create` when it holds
`AUDIT_BATCH_SIZE` rows, when `AUDIT_FLUSH_SECONDS` have passed since the last write, when a sandbox call ends
(`flush()` is called by the runtime after each plugin call) and when the process exits. A call therefore costs no
database round trip of its own for its audit row.

`settings.PLUGIN_AUDIT_ENABLED = False` turns the audit off (benchmarks only: production always audits).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from runtime.models import PluginUsage

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_buffer: list[PluginUsage] = []
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
    row = PluginUsage(
        plugin_id=plugin_id, installation_id=installation_id or None, user_id=user_id or None, version=version,
        action=action, resource_type=resource_type, resource_id=resource_id, outcome=outcome,
        metadata=metadata or {},
    )
    with _lock:
        _buffer.append(row)
        due = len(_buffer) >= _batch_size() or time.monotonic() - _last_flush >= _flush_seconds()
    if due:
        flush()


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
        PluginUsage.objects.bulk_create(rows, batch_size=500)
    except DatabaseError:
        # Never lose the audit silently: put the rows back for the next flush and say so.
        logger.exception("writing %d plugin_usage rows failed; keeping them for the next flush", len(rows))
        with _lock:
            _buffer[:0] = rows
        return 0
    return len(rows)


def pending() -> int:
    return len(_buffer)


def discard() -> None:
    """Drop buffered rows (tests that roll their database back between cases)."""
    with _lock:
        _buffer.clear()


atexit.register(flush)
