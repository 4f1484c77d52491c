"""The monthly payout run at scale (issue 8), printed next to a floor measured in the same run.

1,000,000 ledger rows over 10,000 developers (COPY into a PostgreSQL database of its own, `aisquare_bench_payouts`,
recreated each run, tables built from the models). Measured:

- floor: one `SELECT developer_id, currency, SUM(developer_share) ... GROUP BY` over the same unpaid rows;
- `payouts_create`: the claiming step alone (aggregate, bulk insert, link rows, sum them): its query count must not
  depend on rows or developers;
- the whole run (`payouts_run`, as `manage.py run_payouts` does it, local gateway): time and query count, over
  1M rows measured in its two parts (`payouts_create`, then `payouts_send_due`);
- the same run over 100,000 rows for the same developers, to show queries grow with developers, not with rows;
- how many of the claim's row rewrites were HOT (in the page, no index entry), and a write floor: one UPDATE
  rewriting each of the month's rows once.

The ledger table gets its fillfactor from migration 0007 (called here: the tables are built from the models).
Target: the 1M-row run in <= 60 s. The load average is printed before and after: the machine is shared.

    .venv/bin/python bench/payouts.py [--rows 1000000] [--developers 10000]
"""

import argparse
import importlib
import io
import os
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdb import database, setup_django  # noqa: E402

BENCH_DB = os.environ.get("BENCH_PAYOUTS_DB", "aisquare_bench_payouts")


