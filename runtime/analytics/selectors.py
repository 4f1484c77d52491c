"""Reads of the daily roll-ups: a plugin's figures over time for its developer, and the platform's for operators.

Everything here reads `plugin_daily_stats` / `plugin_daily_errors` (and the reviews and revenue apps' per-day
selectors), never raw `plugin_usage`. Weeks and months are built from days: counts add up; latency percentiles
cannot, so a week's p50 is the runs-weighted mean of its daily p50s and its p95 the highest daily p95 (an upper
bound); memory is the highest daily figure; active installations are those at the period's last rolled-up day.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import F, Max, Sum

from aisquare_plugins.exceptions import ServiceError
from runtime.analytics.models import PluginDailyError, PluginDailyStats, RollupDay
from runtime.analytics.rollup import utc_today

GRANULARITIES = ("day", "week", "month")
MAX_DAYS = 731
DEFAULT_DAYS = 30
SUMMED = ("installs", "uninstalls", "activations", "calls", "errors", "limited", "violations", "denied",
          "cold_starts", "api_calls", "api_denied", "api_limited", "api_errors")


def _date(value: str | None, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ServiceError(f"{name} must be a date as YYYY-MM-DD, not {str(value)[:40]!r}.",
                           fields={name: ["Enter a date as YYYY-MM-DD."]}) from None


def analytics_params(*, start: str | None, end: str | None, granularity: str | None) -> tuple[dt.date, dt.date, str]:
    """Validated range and granularity (defaults: the last 30 days, by day). ServiceError (400) otherwise."""
    today = utc_today()
    granularity = granularity or "day"
    if granularity not in GRANULARITIES:
        raise ServiceError(f"granularity must be one of {', '.join(GRANULARITIES)}.",
                           fields={"granularity": [f"One of {', '.join(GRANULARITIES)}."]})
    end_date = _date(end, "end") or today
    start_date = _date(start, "start") or end_date - dt.timedelta(days=DEFAULT_DAYS - 1)
    if end_date > today:
        raise ServiceError(f"end cannot be after today ({today}).", fields={"end": ["Not after today (UTC)."]})
    if start_date > end_date:
        raise ServiceError("start must be on or before end.", fields={"start": ["On or before end."]})
    if (end_date - start_date).days + 1 > MAX_DAYS:
        raise ServiceError(f"The range is at most {MAX_DAYS} days.", fields={"start": [f"At most {MAX_DAYS} days."]})
    return start_date, end_date, granularity


def period_start(day: dt.date, granularity: str) -> dt.date:
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def _periods(start: dt.date, end: dt.date, granularity: str) -> list[dt.date]:
    out, day = [], start
    while day <= end:
        key = period_start(day, granularity)
        if not out or out[-1] != key:
            out.append(key)
        day += dt.timedelta(days=1)
    return out


def _rate(failed: int, calls: int) -> float | None:
    return round(failed / calls, 6) if calls else None


def plugin_analytics(*, plugin, start: dt.date, end: dt.date, granularity: str) -> dict[str, Any]:
    """A plugin's figures per period in [start, end], per version over the range, and its most frequent errors."""
    from revenue import api as revenue_api
    from reviews import api as reviews_api

    plugin_id = plugin.pk
    periods = _periods(start, end, granularity)
    buckets: dict[dt.date, dict[str, Any]] = {
        p: {**dict.fromkeys(SUMMED, 0), "active_installations": None, "active_users": 0, "p50_ms": None,
            "p95_ms": None, "p95_memory_kb": None, "peak_memory_kb": None, "cpu_seconds": 0.0, "_p50_weight": 0.0,
            "_last_day": None, "ratings": 0, "rating_average": None, "revenue": defaultdict(Decimal)}
        for p in periods
    }
    daily = PluginDailyStats.objects.filter(plugin_id=plugin_id, version="", day__gte=start, day__lte=end)
    seen = set()
    for row in daily.order_by("day"):
        seen.add(row.day)
        b = buckets[period_start(row.day, granularity)]
        for name in SUMMED:
            b[name] += getattr(row, name)
        b["cpu_seconds"] += row.cpu_seconds
        b["active_users"] = max(b["active_users"], row.active_users)
        b["active_installations"], b["_last_day"] = row.active_installations, row.day
        if row.p50_ms is not None and row.calls:
            b["_p50_weight"] += row.p50_ms * row.calls
        for name in ("p95_ms", "p95_memory_kb", "peak_memory_kb"):
            value = getattr(row, name)
            if value is not None:
                b[name] = value if b[name] is None else max(b[name], value)
    # A rolled-up day without a row for this plugin had no installation left: 0, not "no figure".
    for day in RollupDay.objects.filter(day__gte=start, day__lte=end).order_by("day").values_list("day", flat=True):
        b = buckets[period_start(day, granularity)]
        if day not in seen and (b["_last_day"] is None or b["_last_day"] < day):
            b["active_installations"], b["_last_day"] = 0, day
    # Ratings: the cumulative average at each period's end, and how many ratings the period brought.
    ratings = reviews_api.plugin_rating_days(plugin_id=plugin_id, start=start, end=end)
    count, total = ratings["before"]
    by_day = defaultdict(lambda: [0, 0])
    for day, n, s in ratings["days"]:
        by_day[period_start(day, granularity)][0] += n
        by_day[period_start(day, granularity)][1] += s
    for p in periods:
        n, s = by_day.get(p, (0, 0))
        count, total = count + n, total + s
        buckets[p]["ratings"] = n
        buckets[p]["rating_average"] = round(total / count, 3) if count else None
    for day, currency, _amount, share, _entries in revenue_api.plugin_revenue_days(
            plugin_id=plugin_id, start=start, end=end):
        buckets[period_start(day, granularity)]["revenue"][currency] += share
    series = []
    for p in periods:
        b = buckets.pop(p)
        failed = b["errors"] + b["limited"] + b["violations"] + b["denied"]
        weight = b.pop("_p50_weight")
        b.pop("_last_day"), b.pop("p50_ms")
        p50 = round(weight / b["calls"], 3) if b["calls"] and weight else None
        series.append({
            "period": p.isoformat(), **{k: v for k, v in b.items() if k != "revenue"},
            "p50_ms": p50, "failed": failed,
            "error_rate": _rate(failed, b["calls"]), "cpu_seconds": round(b["cpu_seconds"], 3),
            "revenue": {currency: str(amount) for currency, amount in sorted(b["revenue"].items())},
        })
    return {
        "plugin": {"id": plugin_id, "name": plugin.name, "currency": getattr(plugin, "currency", "")},
        "start": start.isoformat(), "end": end.isoformat(), "granularity": granularity,
        "rolled_up_through": _rolled_up_through(),
        "series": series,
        "versions": _versions(plugin_id, start, end),
        "top_errors": plugin_top_errors(plugin_id=plugin_id, start=start, end=end),
    }


