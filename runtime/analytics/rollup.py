"""The daily roll-up: `plugin_usage` and `installed_plugins` summarized per day, plugin and version, and the alerts
a developer gets when a version fails too often.

`rollup_day(day=...)` replaces one day's rows in one transaction (idempotent: running it twice gives the same rows);
`rollup_catch_up()` computes every day after the last complete one up to yesterday, then today's partial figures,
so a beat that was down for a week catches up on its next run. On PostgreSQL a day is two grouped statements
(GROUPING SETS give the per-version and the plugin-wide rows in one pass, percentile_cont the latencies); on SQLite
the same figures are computed in Python from the day's rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from aisquare_plugins.exceptions import NotFound
from runtime.analytics.models import PluginDailyError, PluginDailyStats, RollupDay, VersionErrorAlert
from runtime.models import Installation, PluginUsage

logger = logging.getLogger(__name__)

ROLLUP_TASK_NAME = "runtime.analytics_rollup"
COMPLETE_AFTER_SECONDS = 300
RUN = "plugin"  # resource_type of a hook, function or event-handler run (runtime/invocation.py)
OC = PluginUsage.Outcome
COUNT_FIELDS = ("installs", "uninstalls", "activations", "active_installations", "active_users", "calls", "errors",
                "limited", "violations", "denied", "cold_starts", "api_calls", "api_denied", "api_limited",
                "api_errors")


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def utc_today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def top_errors_per_day() -> int:
    return int(getattr(settings, "ANALYTICS_TOP_ERRORS", 20))


# --- computing one day ---------------------------------------------------------------------------------------------

_USAGE_SQL = """
WITH u AS (
  SELECT plugin_id, version, resource_type, outcome, user_id, metadata,
         CASE WHEN jsonb_typeof(metadata->'wall_ms') = 'number' THEN (metadata->>'wall_ms')::float8 END AS wall,
         CASE WHEN jsonb_typeof(metadata->'peak_memory_kb') = 'number'
              THEN (metadata->>'peak_memory_kb')::float8 END AS mem,
         CASE WHEN jsonb_typeof(metadata->'cpu_ms') = 'number' THEN (metadata->>'cpu_ms')::float8 END AS cpu
  FROM plugin_usage WHERE created_at >= %(start)s AND created_at < %(end)s AND plugin_id <> ''
)
SELECT plugin_id, CASE WHEN GROUPING(version) = 1 THEN '' WHEN version = '' THEN '?' ELSE version END,
  COUNT(DISTINCT user_id) FILTER (WHERE resource_type = 'plugin'),
  COUNT(*) FILTER (WHERE resource_type = 'plugin'),
  COUNT(*) FILTER (WHERE resource_type = 'plugin' AND outcome = 'error'),
  COUNT(*) FILTER (WHERE resource_type = 'plugin' AND outcome = 'limited'),
  COUNT(*) FILTER (WHERE resource_type = 'plugin' AND outcome = 'violation'),
  COUNT(*) FILTER (WHERE resource_type = 'plugin' AND outcome = 'denied'),
  COUNT(*) FILTER (WHERE resource_type = 'plugin' AND metadata->'cold_start' = 'true'::jsonb),
  COUNT(*) FILTER (WHERE resource_type <> 'plugin'),
  COUNT(*) FILTER (WHERE resource_type <> 'plugin' AND outcome = 'denied'),
  COUNT(*) FILTER (WHERE resource_type <> 'plugin' AND outcome = 'limited'),
  COUNT(*) FILTER (WHERE resource_type <> 'plugin' AND outcome IN ('error', 'violation')),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY wall) FILTER (WHERE resource_type = 'plugin'),
  percentile_cont(0.95) WITHIN GROUP (ORDER BY wall) FILTER (WHERE resource_type = 'plugin'),
  percentile_cont(0.95) WITHIN GROUP (ORDER BY mem) FILTER (WHERE resource_type = 'plugin'),
  MAX(mem) FILTER (WHERE resource_type = 'plugin'),
  COALESCE(SUM(cpu) FILTER (WHERE resource_type = 'plugin'), 0) / 1000.0