def seed(developers: int) -> tuple[list, list]:
    """Developers, one plugin each, and payout accounts for nine in ten (the tenth carries over), via the ORM."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from developers.models import Developer
    from marketplace.models import Plugin
    from revenue.models import PayoutAccount

    password = make_password("bench-password-not-used")
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench{i}", email=f"bench{i}@example.test", password=password)
         for i in range(developers)], batch_size=5000)
    devs = Developer.objects.bulk_create(
        [Developer(user=u, company_name=f"Studio {i}") for i, u in enumerate(users)], batch_size=5000)
    now = timezone.now()
    plugins = Plugin.objects.bulk_create(
        [Plugin(id=f"bench-plugin-{i}", developer=d, name=f"Plugin {i}", category="assessment",
                pricing={"model": "one_time", "price": "9.99", "currency": "USD"}, pricing_model="one_time",
                price=Decimal("9.99"), published_at=now) for i, d in enumerate(devs)], batch_size=5000)
    PayoutAccount.objects.bulk_create(
        [PayoutAccount(developer=d, gateway="local", account_id=f"acct-{i}", payouts_enabled=True)
         for i, d in enumerate(devs) if i % 10], batch_size=5000)
    return [d.pk for d in devs], [p.pk for p in plugins]


def copy(cursor, table: str, columns: list[str], data: io.StringIO) -> None:
    data.seek(0)
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as pipe:
        while chunk := data.read(1 << 20):
            pipe.write(chunk)


def ledger(rows: int, developer_ids: list, plugin_ids: list, month: date, tag: str) -> None:
    """`rows` money events spread over every developer, with the fee split exactly as the ledger does it."""
    from django.db import connection

    from revenue import money

    rng = random.Random(rows)
    created = datetime(month.year, month.month, 15, tzinfo=UTC).isoformat()
    rate = Decimal("0.30")
    prices = [Decimal(p) for p in ("0.99", "1.99", "4.99", "9.99", "19.99", "49.00")]
    splits = {p: money.split(p, "USD", rate) for p in prices}
    columns = ["id", "plugin_id", "developer_id", "transaction_type", "amount", "currency", "platform_fee",
               "developer_share", "payment_status", "period_start", "period_end", "external_id", "created_at"]
    batch = 200_000
    with connection.cursor() as cursor:
        # Bulk load as one would: drop the plain indexes, COPY, build them again (much faster than row by row).
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'plugin_revenue' "
                       "AND indexname NOT IN (SELECT conname FROM pg_constraint)")
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for start in range(0, rows, batch):
            buf = io.StringIO()
            for n in range(start, min(rows, start + batch)):
                d = n % len(developer_ids)
                price = prices[rng.randrange(len(prices))]
                fee, share = splits[price]
                buf.write(f"{uuid.uuid4()}\t{plugin_ids[d]}\t{developer_ids[d]}\tpurchase\t{price}\tUSD\t{fee}\t"
                          f"{share}\tsucceeded\t{month}\t{month}\tpi_{tag}_{n}\t{created}\n")
            copy(cursor, "plugin_revenue", columns, buf)
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("ANALYZE plugin_revenue")


class QueryLog:
    """Counts and times every statement (CaptureQueriesContext keeps only the last 9,000)."""

    def __init__(self):
        self.count, self.slowest, self.seconds = 0, [], 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started
            self.slowest.append((time.perf_counter() - started, sql[:110]))
            if len(self.slowest) > 200:
                self.slowest = sorted(self.slowest, reverse=True)[:5]


def measure(label: str, fn, *, show_slowest: bool = False):
    from django.db import connection

    log = QueryLog()
    with connection.execute_wrapper(log):
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
    print(f"  {label:<58} {elapsed:8.2f} s {log.count:>9,} queries   {result}")
    if show_slowest:
        for seconds, sql in sorted(log.slowest, reverse=True)[:3]:
            print(f"      {seconds:6.2f} s  {sql}")
        print(f"      {elapsed - log.seconds:6.2f} s  outside statements (commit and its foreign-key checks, Python)")
    return elapsed, log.count, result


def floor_query(month: date):
    from django.db import connection

    cutoff = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)

    def run():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT developer_id, currency, SUM(developer_share) FROM plugin_revenue "
                "WHERE payment_status = 'succeeded' AND payout_id IS NULL AND created_at < %s "
                "GROUP BY developer_id, currency", [cutoff])
            return f"{len(cursor.fetchall()):,} groups"
    return run


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def hot_updates() -> tuple[int, int]:
    """(HOT updates, all updates) of plugin_revenue so far, from PostgreSQL's statistics."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'plugin_revenue'")
        return cursor.fetchone()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--developers", type=int, default=10_000)
    args = parser.parse_args()

    print(f"load average before: {load_average()}")
    setup_django(database(BENCH_DB, script="bench/payouts.py", fresh=True))

    from django.conf import settings
    from django.db import connection, transaction

    with connection.schema_editor() as editor:
        importlib.import_module("revenue.migrations.0007_ledger_hot_claims").ledger_fillfactor(None, editor)

    from revenue import services
    from revenue.models import Payout

    print(f"payout run, {args.rows:,} ledger rows over {args.developers:,} developers "
          f"(PostgreSQL {BENCH_DB}, minimum {settings.PAYOUT_MINIMUM})")
    t0 = time.perf_counter()
    developer_ids, plugin_ids = seed(args.developers)
    small_month, big_month = date(2026, 9, 1), date(2026, 10, 1)
    small_rows = max(args.rows // 10, args.developers)
    ledger(small_rows, developer_ids, plugin_ids, small_month, "small")
    print(f"  seeded {args.developers:,} developers and {small_rows:,} rows in {time.perf_counter() - t0:.1f} s")

    print(f"\n{small_rows:,} rows (September):")
    measure("floor: SUM ... GROUP BY over the unpaid rows", floor_query(small_month))
    _, small_queries, _ = measure("payout run (create + send every payout)",
                                  lambda: services.payouts_run(period=small_month))
    small_payouts = Payout.objects.filter(period_start=small_month).count()

    t0 = time.perf_counter()
    ledger(args.rows, developer_ids, plugin_ids, big_month, "big")
    print(f"\n{args.rows:,} rows (October), copied in {time.perf_counter() - t0:.1f} s:")
    floor_time, _, _ = measure("floor: SUM ... GROUP BY over the unpaid rows", floor_query(big_month))

    # The run in its two parts (what payouts_run does), measured apart: claiming (fixed statements, the commit
    # included: it checks each row's payout foreign key), then sending every due payout.
    create_time, create_queries, created = measure(
        "payouts_create: claim the rows, one payout each", lambda: services.payouts_create(period=big_month),
        show_slowest=True)
    send_time, send_queries, counts = measure(
        "payouts_send_due: send every due payout (batches of 500)", lambda: services.payouts_send_due(),
        show_slowest=True)
    run_time, big_queries = create_time + send_time, create_queries + send_queries
    hot, updated = hot_updates()
    print(f"  row rewrites so far: {updated:,}, of which HOT (in the page, no index entry): {hot:,}")
    counts["created"] = created
    big_payouts = Payout.objects.filter(period_start=big_month).count()
    measure("the same run again (idempotent: nothing to pay)", lambda: services.payouts_run(period=big_month))

    def write_floor():
        """Rewrite each of the period's rows once (what linking every row to its payout costs at least), undone."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE plugin_revenue SET payout_id = payout_id WHERE created_at >= %s",
                           [datetime(big_month.year, big_month.month, 1, tzinfo=UTC)])
            written = cursor.rowcount
            transaction.set_rollback(True)
        return f"{written:,} rows rewritten (rolled back)"

    write_time, _, _ = measure("write floor: one UPDATE rewriting each row once", write_floor)

    print("\nsummary")
    print(f"  payout run over {args.rows:,} rows ({created:,} payouts): {run_time:.1f} s (target <= 60 s) "
          f"= {run_time / floor_time:.0f}x the GROUP BY floor ({floor_time:.2f} s), "
          f"{run_time / write_time:.1f}x the write floor ({write_time:.1f} s: every row is linked to its payout)")
    print(f"  queries: {small_queries:,} for {small_payouts:,} payouts over {small_rows:,} rows, "
          f"{big_queries:,} for {big_payouts:,} payouts over {args.rows:,} rows "
          f"({big_queries / max(1, -(-big_payouts // 500)):.0f} per batch of 500 payouts): "
          "they follow developers, not rows")
    print(f"  {'OK' if run_time <= 60 else 'OVER TARGET'}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
