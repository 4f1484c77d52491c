"""Marketplace search at 100,000 plugins: p50/p95 of a text query with filters and facets, next to a primary-key
lookup on the same table (the floor), measured in the same run.

Seeds a separate PostgreSQL database (`aisquare_bench` on the server of DATABASE_URL, created if missing) with
COPY, migrates the marketplace's tables there (with the search entries and indexes of migration 0007), writes each
listed plugin's search entry through marketplace.catalogue, then times `marketplace.selectors.plugin_search` with
the listing cache bypassed, so the figures are the database's. A database seeded before is reused (--reseed to
start again).

    .venv/bin/python bench/search.py [--plugins 100000] [--runs 200] [--reseed]

Target (issue 6): search p95 <= 50 ms.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdb import database  # noqa: E402

BENCH_DB = "aisquare_bench"

WORDS = (  # noqa: SIM905 (a sentence is easier to read and extend than 250 quoted words)
    "quiz assessment exam grade rubric feedback essay reading writing math algebra geometry science lab chemistry "
    "physics biology history geography language vocabulary grammar spelling pronunciation translation flashcard "
    "memory practice homework assignment deadline calendar schedule attendance roster classroom teacher student "
    "parent school district course lesson module video audio podcast slide presentation whiteboard drawing diagram "
    "chart graph dashboard analytics report insight progress mastery badge points leaderboard streak reward game "
    "puzzle challenge competition team group discussion forum chat message notification reminder email sms "
    "integration sync import export spreadsheet document storage cloud drive calendar zoom meeting webinar live "
    "stream recording caption subtitle accessibility contrast screen reader dyslexia font theme dark mode color "
    "layout widget sidebar menu toolbar shortcut productivity timer focus pomodoro planner todo checklist note "
    "summary outline mindmap citation bibliography plagiarism originality ai tutor assistant hint explanation "
    "generator question bank adaptive personalized learning path recommendation survey poll form signup portfolio "
    "certificate transcript credential coding programming python javascript robot sensor music art"
).split()
TAGS = WORDS[:80]
CATEGORIES = ("assessment", "content", "analytics", "integration", "ui_theme", "language", "accessibility",
              "productivity", "communication", "gamification")
PRICING = (("free", Decimal("0")),) * 6 + (("one_time", Decimal("9.99")), ("subscription", Decimal("4.00")),
                                           ("usage_based", Decimal("0.01")))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("TEST_DATABASE_NAME", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aisquare_plugins.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def seed(count: int, reseed: bool) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from developers.models import Developer
    from marketplace.models import Plugin, PluginVersion, SearchEntry

    for app in ("host", "developers", "marketplace"):
        call_command("migrate", app, verbosity=0)
    if reseed:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE marketplace_pluginversion, marketplace_plugins CASCADE")
    have = Plugin.objects.count()
    if have >= count:
        print(f"catalogue: {have:,} plugins already seeded in {BENCH_DB}")
        if not SearchEntry.objects.exists():  # seeded before the search entries existed: give the rows theirs
            index_entries()
        return
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE marketplace_pluginversion, marketplace_plugins CASCADE")
    rng = random.Random(6)
    user_model = get_user_model()
    developers = []
    for n in range(200):
        user, _ = user_model.objects.get_or_create(username=f"bench-dev-{n}")
        developer, _ = Developer.objects.get_or_create(user=user, defaults={"company_name": f"Bench Studio {n}"})
        developers.append(developer.pk)
    now = datetime.now(UTC)
    started = time.perf_counter()
    plugin_fields = list(Plugin._meta.concrete_fields)
    version_fields = list(PluginVersion._meta.concrete_fields)
    plugin_rows, version_rows = [], []
    for n in range(count):
        name = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(2, 3))) + f" {n}"
        model, price = rng.choice(PRICING)
        rated = rng.random() < 0.7
        published = now - timedelta(days=rng.uniform(0, 1500))
        plugin_id = f"bench-{n}"
        plugin_rows.append({
            "id": plugin_id, "developer_id": rng.choice(developers), "name": name,
            "description": " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 30))) + ".",
            "author": json.dumps({"name": "Bench"}), "category": rng.choice(CATEGORIES),
            "tags": json.dumps(rng.sample(TAGS, rng.randint(2, 4))), "version": "1.0.0",
            "pricing": json.dumps({"model": model, "price": str(price), "currency": "USD"}),
            "pricing_model": model, "price": price, "currency": "USD", "ratings": "{}",
            "rating_average": Decimal(f"{rng.uniform(1, 5):.2f}") if rated else Decimal("0"),
            "rating_count": rng.randint(1, 500) if rated else 0,
            "downloads": int(rng.paretovariate(1.2) * 10), "screenshots": "[]", "icon": "",
            "documentation_url": "", "support_url": "", "verified": rng.random() < 0.4,
            "featured": rng.random() < 0.01, "published_at": published, "created_at": published,
            "updated_at": published,
        })
        statuses = ["approved"] if rng.random() < 0.9 else ["yanked"] if rng.random() < 0.5 else ["rejected"]
        min_key = rng.choice((1, 2, 2, 2, 3))
        plugin_rows[-1].update({  # the listing columns marketplace.catalogue keeps in step with the versions
            "listed": "approved" in statuses, "listed_platform_gapless": True,
            "listed_min_platform_key": min_key * 100_000_000 if "approved" in statuses else None,
            "listed_max_platform_key": None,
        })
        for major, status in enumerate(statuses, start=1):
            version_rows.append({
                "id": uuid.uuid4(), "plugin_id": plugin_id, "version": f"{major}.0.0", "version_major": major,
                "version_minor": 0, "version_patch": 0, "package": f"packages/{plugin_id}.zip",
                "sha256": uuid.uuid4().hex + uuid.uuid4().hex, "size": 1000, "manifest": "{}", "status": status,
                "changelog": "", "min_platform_version": f"{min_key}.0.0", "max_platform_version": "",
                "min_platform_key": min_key * 100_000_000, "max_platform_key": None, "quality_score": 80,
                "uploaded_by_id": None, "published_at": published, "yanked_at": None, "yank_reason": "",
                "created_at": published, "updated_at": published,
            })
    raw = connection.cursor().cursor  # the psycopg cursor, for COPY
    for table, fields, rows in (
        (Plugin._meta.db_table, plugin_fields, plugin_rows),
        (PluginVersion._meta.db_table, version_fields, version_rows),
    ):
        columns = [f.column for f in fields]
        with raw.copy(f'COPY {table} ({", ".join(columns)}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    index_entries()
    with connection.cursor() as cursor:
        # VACUUM too: it sets the hint bits and visibility map a freshly COPYed table lacks (the first reads would
        # otherwise write every page), the steady state of a live catalogue.
        cursor.execute(f"VACUUM ANALYZE {Plugin._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {PluginVersion._meta.db_table}")
    print(f"seeded {count:,} plugins and {len(version_rows):,} versions in {time.perf_counter() - started:.1f} s")


def index_entries() -> None:
    """The search entries of the listed plugins, written by the catalogue's own service (as on every change)."""
    from django.db import connection

    from marketplace.catalogue import search_entries_refresh
    from marketplace.models import Plugin, SearchEntry

    started = time.perf_counter()
    search_entries_refresh(plugin_ids=Plugin.objects.filter(listed=True).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {SearchEntry._meta.db_table}")
    print(f"search entries: {SearchEntry.objects.count():,} written in {time.perf_counter() - started:.1f} s")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def run(runs: int) -> None:
    from django.db import connection, reset_queries

    from marketplace import cache as catalogue_cache
    from marketplace import selectors
    from marketplace.models import Plugin

    queries = [
        selectors.SearchParams(query="quiz", pricing=("free",), rating_min=Decimal("3"), compatible_with="2.4.0"),
        selectors.SearchParams(query="analytics dashboard", category="analytics", verified=True),
        selectors.SearchParams(query="asessment"),  # a typo: trigram similarity on the name
        selectors.SearchParams(query="student feedback", tags=("feedback",), sort="popular"),
        selectors.SearchParams(query="python coding", sort="rating", price_max=Decimal("10")),
        selectors.SearchParams(query="calendar", featured=None, verified=True, offset=20),
    ]
    rng = random.Random(7)
    ids = list(Plugin.objects.values_list("pk", flat=True)[:5000])
    load_before = os.getloadavg()

    def timed(search_runs: int) -> tuple[list[float], list[float], dict, dict]:
        """Alternate a primary-key lookup (the floor) and a search, cycling through the queries."""
        lookup, searched, totals, per_query = [], [], {}, {}
        for params in queries:  # warm-up: plans, caches, connections
            selectors.plugin_search(params=params)
        for n in range(search_runs):
            started = time.perf_counter()
            Plugin.objects.filter(pk=rng.choice(ids)).first()
            lookup.append((time.perf_counter() - started) * 1000)
            params = queries[n % len(queries)]
            started = time.perf_counter()
            result = selectors.plugin_search(params=params)
            searched.append((time.perf_counter() - started) * 1000)
            totals[params.query] = result.total
            per_query.setdefault(params.query, []).append(searched[-1])
        return lookup, searched, totals, per_query

    # The database's path: the listing cache (page ids, total, facets) neither read nor written.
    get_listing, set_listing = catalogue_cache.get_listing, catalogue_cache.set_listing
    catalogue_cache.get_listing = lambda key: None
    catalogue_cache.set_listing = lambda key, value: None
    lookup, searched, totals, per_query = timed(runs)
    # Separately, the listing cache hit (the settings' cache: Redis with CACHE_URL, else local memory): the ids,
    # total and facets come from the cache, the page's rows are still read fresh.
    catalogue_cache.get_listing, catalogue_cache.set_listing = get_listing, set_listing
    cached_lookup, cached, _, _ = timed(runs)
    reset_queries()
    count = Plugin.objects.count()
    load = ", ".join(f"{value:.1f}" for value in load_before)
    load_after = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"catalogue: {count:,} plugins; {runs} searches cycling through {len(queries)} queries, each next to a "
          f"primary-key lookup; PostgreSQL {connection.pg_version // 10000}, {os.cpu_count()} cores, load average "
          f"{load} before, {load_after} after (figures scale with the machine's load; compare to the baseline)")
    for query, samples in per_query.items():
        p50, p95 = percentiles(samples)
        print(f"  {query!r:24} {totals[query]:7,} matches   p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
    lp50, lp95 = percentiles(lookup)
    sp50, sp95 = percentiles(searched)
    print(f"  baseline  primary-key lookup           p50 {lp50:6.2f} ms   p95 {lp95:6.2f} ms")
    print(f"  search    text+filters+facets+page     p50 {sp50:6.2f} ms   p95 {sp95:6.2f} ms   "
          f"(x{sp50 / lp50:.0f} / x{sp95 / lp95:.0f} the baseline; "
          f"target p95 <= 50 ms: {'met' if sp95 <= 50 else 'NOT met'})")
    lp50, lp95 = percentiles(cached_lookup)
    cp50, cp95 = percentiles(cached)
    print(f"  (listing cache hit: search p50 {cp50:.2f} ms, p95 {cp95:.2f} ms; baseline in that run p50 {lp50:.2f} ms, "
          f"p95 {lp95:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    setup_django(database(BENCH_DB, script="bench/search.py"))
    seed(args.plugins, args.reseed)
    run(args.runs)


if __name__ == "__main__":
    main()
