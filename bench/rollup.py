"""The daily analytics roll-up at scale (issue 10), printed next to floors measured in the same run.

N `plugin_usage` rows (default 1,000,000: 70 % runs with wall time, CPU and memory, 30 % Plugin API calls) over
3 days, 1,000 plugins with 3 versions each, and 50,000 installations, COPYed into a PostgreSQL database of its own
(`aisquare_bench_rollup`, recreated each run, tables built from the models). Measured:

- floor: one `SELECT plugin_id, version, COUNT(*) ... GROUP BY` over one day's rows (the least a roll-up must read);
- `rollup_day` for that day (grouping sets, percentiles, installations, top errors, replace in one transaction);
- `rollup_catch_up` over the 3 days from nothing, then again (nothing left but today: the incremental beat run);
- a developer's dashboard query (30 days of one plugin from the roll-ups) against the same figures counted from raw
  rows (`plugin_usage` for that plugin over the range, through its (plugin_id, created_at) index);
- a /metrics scrape (roll-ups of complete days + raw rows since).

    .venv/bin/python bench/rollup.py [--rows 1000000]
"""

import argparse
import io
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdb import database, setup_django  # noqa: E402

BENCH_DB = os.environ.get("BENCH_ROLLUP_DB", "aisquare_bench_rollup")
PLUGINS, VERSIONS, DAYS = 1000, ("1.0.0", "1.1.0", "2.0.0"), 3
NULL = "\\N"  # COPY's text format


def copy(cursor, table: str, columns: list[str], data: io.StringIO) -> None:
    data.seek(0)
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as pipe:
        while chunk := data.read(1 << 20):
            pipe.write(chunk)


