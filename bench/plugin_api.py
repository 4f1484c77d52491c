"""The Plugin API's costs (issue 4), printed next to baselines measured in the same run:

1. host API calls per second on ONE core, with the audit on and off (target: the audit costs <= 20 %):
   - in process: `gateway.call` as the worker channel invokes it (one Redis round trip for the rate-limit counters,
     the installation's state token and revocation flag; the installation as this process holds it; scope check;
     the host function; the batched audit), for a cheap call (storage.get) and a database read (content.find);
   - through the sandbox: a plugin function making 200 `context.storage.get` calls over the worker pipe;
   - in process: storage.get latency p50/p99 next to its floor measured in the same run: one Redis PING plus one
     PostgreSQL `SELECT 1` on the same connections (the call's two round trips, with no work);
2. event fan-out to 100 installations: recording 100 deliveries and queueing their tasks, then running all 100
   handlers in the real sandbox (one worker per installation), against one installation's delivery as baseline.

Uses its own PostgreSQL database (`aisquare_bench_pluginapi`, migrated on first use) and Redis cache database 7.

    .venv/bin/python bench/plugin_api.py [--calls 3000] [--rounds 5] [--installations 100]
"""

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdb import database  # noqa: E402

from tests.runtime.packages import build_package  # noqa: E402

BENCH_DB = "aisquare_bench_pluginapi"

PLUGIN_SOURCE = '''
context = None

def init(ctx):
    global context
    context = ctx
    ctx.events.on("assessment:submitted", on_submitted)

def on_submitted(data):
    context.storage.set("last", data["submissionId"])

def hammer(n):
    for i in range(n):
        context.storage.get("k")
    return n
'''


def setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("TEST_DATABASE_NAME", None)
    os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/7")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aisquare_plugins.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("PLUGIN_ROOT", f"/tmp/bench-plugin-api-{os.getpid()}/plugins")
    os.environ.setdefault("MEDIA_ROOT", f"/tmp/bench-plugin-api-{os.getpid()}/media")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    import django

    django.setup()


def world(n_installations: int):
    """One organization, an admin and a learner, an assessment, and n active installations of one plugin."""
    from django.core.files.base import ContentFile

    from developers.models import Developer
    from host import services as host_services
    from host.models import Membership, Organization, User
    from marketplace.models import Plugin, PluginVersion
    from runtime import plugin_files
    from runtime.models import Installation

    tag = hashlib.sha256(str(time.time()).encode()).hexdigest()[:8]
    admin = User.objects.create(username=f"bench-admin-{tag}", email=f"a{tag}@bench.test", role="org_admin")
    learner = User.objects.create(username=f"bench-learner-{tag}", email=f"l{tag}@bench.test")
    org = Organization.objects.create(name=f"Bench {tag}", slug=f"bench-{tag}")
    Membership.objects.create(organization=org, user=admin, role="admin")
    Membership.objects.create(organization=org, user=learner)
    for i in range(20):
        host_services.content_create(title=f"Lesson {i}", org=org, author=admin)
    assessment = host_services.assessment_create(title="Bench quiz", org=org, author=admin)
    developer = Developer.objects.create(user=admin, company_name=f"Bench {tag}")
    installations = []
    for i in range(n_installations):
        plugin_id = f"bench-{tag}-{i}"
        data = build_package(PLUGIN_SOURCE, plugin_id=plugin_id, permissions=[
            {"scope": "assessments:read", "reason": "events"}, {"scope": "content:read", "reason": "find"}])
        plugin = Plugin.objects.create(id=plugin_id, developer=developer, name=plugin_id, category="productivity")
        version = PluginVersion.objects.create(
            plugin=plugin, version="1.0.0", version_major=1, package=ContentFile(data, name=f"{plugin_id}.zip"),
            sha256=hashlib.sha256(data).hexdigest(), size=len(data), manifest=json.loads(
                zipfile.ZipFile(io.BytesIO(data)).read("plugin.json")), min_platform_version="2.0.0",
            status="approved")
        installation = Installation.objects.create(
            plugin=plugin, plugin_version=version, version="1.0.0", user=admin, org=org, status="active",
            permissions=["assessments:read", "content:read"])
        plugin_files.create_data_dir(installation.pk)
        installations.append(installation)
    return org, admin, learner, assessment, installations


def calls_per_second(installation_id, method: str, params: dict, n: int) -> tuple[float, float]:
    """(calls per wall-clock second, calls per CPU-second of this process) — the second is what one core of the
    web/worker process spends, and moves less with the load other processes put on a shared machine."""
    from runtime.plugin_api import audit, gateway

    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        gateway.call(installation_id=installation_id, method=method, params=params)
    audit.flush()  # the audit's cost includes writing it
    return n / (time.perf_counter() - start), n / max(time.process_time() - cpu, 1e-9)


def latency(installation_id, n: int) -> None:
    """storage.get through the gateway, one call at a time, against two bare round trips (Redis + PostgreSQL)."""
    from django.core.cache import caches
    from django.db import connection

    from runtime.plugin_api import audit, gateway

    def timed(run) -> list[float]:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return times

    redis = caches["default"]._cache.get_client(None, write=True)

    def floor() -> None:
        redis.ping()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    floor()
    calls = timed(lambda: gateway.call(installation_id=installation_id, method="storage.get", params={"key": "k"}))
    audit.flush()
    bare = timed(floor)

    def pct(values, q):
        return sorted(values)[min(len(values) - 1, int(len(values) * q / 100))] * 1000

    p50, b50 = statistics.median(calls) * 1000, statistics.median(bare) * 1000
    print(f"  in process: storage.get latency         p50 {p50:6.3f} ms  p99 {pct(calls, 99):6.3f} ms")
    print(f"  baseline: Redis PING + PostgreSQL SELECT 1 p50 {b50:6.3f} ms  p99 {pct(bare, 99):6.3f} ms   "
          f"ratio {p50 / b50:4.2f}x")