FROM u GROUP BY GROUPING SETS ((plugin_id, version), (plugin_id))
"""
_USAGE_COLUMNS = ("active_users", "calls", "errors", "limited", "violations", "denied", "cold_starts", "api_calls",
                  "api_denied", "api_limited", "api_errors", "p50_ms", "p95_ms", "p95_memory_kb", "peak_memory_kb",
                  "cpu_seconds")

_INSTALL_SQL = """
SELECT plugin_id, CASE WHEN GROUPING(version) = 1 THEN '' WHEN version = '' THEN '?' ELSE version END,
  COUNT(*) FILTER (WHERE installed_at >= %(start)s),
  COUNT(*) FILTER (WHERE uninstalled_at >= %(start)s AND uninstalled_at < %(end)s),
  COUNT(*) FILTER (WHERE activated_at >= %(start)s AND activated_at < %(end)s),
  COUNT(*) FILTER (WHERE status <> 'failed' AND (uninstalled_at IS NULL OR uninstalled_at >= %(end)s))
FROM installed_plugins
WHERE installed_at < %(end)s AND (uninstalled_at IS NULL OR uninstalled_at >= %(start)s)
GROUP BY GROUPING SETS ((plugin_id, version), (plugin_id))
"""
_INSTALL_COLUMNS = ("installs", "uninstalls", "activations", "active_installations")

_ERRORS_SQL = """
SELECT plugin_id, version, action, outcome,
  LEFT(CONCAT_WS(': ', NULLIF(metadata->>'reason', ''), NULLIF(metadata->>'message', ''),
                 NULLIF(metadata->>'error', '')), 300) AS message,
  COUNT(*)
FROM plugin_usage
WHERE created_at >= %(start)s AND created_at < %(end)s AND plugin_id <> '' AND outcome <> 'ok'
GROUP BY 1, 2, 3, 4, 5
"""


def _message(metadata: Any) -> str:
    metadata = metadata if isinstance(metadata, dict) else {}
    parts = [str(metadata[k]) for k in ("reason", "message", "error") if metadata.get(k) not in (None, "")]
    return ": ".join(parts)[:300]


def _number(metadata: dict, key: str) -> float | None:
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def percentile(values: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _compute_postgres(start, end) -> tuple[dict, list]:
    figures: dict[tuple[str, str], dict] = defaultdict(dict)
    errors = []
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_SQL, {"start": start, "end": end})
        for plugin_id, version, *values in cursor.fetchall():
            figures[(plugin_id, version)].update(zip(_USAGE_COLUMNS, values, strict=True))
        cursor.execute(_INSTALL_SQL, {"start": start, "end": end})
        for plugin_id, version, *values in cursor.fetchall():
            figures[(plugin_id, version)].update(zip(_INSTALL_COLUMNS, values, strict=True))
        cursor.execute(_ERRORS_SQL, {"start": start, "end": end})
        errors = cursor.fetchall()
    return figures, errors


def _compute_python(start, end) -> tuple[dict, list]:
    """The same figures without PostgreSQL's grouping sets and percentiles (the embedded SQLite default)."""
    figures: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(int))
    samples: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    users: dict[tuple[str, str], set] = defaultdict(set)
    errors: dict[tuple, int] = defaultdict(int)
    rows = PluginUsage.objects.filter(created_at__gte=start, created_at__lt=end).exclude(plugin_id="").values_list(
        "plugin_id", "version", "resource_type", "outcome", "user_id", "metadata", "action")
    for plugin_id, version, resource_type, outcome, user_id, metadata, action in rows.iterator(chunk_size=5000):
        for key in ((plugin_id, version or "?"), (plugin_id, "")):
            f = figures[key]
            if resource_type == RUN:
                f["calls"] += 1
                if outcome in (OC.ERROR, OC.LIMITED, OC.VIOLATION, OC.DENIED):
                    f[{OC.ERROR: "errors", OC.LIMITED: "limited", OC.VIOLATION: "violations",
                       OC.DENIED: "denied"}[outcome]] += 1
                if isinstance(metadata, dict) and metadata.get("cold_start") is True:
                    f["cold_starts"] += 1
                if user_id is not None:
                    users[key].add(user_id)
                for name in ("wall_ms", "peak_memory_kb", "cpu_ms"):
                    value = _number(metadata, name)
                    if value is not None:
                        samples[key][name].append(value)
            else:
                f["api_calls"] += 1
                if outcome == OC.DENIED:
                    f["api_denied"] += 1
                elif outcome == OC.LIMITED:
                    f["api_limited"] += 1
                elif outcome in (OC.ERROR, OC.VIOLATION):
                    f["api_errors"] += 1
        if outcome != OC.OK:
            errors[(plugin_id, version, action, outcome, _message(metadata))] += 1
    for key, f in figures.items():
        s = samples[key]
        f["active_users"] = len(users[key])
        f["p50_ms"], f["p95_ms"] = percentile(s["wall_ms"], 0.5), percentile(s["wall_ms"], 0.95)
        f["p95_memory_kb"] = percentile(s["peak_memory_kb"], 0.95)
        f["peak_memory_kb"] = max(s["peak_memory_kb"]) if s["peak_memory_kb"] else None
        f["cpu_seconds"] = sum(s["cpu_ms"]) / 1000.0
    installations = Installation.objects.filter(installed_at__lt=end).filter(
        Q(uninstalled_at__isnull=True) | Q(uninstalled_at__gte=start)
    ).values_list("plugin_id", "version", "status", "installed_at", "activated_at", "uninstalled_at")
    for plugin_id, version, status, installed_at, activated_at, uninstalled_at in installations.iterator():
        for key in ((plugin_id, version or "?"), (plugin_id, "")):
            f = figures[key]
            f["installs"] += installed_at >= start
            f["uninstalls"] += uninstalled_at is not None and start <= uninstalled_at < end
            f["activations"] += activated_at is not None and start <= activated_at < end
            f["active_installations"] += status != Installation.Status.FAILED and (
                uninstalled_at is None or uninstalled_at >= end)
    return figures, [(*key, count) for key, count in errors.items()]


