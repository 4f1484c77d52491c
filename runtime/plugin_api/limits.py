"""Per-installation counters in the cache (Redis in production): API calls a minute and a day, execution seconds a
day (spec §Sandboxing). Windows are fixed (this minute, this UTC day); counters expire on their own.

A Plugin API call is counted by `admission.admit` (one Lua script on Redis, which also reads the installation's state
token) and judged here by `rate_check`. The execution budget's increments go out in one pipelined round trip
(INCRBYFLOAT + EXPIRE NX) once per run; on other cache backends the portable add()/incr() pair is used.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


class RateLimitExceeded(Exception):
    pass


class ExecutionBudgetExceeded(Exception):
    pass


def _limits() -> dict:
    return settings.SANDBOX_LIMITS


MINUTE_TTL = 120
DAY_TTL = 2 * 86400


def minute_key(installation_id: str, now: float) -> str:
    return f"plugin:rate:min:{installation_id}:{int(now // 60)}"


def day_key(kind: str, installation_id: str) -> str:
    return f"plugin:{kind}:day:{installation_id}:{datetime.now(UTC):%Y%m%d}"


def incr_many(items: list[tuple[str, int | float, int]]) -> list[float]:
    """Increment several counters, creating each with its TTL; returns the new values."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(None, write=True)
        pipe = client.pipeline(transaction=False)
        for key, amount, ttl in items:
            full = backend.make_and_validate_key(key)
            if isinstance(amount, float):
                pipe.incrbyfloat(full, amount)
            else:
                pipe.incrby(full, amount)
            pipe.expire(full, ttl, nx=True)
        results = pipe.execute()
        return [float(results[i]) for i in range(0, len(results), 2)]
    values = []
    for key, amount, ttl in items:
        if cache.add(key, amount, timeout=ttl):
            values.append(float(amount))
            continue
        try:
            values.append(float(cache.incr(key, amount)))
        except ValueError:
            cache.set(key, amount, timeout=ttl)
            values.append(float(amount))
    return values


def _read(key: str) -> float:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        raw = backend._cache.get_client(None).get(backend.make_and_validate_key(key))
        return float(raw or 0)
    return float(cache.get(key) or 0)


def rate_check(*, calls_this_minute: int, calls_today: int) -> None:
    """Raise RateLimitExceeded when a call, counted as the given one of this minute and of today, is past the
    allowance (100 a minute, 10,000 a day per installation by default)."""
    per_minute, per_day = _limits()["api_calls_per_minute"], _limits()["api_calls_per_day"]
    if calls_today > per_day:
        raise RateLimitExceeded(f"Daily API limit reached: {per_day:,} calls a day per installation.")
    if calls_this_minute > per_minute:
        raise RateLimitExceeded(
            f"Rate limit reached: {per_minute} calls a minute per installation; "
            f"retry in {60 - int(time.time() % 60)} s."
        )


def calls_today(installation_id: str) -> int:
    return int(_read(day_key("rate", installation_id)))


def execution_seconds_add(*, installation_id: str, seconds: float) -> float:
    """Add a call's wall time to today's execution budget; returns the total used today."""
    (total,) = incr_many([(day_key("exec", installation_id), float(max(seconds, 0.0)), DAY_TTL)])
    return total


def execution_seconds_today(*, installation_id: str) -> float:
    return _read(day_key("exec", installation_id))


def execution_budget_check(*, installation_id: str) -> float:
    """Raise ExecutionBudgetExceeded when today's execution time is used up; return the seconds left."""
    budget = float(_limits()["total_execution_time"])
    used = execution_seconds_today(installation_id=installation_id)
    if used >= budget:
        raise ExecutionBudgetExceeded(
            f"Daily execution time used up: {used:.0f} of {budget:.0f} s today; it resets at 00:00 UTC."
        )
    return budget - used