def reset_counters() -> None:
    from django.core.cache import cache

    cache.clear()


def compare(label: str, measure, rounds: int) -> None:
    """Interleave audit-off and audit-on rounds (noise on a shared machine hits both) and take medians."""
    from django.conf import settings

    off, on = [], []
    for _ in range(rounds):
        for enabled, bucket in ((False, off), (True, on)):
            settings.PLUGIN_AUDIT_ENABLED = enabled
            reset_counters()
            bucket.append(measure())
    settings.PLUGIN_AUDIT_ENABLED = True
    for index, unit in ((0, "wall"), (1, "cpu")):
        m_off = statistics.median(r[index] for r in off)
        m_on = statistics.median(r[index] for r in on)
        cost = (m_off - m_on) / m_off * 100
        verdict = "OK" if cost <= 20 else "OVER TARGET"
        print(f"  {label:<36} {unit:>4}: audit off {m_off:8,.0f}/s  audit on {m_on:8,.0f}/s  "
              f"audit costs {cost:5.1f} %  (target <= 20 %: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--installations", type=int, default=100)
    args = parser.parse_args()
    setup(database(BENCH_DB, script="bench/plugin_api.py"))
    plugin_api_section(calls=args.calls, rounds=args.rounds, installations=args.installations)


def plugin_api_section(*, calls: int = 3000, rounds: int = 5, installations: int = 100) -> None:
    """The figures of issue 4, in a process where Django is set up (bench/sandbox.py calls this too)."""
    from django.core.management import call_command

    for app in ("host", "developers", "marketplace", "runtime"):
        call_command("migrate", app, verbosity=0)
    from django.conf import settings

    # The bench measures throughput, not the limiter: lift the per-installation allowances for this process.
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "api_calls_per_minute": 10**9, "api_calls_per_day": 10**9}
    org, admin, learner, assessment, installations = world(installations)
    first = installations[0]
    print(f"Plugin API, one core (pid {os.getpid()}), {calls:,} calls x {rounds} rounds per figure")
    compare("in process: storage.get", lambda: calls_per_second(first.pk, "storage.get", {"key": "k"}, calls),
            rounds)
    reset_counters()
    latency(first.pk, calls)
    compare("in process: content.find (20 rows)",
            lambda: calls_per_second(first.pk, "content.find", {"query": {"limit": 20}}, calls // 3),
            rounds)

    import shutil

    if shutil.which("bwrap") is None:
        print("  (bubblewrap missing: sandbox figures skipped)")
        return
    from runtime.plugin_api import execution
    from runtime.sandbox.pool import get_pool

    def through_sandbox() -> tuple[float, float]:
        n = 200
        start, cpu = time.perf_counter(), time.process_time()
        execution.run(installation=first, kind="function", name="hammer", args=[n])
        return n / (time.perf_counter() - start), n / max(time.process_time() - cpu, 1e-9)

    execution.run(installation=first, kind="function", name="hammer", args=[1])  # warm the worker
    compare("sandbox: 200 x storage.get per call", through_sandbox, rounds)

    # --- event fan-out ---------------------------------------------------------------------------------------------
    from django.db import transaction

    from host import services as host_services
    from runtime.plugin_api import events
    from runtime.plugin_api.models import EventDelivery, EventSubscription

    for installation in installations:
        EventSubscription.objects.get_or_create(installation=installation, event="assessment:submitted",
                                                handler="on_submitted")
    sent = []
    from runtime.plugin_api import tasks

    original_delay = tasks.deliver_event.delay
    tasks.deliver_event.delay = lambda pk: sent.append(pk)  # count the queueing; deliveries are run below
    try:
        start = time.perf_counter()
        with transaction.atomic():
            submission = host_services.submission_create(assessment=assessment, user=learner, content="bench")
        fan_out_ms = (time.perf_counter() - start) * 1000
    finally:
        tasks.deliver_event.delay = original_delay
    deliveries = list(EventDelivery.objects.filter(payload__submissionId=str(submission.id)).values_list("pk",
                                                                                                        flat=True))
    print(f"Event fan-out to {len(deliveries)} installations (pool of {settings.SANDBOX_POOL_SIZE} warm workers)")
    print(f"  emit + record {len(deliveries)} deliveries ({len(sent)} task sends stubbed): {fan_out_ms:8.1f} ms")
    get_pool().close_all()
    start = time.perf_counter()
    events.event_deliver(delivery_id=str(deliveries[0]))
    baseline_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    statuses = [events.event_deliver(delivery_id=str(pk)) for pk in deliveries[1:]]
    all_ms = (time.perf_counter() - start) * 1000
    ok = statuses.count("delivered") + 1
    print(f"  baseline: one delivery, cold worker          {baseline_ms:8.1f} ms")
    print(f"  the other {len(deliveries) - 1} deliveries, one process     {all_ms:8.1f} ms "
          f"({all_ms / max(len(deliveries) - 1, 1):.1f} ms each, {ok}/{len(deliveries)} delivered); "
          f"with Celery each is its own task, spread over the workers")


if __name__ == "__main__":
    main()