def rollup_day(*, day: dt.date) -> int:
    """(Re)compute one day: its rows are replaced in one transaction. Returns the number of figure rows written."""
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise TypeError("day must be a date")
    start, end = day_bounds(day)
    RollupDay.objects.get_or_create(day=day)
    with transaction.atomic():
        marker = RollupDay.objects.select_for_update().get(day=day)  # one roll-up of a day at a time
        compute = _compute_postgres if connection.vendor == "postgresql" else _compute_python
        figures, errors = compute(start, end)
        rows = []
        for (plugin_id, version), values in figures.items():
            row = PluginDailyStats(day=day, plugin_id=plugin_id, version=version or "")
            for name, value in values.items():
                setattr(row, name, value if value is not None or name in (
                    "p50_ms", "p95_ms", "p95_memory_kb", "peak_memory_kb") else 0)
            row.cpu_seconds = float(row.cpu_seconds or 0)
            if row.peak_memory_kb is not None:
                row.peak_memory_kb = int(row.peak_memory_kb)
            if any(getattr(row, name) for name in COUNT_FIELDS):
                rows.append(row)
        PluginDailyStats.objects.filter(day=day).delete()
        PluginDailyStats.objects.bulk_create(rows, batch_size=1000)
        PluginDailyError.objects.filter(day=day).delete()
        PluginDailyError.objects.bulk_create(_top_errors(day, errors), batch_size=1000)
        # Complete once the day is over by a margin: audit rows are flushed in batches, seconds after the fact.
        marker.complete = end + dt.timedelta(seconds=COMPLETE_AFTER_SECONDS) <= timezone.now()
        marker.save(update_fields=["complete", "computed_at"])
    return len(rows)


def _top_errors(day: dt.date, errors: list) -> list[PluginDailyError]:
    per_plugin: dict[str, list] = defaultdict(list)
    for plugin_id, version, action, outcome, message, count in errors:
        per_plugin[plugin_id].append((count, version or "", action, outcome, message or ""))
    keep = top_errors_per_day()
    out = []
    for plugin_id, groups in per_plugin.items():
        groups.sort(key=lambda g: (-g[0], g[1], g[2], g[3], g[4]))
        for count, version, action, outcome, message in groups[:keep]:
            out.append(PluginDailyError(day=day, plugin_id=plugin_id, version=version, action=action[:100],
                                        outcome=outcome, message=message[:300], count=count))
    return out


# --- catching up -----------------------------------------------------------------------------------------------------

def _first_event_day() -> dt.date | None:
    firsts = [
        PluginUsage.objects.aggregate(first=Min("created_at"))["first"],
        Installation.objects.aggregate(first=Min("installed_at"))["first"],
    ]
    firsts = [f for f in firsts if f is not None]
    return min(firsts).astimezone(dt.UTC).date() if firsts else None


