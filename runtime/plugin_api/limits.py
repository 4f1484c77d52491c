"""Per-installation counters in the cache (Redis in production): API calls a minute and a day, execution seconds a
day (spec §Sandboxing). Windows are fixed (this minute, this UTC day); counters expire on their own.

On Redis the increments of one call go out in a single pipelined round trip (INCR + EXPIRE NX); on other cache
backends the portable add()/incr() pair is used.
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


def _minute_key(installation_id: str, now: float) -> str:
    return f"plugin:rate:min:{installation_id}:{int(now // 60)}"


def _day_key(kind: str, installation_id: str) -> str:
    return f"plugin:{kind}:day:{installation_id}:{datetime.now(UTC):%Y%m%d}"


def _incr_many(items: list[tuple[str, int | float, int]]) -> list[float]:
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


def count_call(installation_id: str) -> None:
    """Count one API call; raise RateLimitExceeded when it is past this minute's or this day's allowance."""
    now = time.time()
    per_minute, per_day = _limits()["api_calls_per_minute"], _limits()["api_calls_per_day"]
    minute, day = _incr_many([(_minute_key(installation_id, now), 1, 120),
                              (_day_key("rate", installation_id), 1, 2 * 86400)])
    if day > per_day:
        raise RateLimitExceeded(f"Daily API limit reached: {per_day:,} calls a day per installation.")
    if minute > per_minute:
        raise RateLimitExceeded(
            f"Rate limit reached: {per_minute} calls a minute per installation; retry in {60 - int(now % 60)} s."
        )


def calls_today(installation_id: str) -> int:
    return int(_read(_day_key("rate", installation_id)))


def execution_seconds_add(*, installation_id: str, seconds: float) -> float:
    """Add a call's wall time to today's execution budget; returns the total used today."""
    (total,) = _incr_many([(_day_key("exec", installation_id), float(max(seconds, 0.0)), 2 * 86400)])
    return total


def execution_seconds_today(*, installation_id: str) -> float:
    return _read(_day_key("exec", installation_id))


def execution_budget_check(*, installation_id: str) -> float:
    """Raise ExecutionBudgetExceeded when today's execution time is used up; return the seconds left."""
    budget = float(_limits()["total_execution_time"])
    used = execution_seconds_today(installation_id=installation_id)
    if used >= budget:
        raise ExecutionBudgetExceeded(
            f"Daily execution time used up: {used:.0f} of {budget:.0f} s today; it resets at 00:00 UTC."
        )
    return budget - used