def seed(rows: int, first_day) -> list[str]:
    import json

    from django.contrib.auth import get_user_model
    from django.db import connection

    from developers.models import Developer
    from marketplace.models import Plugin

    user = get_user_model().objects.create(username="bench-dev", email="bench@example.test")
    developer = Developer.objects.create(user=user, company_name="Bench Studio")
    plugin_ids = [f"bench-plugin-{i}" for i in range(PLUGINS)]
    Plugin.objects.bulk_create([Plugin(id=pid, developer=developer, name=pid, category="assessment")
                                for pid in plugin_ids], batch_size=5000)
    learners = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"learner{i}", email=f"l{i}@example.test") for i in range(5000)], batch_size=5000)
    rng = random.Random(rows)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    columns = ["id", "plugin_id", "user_id", "installation_id", "version", "action", "resource_type", "resource_id",
               "outcome", "metadata", "created_at"]
    outcomes = ["ok"] * 90 + ["error"] * 6 + ["limited"] * 2 + ["violation"] + ["denied"]
    with connection.cursor() as cursor:
        for chunk in range(0, rows, 200_000):
            buf = io.StringIO()
            for _ in range(chunk, min(rows, chunk + 200_000)):
                pid = plugin_ids[min(int(rng.paretovariate(1.2)) - 1, PLUGINS - 1)]  # a few popular plugins
                when = start + timedelta(seconds=rng.randrange(DAYS * 86400))
                outcome = rng.choice(outcomes)
                if rng.random() < 0.7:
                    meta = {"wall_ms": round(rng.lognormvariate(3, 1), 3), "cpu_ms": round(rng.uniform(0, 40), 3),
                            "peak_memory_kb": rng.randrange(20_000, 200_000), "cold_start": rng.random() < 0.05}
                    if outcome == "error":
                        meta.update(reason=rng.choice(["ValueError", "KeyError"]), message=f"case {rng.randrange(5)}")
                    kind, action = "plugin", "function:grade"
                else:
                    meta = {"ms": 0.4} | ({"error": "invalid"} if outcome == "error" else {})
                    kind, action = "content", "content.get"
                buf.write(f"{uuid.uuid4()}\t{pid}\t{rng.choice(learners).pk}\t\\N\t{rng.choice(VERSIONS)}\t"
                          f"{action}\t{kind}\t\t{outcome}\t{json.dumps(meta)}\t{when.isoformat()}\n")
            copy(cursor, "plugin_usage", columns, buf)
        buf = io.StringIO()
        for n in range(50_000):
            installed = start - timedelta(days=10) + timedelta(seconds=rng.randrange((DAYS + 10) * 86400))
            gone = installed + timedelta(days=rng.randrange(1, 20)) if n % 5 == 0 else None
            owner = learners[n // PLUGINS].pk
            buf.write(f"{uuid.uuid4()}\t{plugin_ids[n % PLUGINS]}\t{owner}\t{rng.choice(VERSIONS)}\t"
                      f"{'uninstalled' if gone else 'active'}\t[]\t{{}}\t\t{installed.isoformat()}\t"
                      f"{installed.isoformat()}\t{gone.isoformat() if gone else NULL}\t{installed.isoformat()}\n")
        copy(cursor, "installed_plugins", ["id", "plugin_id", "user_id", "version", "status", "permissions",
                                           "settings", "last_error", "installed_at", "activated_at", "uninstalled_at",
                                           "updated_at"], buf)
        cursor.execute("ANALYZE plugin_usage")
        cursor.execute("ANALYZE installed_plugins")
    return plugin_ids


def timed(label: str, fn, repeat: int = 1):
    best, result = None, None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        took = time.perf_counter() - began
        best = took if best is None else min(best, took)
    print(f"  {label:<62} {best * 1000:10.1f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    setup_django(database(BENCH_DB, script="bench/rollup.py", fresh=True))

    from django.db import connection

    from runtime.analytics import metrics, rollup, selectors
    from runtime.analytics.models import PluginDailyStats

    today = rollup.utc_today()
    first_day = today - timedelta(days=DAYS)
    began = time.perf_counter()
    plugin_ids = seed(args.rows, first_day)
    print(f"seeded {args.rows:,} plugin_usage rows over {DAYS} days, {PLUGINS} plugins, 50,000 installations "
          f"in {time.perf_counter() - began:.1f} s; load average {os.getloadavg()[0]:.2f}")
    start, end = rollup.day_bounds(first_day)

    def floor():
        with connection.cursor() as cursor:
            cursor.execute("SELECT plugin_id, version, COUNT(*) FROM plugin_usage WHERE created_at >= %s AND "
                           "created_at < %s GROUP BY 1, 2", [start, end])
            return len(cursor.fetchall())

    print("one day")
    timed("floor: GROUP BY plugin, version over the day's rows", floor, repeat=3)
    written = timed("rollup_day (all figures, top errors, replace in one transaction)",
                    lambda: rollup.rollup_day(day=first_day), repeat=3)
    print(f"  ({written:,} figure rows for the day)")
    print("catch-up")
    days = timed(f"rollup_catch_up from nothing ({DAYS} past days + today)", rollup.rollup_catch_up)
    again = timed("rollup_catch_up again (the hourly beat: today only)", rollup.rollup_catch_up)
    from runtime.analytics.models import VersionErrorAlert

    print(f"  ({len(days)} then {len(again)} day(s) computed; {VersionErrorAlert.objects.count():,} versions above "
          "the alert threshold told their developer once)")
    timed("  of which rollup_day(today) alone", lambda: rollup.rollup_day(day=today))
    timed("  of which the alert check alone", lambda: rollup.version_error_alerts_check())
    popular = plugin_ids[0]
    print(f"a developer's dashboard ({popular}, the busiest plugin, 30 days)")

    class P:  # the selector reads pk, name and currency of the plugin
        pk, name, currency = popular, popular, "USD"

    def raw():
        from django.db.models import Count, Q

        from runtime.models import PluginUsage

        low = rollup.day_bounds(today - timedelta(days=29))[0]
        return PluginUsage.objects.filter(plugin_id=popular, created_at__gte=low).aggregate(
            calls=Count("id", filter=Q(resource_type="plugin")),
            failed=Count("id", filter=Q(resource_type="plugin") & ~Q(outcome="ok")))

    counted = timed("baseline: runs and failures counted from raw plugin_usage", raw, repeat=3)
    data = timed("plugin_analytics from the roll-ups (every figure, per day)", lambda: selectors.plugin_analytics(
        plugin=P, start=today - timedelta(days=29), end=today, granularity="day"), repeat=3)
    assert sum(r["calls"] for r in data["series"]) == counted["calls"], "roll-up and raw counts differ"
    print(f"  (runs: {counted['calls']:,} in both; {PluginDailyStats.objects.count():,} roll-up rows in all)")
    print("/metrics")
    timed("scrape (uncached: roll-ups + today's raw rows)", lambda: metrics.render(), repeat=1)


if __name__ == "__main__":
    main()