def _rolled_up_through() -> str | None:
    last = RollupDay.objects.order_by("-day").values_list("day", "complete").first()
    return last[0].isoformat() if last else None


def _versions(plugin_id: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    rows = (
        PluginDailyStats.objects.filter(plugin_id=plugin_id, day__gte=start, day__lte=end).exclude(version="")
        .values("version").annotate(
            calls_total=Sum("calls"), failed_total=Sum(F("errors") + F("limited") + F("violations") + F("denied")),
            installs_total=Sum("installs"), uninstalls_total=Sum("uninstalls"), p95_max=Max("p95_ms"),
            peak=Max("peak_memory_kb"),
        ).order_by("-calls_total", "version")
    )
    return [{"version": r["version"], "calls": r["calls_total"], "failed": r["failed_total"],
             "error_rate": _rate(r["failed_total"], r["calls_total"]), "installs": r["installs_total"],
             "uninstalls": r["uninstalls_total"], "p95_ms_max": r["p95_max"], "peak_memory_kb": r["peak"]}
            for r in rows]


def plugin_top_errors(*, plugin_id: str, start: dt.date, end: dt.date, limit: int = 10) -> list[dict[str, Any]]:
    rows = (
        PluginDailyError.objects.filter(plugin_id=plugin_id, day__gte=start, day__lte=end)
        .values("version", "action", "outcome", "message").annotate(total=Sum("count"), last_day=Max("day"))
        .order_by("-total", "action", "message")[:limit]
    )
    return [{"version": r["version"], "action": r["action"], "outcome": r["outcome"], "message": r["message"],
             "count": r["total"], "last_seen": r["last_day"].isoformat()} for r in rows]


# --- the platform (admin) ----------------------------------------------------------------------------------------

def platform_overview(*, days: int = 7, today: dt.date | None = None, limit: int = 10) -> dict[str, Any]:
    """Top plugins by runs and installations, error spikes (the last day's error rate against the plugin's rate over
    the days before it) and resource hogs (CPU seconds, peak memory, p95 latency) over the last `days` days."""
    today = today or utc_today()
    start = today - dt.timedelta(days=days - 1)
    window = PluginDailyStats.objects.filter(version="", day__gte=start, day__lte=today)
    totals = list(window.values("plugin_id").annotate(
        calls_total=Sum("calls"), failed_total=Sum(F("errors") + F("limited") + F("violations") + F("denied")),
        installs_total=Sum("installs"), uninstalls_total=Sum("uninstalls"), cpu=Sum("cpu_seconds"),
        peak=Max("peak_memory_kb"), p95=Max("p95_ms"), violations_total=Sum("violations"),
    ).order_by())
    for t in totals:
        t["error_rate"] = _rate(t["failed_total"], t["calls_total"])
    last_day = window.aggregate(last=Max("day"))["last"]
    spikes = []
    if last_day is not None:
        recent = {r["plugin_id"]: r for r in window.filter(day=last_day).values(
            "plugin_id", "calls", "errors", "limited", "violations", "denied")}
        before = {r["plugin_id"]: r for r in window.filter(day__lt=last_day).values("plugin_id").annotate(
            c=Sum("calls"), f=Sum(F("errors") + F("limited") + F("violations") + F("denied"))).order_by()}
        for plugin_id, r in recent.items():
            failed = r["errors"] + r["limited"] + r["violations"] + r["denied"]
            rate = _rate(failed, r["calls"])
            b = before.get(plugin_id)
            baseline = _rate(b["f"], b["c"]) if b else None
            if rate and failed >= 5 and (baseline is None or rate >= 2 * baseline + 0.01):
                spikes.append({"plugin_id": plugin_id, "day": last_day.isoformat(), "calls": r["calls"],
                               "failed": failed, "error_rate": rate, "baseline_rate": baseline})
        spikes.sort(key=lambda s: (-s["error_rate"], -s["failed"]))

    def top(key):
        return sorted((t for t in totals if t[key]), key=lambda t: (-(t[key] or 0), t["plugin_id"]))[:limit]

    return {
        "start": start.isoformat(), "end": today.isoformat(), "days": days,
        "top_by_calls": top("calls_total"), "top_by_installs": top("installs_total"),
        "error_spikes": spikes[:limit],
        "hogs_by_cpu": top("cpu"), "hogs_by_memory": top("peak"), "slowest": top("p95"),
    }
