"""Prometheus metrics for operators (`/metrics`, prometheus_client).

Two kinds, said plainly in each metric's help:
- Computed at scrape time from shared state, so every process answers the same: plugin runs and API calls by
  outcome, cold starts and violations (the daily roll-ups of complete days + a count of the raw rows since then,
  cached METRICS_CACHE_SECONDS), active installations, Celery queue depth (Redis LLEN of each queue, when the
  broker is Redis), when the roll-up last ran.
- Per process: HTTP requests (a middleware counter) and warm sandbox workers. Under gunicorn each worker process
  has its own; set PROMETHEUS_MULTIPROC_DIR (an empty directory, wiped at deploy, see prometheus_client's
  "multiprocess mode") and the endpoint sums them over live processes. Without it the figures are the answering
  process's only. Celery worker processes' sandbox pools are not counted (they serve no HTTP).
"""

from __future__ import annotations

import datetime as dt
import os

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from runtime.analytics.models import PluginDailyStats, RollupDay
from runtime.analytics.rollup import RUN, day_bounds
from runtime.models import Installation, PluginUsage

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "aisquare_http_requests", "HTTP requests answered, by method and status (per process; summed over processes "
    "when PROMETHEUS_MULTIPROC_DIR is set)", ["method", "status"], registry=None,
)
POOL_WORKERS = Gauge(
    "aisquare_sandbox_pool_workers", "Warm sandbox workers in web processes (the answering process only unless "
    "PROMETHEUS_MULTIPROC_DIR is set: then summed over live processes)", registry=None,
    multiprocess_mode="livesum",
)
_OUTCOMES = [choice for choice, _ in PluginUsage.Outcome.choices]


def observe_request(method: str, status: int) -> None:
    REQUESTS.labels(method if method in METHODS else "other", str(status)).inc()
    POOL_WORKERS.set(_pool_size())


def _pool_size() -> int:
    from runtime.sandbox import pool

    current = pool._pool  # this process's pool, if it was ever started; never start one for a metric
    return len(current) if current is not None else 0


def usage_totals() -> dict:
    """Runs and API calls by outcome, cold starts, since the first event: complete roll-up days + raw rows after."""
    cached = cache.get("metrics:usage_totals")
    if cached is not None:
        return cached
    last = RollupDay.objects.filter(complete=True).order_by("-day").values_list("day", flat=True).first()
    rolled = PluginDailyStats.objects.filter(version="")
    runs = dict.fromkeys(_OUTCOMES, 0)
    api = {o: 0 for o in _OUTCOMES if o != "violation"}
    cold = 0
    live = PluginUsage.objects.exclude(plugin_id="")
    if last is not None:
        rolled = rolled.filter(day__lte=last)
        live = live.filter(created_at__gte=day_bounds(last)[1])
        sums = rolled.aggregate(
            calls=Sum("calls"), errors=Sum("errors"), limited=Sum("limited"), violations=Sum("violations"),
            denied=Sum("denied"), cold=Sum("cold_starts"), api_calls=Sum("api_calls"), api_denied=Sum("api_denied"),
            api_limited=Sum("api_limited"), api_errors=Sum("api_errors"),
        )
        sums = {k: v or 0 for k, v in sums.items()}
        runs["error"], runs["limited"] = sums["errors"], sums["limited"]
        runs["violation"], runs["denied"] = sums["violations"], sums["denied"]
        runs["ok"] = sums["calls"] - sums["errors"] - sums["limited"] - sums["violations"] - sums["denied"]
        api["denied"], api["limited"] = sums["api_denied"], sums["api_limited"]
        # The roll-up counts API errors and violations together; the live part keeps them apart.
        api["error"] = sums["api_errors"]
        api["ok"] = sums["api_calls"] - sums["api_denied"] - sums["api_limited"] - sums["api_errors"]
        cold = sums["cold"]
    for row in live.values("outcome").annotate(
            runs=Count("id", filter=Q(resource_type=RUN)), api=Count("id", filter=~Q(resource_type=RUN)),
            cold=Count("id", filter=Q(resource_type=RUN, metadata__cold_start=True))).order_by():
        runs[row["outcome"]] = runs.get(row["outcome"], 0) + row["runs"]
        api_outcome = "error" if row["outcome"] == "violation" else row["outcome"]  # as the roll-up counts them
        api[api_outcome] = api.get(api_outcome, 0) + row["api"]
        cold += row["cold"]
    totals = {"runs": runs, "api": api, "cold_starts": cold}
    cache.set("metrics:usage_totals", totals, int(getattr(settings, "METRICS_CACHE_SECONDS", 15)))
    return totals