def rollup_catch_up(*, today: dt.date | None = None) -> list[dt.date]:
    """Every day after the last complete one (or since the first event, at most ANALYTICS_BACKFILL_DAYS back) up to
    today included (today as partial figures). Then the error-rate alerts. Returns the days computed."""
    today = today or utc_today()
    last = RollupDay.objects.filter(complete=True, day__lt=today).order_by("-day").values_list("day", flat=True).first()
    first = last + dt.timedelta(days=1) if last is not None else _first_event_day() or today
    first = max(first, today - dt.timedelta(days=int(getattr(settings, "ANALYTICS_BACKFILL_DAYS", 400))))
    days = [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]
    for day in days:
        rollup_day(day=day)
    if days:
        # Only plugins that ran in the days just computed can have crossed the threshold since the last check.
        active = set(PluginDailyStats.objects.filter(day__in=days, version="", calls__gt=0)
                     .values_list("plugin_id", flat=True))
        if active:
            version_error_alerts_check(plugin_ids=sorted(active))
    return days


# --- alerts ----------------------------------------------------------------------------------------------------------

def version_error_alerts_check(*, plugin_ids: list[str] | None = None) -> list[VersionErrorAlert]:
    """Versions whose error rate since release (all their rolled-up days) is above ANALYTICS_ALERT_ERROR_RATE with at
    least ANALYTICS_ALERT_MIN_CALLS runs: one alert row each, ever, and its developer is told (portal + e-mail)."""
    from developers import api as developers_api
    from marketplace import api as marketplace_api

    threshold = float(getattr(settings, "ANALYTICS_ALERT_ERROR_RATE", 0.05))
    minimum = int(getattr(settings, "ANALYTICS_ALERT_MIN_CALLS", 100))
    rows = PluginDailyStats.objects.exclude(version="")
    if plugin_ids is not None:
        rows = rows.filter(plugin_id__in=plugin_ids)
    totals = rows.values("plugin_id", "version").annotate(
        calls_total=Sum("calls"), failed_total=Sum("errors") + Sum("limited") + Sum("violations") + Sum("denied"),
    ).filter(calls_total__gte=minimum).order_by()
    already = set(VersionErrorAlert.objects.values_list("plugin_id", "version"))
    created = []
    for total in totals:
        key = (total["plugin_id"], total["version"])
        rate = total["failed_total"] / total["calls_total"]
        if key in already or rate <= threshold:
            continue
        with transaction.atomic():
            alert, fresh = VersionErrorAlert.objects.get_or_create(
                plugin_id=key[0], version=key[1],
                defaults={"calls": total["calls_total"], "failed": total["failed_total"], "error_rate": rate},
            )
            if not fresh:
                continue
            try:
                plugin = marketplace_api.plugin_get(plugin_id=key[0])
            except NotFound:  # an audit row of a deleted listing: nobody to tell
                plugin = None
            if plugin is not None:
                developers_api.developer_notify(
                    developer=plugin.developer,
                    subject=f"{plugin.name} {key[1]}: {rate:.1%} of runs failed",
                    body=(f"Since its release, {total['failed_total']} of {total['calls_total']} runs of "
                          f"{plugin.name} {key[1]} failed ({rate:.1%}, above the {threshold:.0%} alert threshold). "
                          "The analytics page lists the most frequent errors with their messages."),
                    link=f"/developer/plugins/{plugin.pk}/analytics/",
                )
            created.append(alert)
    return created


# --- the beat schedule (the same mechanism as revenue.services.schedules_setup) ------------------------------------

def analytics_schedule_setup():
    """The django-celery-beat row of the roll-up: hourly at minute 10 UTC (the day closes at the first run after
    midnight; the runs in between refresh today's partial figures). Idempotent; called by a data migration and by
    `manage.py setup_analytics_schedule`."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    with transaction.atomic():
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute="10", hour="*", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC",
        )
        periodic, _ = PeriodicTask.objects.update_or_create(
            name="Runtime: analytics roll-up",
            defaults={"task": ROLLUP_TASK_NAME, "crontab": schedule, "interval": None, "enabled": True},
        )
    return periodic