def queue_lengths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue (Redis broker: the queue's list and its priority lists)."""
    broker = getattr(settings, "CELERY_BROKER_URL", "") or ""
    if not broker.startswith(("redis://", "rediss://")):
        return None
    import redis

    queues = getattr(settings, "METRICS_CELERY_QUEUES", None) or [settings.CELERY_TASK_DEFAULT_QUEUE]
    client = redis.Redis.from_url(broker, socket_timeout=1, socket_connect_timeout=1)
    try:
        lengths = {}
        for queue in queues:
            keys = [queue] + [f"{queue}\x06\x16{p}" for p in (3, 6, 9)]  # kombu's priority steps
            pipe = client.pipeline()
            for key in keys:
                pipe.llen(key)
            lengths[queue] = sum(pipe.execute())
        return lengths
    except redis.RedisError:
        return None
    finally:
        client.close()


class SharedStateCollector:
    """Figures every process computes alike at scrape time."""

    def collect(self):
        totals = usage_totals()
        runs = CounterMetricFamily("aisquare_plugin_runs", "Plugin hook, function and event-handler runs by outcome "
                                   "(from the database: shared by all processes)", labels=["outcome"])
        for outcome, value in sorted(totals["runs"].items()):
            runs.add_metric([outcome], value)
        yield runs
        api = CounterMetricFamily("aisquare_plugin_api_calls", "Plugin API calls by outcome (from the database)",
                                  labels=["outcome"])
        for outcome, value in sorted(totals["api"].items()):
            api.add_metric([outcome], value)
        yield api
        yield CounterMetricFamily("aisquare_plugin_cold_starts", "Runs that started a sandbox worker (from the "
                                  "database)", value=totals["cold_starts"])
        yield CounterMetricFamily("aisquare_plugin_violations", "Runs the sandbox stopped for a violation (from the "
                                  "database)", value=totals["runs"].get("violation", 0))
        active = Installation.objects.exclude(
            status__in=[Installation.Status.UNINSTALLED, Installation.Status.FAILED]).count()
        yield GaugeMetricFamily("aisquare_plugin_installations", "Installations present (not uninstalled, not "
                                "failed)", value=active)
        yield GaugeMetricFamily("aisquare_sandbox_pool_capacity", "Warm workers a process may keep "
                                "(SANDBOX_POOL_SIZE)", value=settings.SANDBOX_POOL_SIZE)
        lengths = queue_lengths()
        if lengths is not None:
            depth = GaugeMetricFamily("aisquare_celery_queue_length", "Messages waiting in a Celery queue (Redis LLEN)",
                                      labels=["queue"])
            for queue, value in sorted(lengths.items()):
                depth.add_metric([queue], value)
            yield depth
        last = RollupDay.objects.aggregate(last=Max("computed_at"))["last"]
        yield GaugeMetricFamily("aisquare_analytics_rollup_last_run_timestamp_seconds", "When the analytics "
                                "roll-up last wrote a day (0: never)",
                                value=last.timestamp() if isinstance(last, dt.datetime) else 0)


def render() -> tuple[bytes, str]:
    POOL_WORKERS.set(_pool_size())
    registry = CollectorRegistry()
    if MULTIPROCESS:
        MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(POOL_WORKERS)
    registry.register(SharedStateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


class RequestMetricsMiddleware:
    """Counts every HTTP response by method and status for /metrics (per process, see above)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        observe_request(request.method or "", response.status_code)
        return response
