"""The daily roll-up equals the raw events it summarizes, is idempotent, and catches up after downtime."""

import datetime as dt
import statistics

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.analytics import rollup
from runtime.analytics.models import PluginDailyError, PluginDailyStats, RollupDay, VersionErrorAlert
from runtime.models import Installation, PluginUsage
from tests.factories import PluginFactory, UserFactory
from tests.monitoring.helpers import at, installation, usage

BASE = dt.date(2026, 3, 10)
PLUGINS = ["roll-a", "roll-b"]
VERSIONS = ["1.0.0", "1.1.0", ""]
OUTCOMES = ["ok", "ok", "ok", "error", "limited", "violation", "denied"]
MESSAGES = ["", "boom", "division by zero"]

event = st.fixed_dictionaries({
    "plugin": st.sampled_from(PLUGINS), "version": st.sampled_from(VERSIONS), "day": st.integers(0, 3),
    "second": st.integers(0, 86399), "run": st.booleans(), "outcome": st.sampled_from(OUTCOMES),
    "user": st.sampled_from([None, 0, 1, 2]),
    "wall": st.one_of(st.none(), st.floats(0, 5000, allow_nan=False).map(lambda v: round(v, 3))),
    "peak": st.one_of(st.none(), st.integers(0, 600_000)),
    "cpu": st.one_of(st.none(), st.floats(0, 3000, allow_nan=False).map(lambda v: round(v, 3))),
    "cold": st.booleans(), "message": st.sampled_from(MESSAGES),
})
install = st.fixed_dictionaries({
    "plugin": st.sampled_from(PLUGINS), "version": st.sampled_from(["1.0.0", "1.1.0"]),
    "installed": st.integers(-2 * 86400, 4 * 86400 - 1),
    "activated_after": st.one_of(st.none(), st.integers(0, 2 * 86400)),
    "uninstalled_after": st.one_of(st.none(), st.integers(0, 3 * 86400)),
    "failed": st.booleans(),
})


def _quantile(values, fraction):
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")  # linear interpolation, as percentile_cont
    return cuts[round(fraction * 100) - 1]


def _expected(events, installs, day):
    """What the roll-up must hold for `day`, computed straight from the events written."""
    start, end = at(day), at(day + dt.timedelta(days=1))
    keys = {}
    for e in events:
        if start <= e["when"] < end:
            for key in ((e["plugin"], e["version"] or "?"), (e["plugin"], "")):
                keys.setdefault(key, {"events": [], "installs": []})["events"].append(e)
    for i in installs:
        if i["installed_at"] < end and (i["uninstalled_at"] is None or i["uninstalled_at"] >= start):
            for key in ((i["plugin"], i["version"]), (i["plugin"], "")):
                keys.setdefault(key, {"events": [], "installs": []})["installs"].append(i)
    out = {}
    for key, group in keys.items():
        runs = [e for e in group["events"] if e["run"]]
        calls = [e for e in group["events"] if not e["run"]]
        walls = [e["wall"] for e in runs if e["wall"] is not None]
        peaks = [e["peak"] for e in runs if e["peak"] is not None]
        figures = {
            "calls": len(runs),
            "errors": sum(e["outcome"] == "error" for e in runs),
            "limited": sum(e["outcome"] == "limited" for e in runs),
            "violations": sum(e["outcome"] == "violation" for e in runs),
            "denied": sum(e["outcome"] == "denied" for e in runs),
            "cold_starts": sum(e["cold"] for e in runs),
            "active_users": len({e["user"] for e in runs if e["user"] is not None}),
            "api_calls": len(calls),
            "api_denied": sum(e["outcome"] == "denied" for e in calls),
            "api_limited": sum(e["outcome"] == "limited" for e in calls),
            "api_errors": sum(e["outcome"] in ("error", "violation") for e in calls),
            "installs": sum(i["installed_at"] >= start for i in group["installs"]),
            "uninstalls": sum(i["uninstalled_at"] is not None and start <= i["uninstalled_at"] < end
                              for i in group["installs"]),
            "activations": sum(i["activated_at"] is not None and start <= i["activated_at"] < end
                               for i in group["installs"]),
            "active_installations": sum(not i["failed"] and (i["uninstalled_at"] is None or i["uninstalled_at"] >= end)
                                        for i in group["installs"]),
        }
        if not any(figures.values()):
            continue
        figures.update({
            "p50_ms": _quantile(walls, 0.5), "p95_ms": _quantile(walls, 0.95),
            "p95_memory_kb": _quantile([float(p) for p in peaks], 0.95), "peak_memory_kb": max(peaks, default=None),
            "cpu_seconds": sum(e["cpu"] for e in runs if e["cpu"] is not None) / 1000,
        })
        out[key] = figures
    return out


@pytest.fixture
def plugins(db):
    return {pid: PluginFactory(id=pid) for pid in PLUGINS}


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(events=st.lists(event, max_size=40), installs=st.lists(install, max_size=8))
def test_rollups_equal_the_raw_counts_they_summarize(plugins, events, installs):
    for model in (PluginUsage, Installation, PluginDailyStats, PluginDailyError, RollupDay, VersionErrorAlert):
        model.objects.all().delete()
    users = [UserFactory(username=f"roll-user-{n}") for n in range(3)]
    for e in events:
        e["when"] = at(BASE + dt.timedelta(days=e["day"]), e["second"])
        usage(plugin_id=e["plugin"], version=e["version"], when=e["when"], run=e["run"], outcome=e["outcome"],
              user=users[e["user"]] if e["user"] is not None else None, wall_ms=e["wall"], peak_kb=e["peak"],
              cpu_ms=e["cpu"], cold=e["cold"], message=e["message"], reason="ValueError" if e["message"] else "")
    for n, i in enumerate(installs):
        i["installed_at"] = at(BASE, i["installed"])
        i["activated_at"] = i["installed_at"] + dt.timedelta(seconds=i["activated_after"]) \
            if i["activated_after"] is not None else None
        i["uninstalled_at"] = i["installed_at"] + dt.timedelta(seconds=i["uninstalled_after"]) \
            if i["uninstalled_after"] is not None else None
        installation(plugin=plugins[i["plugin"]], user=UserFactory(username=f"roll-installer-{n}"),
                     version=i["version"], installed=i["installed_at"], activated=i["activated_at"],
                     uninstalled=i["uninstalled_at"], status=Installation.Status.FAILED if i["failed"] else None)

    today = BASE + dt.timedelta(days=3)
    days = rollup.rollup_catch_up(today=today)

    first = min([BASE + dt.timedelta(days=e["day"]) for e in events]
                + [i["installed_at"].date() for i in installs], default=today)
    assert days == [first + dt.timedelta(days=n) for n in range((today - first).days + 1)]
    for day in days:
        expected = _expected(events, installs, day)
        rows = {(r.plugin_id, r.version): r for r in PluginDailyStats.objects.filter(day=day)}
        assert set(rows) == set(expected), day
        for key, figures in expected.items():
            for name, value in figures.items():
                got = getattr(rows[key], name)
                if value is None:
                    assert got is None, (day, key, name)
                else:
                    assert got == pytest.approx(value, rel=1e-9, abs=1e-6), (day, key, name, got, value)
        # Failures grouped by message add up to every non-ok event of the day (fewer than the top-N cut here).
        failures = sum(1 for e in events if e["outcome"] != "ok" and at(day) <= e["when"] < at(day + dt.timedelta(1)))
        assert sum(PluginDailyError.objects.filter(day=day).values_list("count", flat=True)) == failures


def _snapshot():
    return sorted(
        PluginDailyStats.objects.values_list("day", "plugin_id", "version", "calls", "errors", "p50_ms", "p95_ms",
                                             "installs", "active_installations", "cpu_seconds")
    ), sorted(PluginDailyError.objects.values_list("day", "plugin_id", "action", "message", "count"))


@pytest.mark.django_db
def test_a_day_computed_twice_gives_the_same_rows_and_new_events_replace_the_old_figures(plugins):
    user = UserFactory()
    for n in range(5):
        usage(plugin_id="roll-a", version="1.0.0", when=at(BASE, 60 * n), user=user, wall_ms=10.0 * (n + 1),
              outcome="error" if n == 4 else "ok", reason="KeyError" if n == 4 else "", message="'x'")
    rollup.rollup_day(day=BASE)
    first = _snapshot()
    rollup.rollup_day(day=BASE)
    assert _snapshot() == first
    assert PluginDailyStats.objects.get(day=BASE, plugin_id="roll-a", version="").calls == 5

    usage(plugin_id="roll-a", version="1.0.0", when=at(BASE, 3600), user=user, wall_ms=1000.0)
    rollup.rollup_day(day=BASE)
    row = PluginDailyStats.objects.get(day=BASE, plugin_id="roll-a", version="")
    assert (row.calls, row.errors) == (6, 1)
    assert PluginDailyStats.objects.filter(day=BASE).count() == 2  # the version's row and the plugin's, no more
    error = PluginDailyError.objects.get(day=BASE)
    assert (error.action, error.outcome, error.message, error.count) == ("function:grade", "error", "KeyError: 'x'", 1)


@pytest.mark.django_db
def test_catch_up_computes_every_missing_day_after_downtime_and_only_those(plugins):
    for offset in range(6):
        for n in range(offset + 1):
            usage(plugin_id="roll-b", version="2.0.0", when=at(BASE + dt.timedelta(days=offset), 100 + n))
    # The beat ran through BASE+1, then was down for three days.
    assert rollup.rollup_catch_up(today=BASE + dt.timedelta(days=1)) == [BASE, BASE + dt.timedelta(days=1)]
    computed_at = dict(RollupDay.objects.values_list("day", "computed_at"))

    days = rollup.rollup_catch_up(today=BASE + dt.timedelta(days=5))

    assert days == [BASE + dt.timedelta(days=n) for n in range(2, 6)]
    assert dict(RollupDay.objects.filter(day__lte=BASE + dt.timedelta(days=1)).values_list(
        "day", "computed_at")) == computed_at  # complete days are not recomputed
    calls = dict(PluginDailyStats.objects.filter(plugin_id="roll-b", version="").values_list("day", "calls"))
    assert calls == {BASE + dt.timedelta(days=n): n + 1 for n in range(6)}
    assert RollupDay.objects.filter(complete=True).count() == 6  # past days are over: all complete


@pytest.mark.django_db
def test_today_is_partial_and_recomputed_on_every_run(plugins):
    today = rollup.utc_today()
    usage(plugin_id="roll-a", version="1.0.0", when=at(today, 1))
    assert rollup.rollup_catch_up() == [today]
    assert RollupDay.objects.get(day=today).complete is False
    usage(plugin_id="roll-a", version="1.0.0", when=at(today, 2))
    assert rollup.rollup_catch_up() == [today]
    assert PluginDailyStats.objects.get(day=today, plugin_id="roll-a", version="").calls == 2


@pytest.mark.django_db
def test_the_beat_schedule_is_ensured_with_django_celery_beat_like_the_payout_schedule():
    from django_celery_beat.models import PeriodicTask

    rollup.analytics_schedule_setup()
    rollup.analytics_schedule_setup()
    task = PeriodicTask.objects.get(task=rollup.ROLLUP_TASK_NAME)
    assert (task.enabled, task.crontab.minute, task.crontab.hour) == (True, "10", "*")
    assert PeriodicTask.objects.filter(task=rollup.ROLLUP_TASK_NAME).count() == 1


@pytest.mark.django_db
def test_the_sqlite_fallback_computes_the_same_figures_as_the_postgresql_statements(plugins):
    """The embedded default (SQLite) rolls up in Python; on PostgreSQL both ways must agree on the same rows."""
    import random

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("compares against the PostgreSQL statements")
    rng = random.Random(7)
    users = [UserFactory(username=f"fallback-{n}") for n in range(4)]
    for n in range(300):
        usage(plugin_id=rng.choice(PLUGINS), version=rng.choice(VERSIONS), when=at(BASE, rng.randrange(86400)),
              run=rng.random() < 0.7, outcome=rng.choice(OUTCOMES), user=rng.choice([None, *users]),
              wall_ms=rng.choice([None, round(rng.uniform(0, 900), 3)]),
              peak_kb=rng.choice([None, rng.randrange(9**6)]),
              cpu_ms=rng.choice([None, round(rng.uniform(0, 50), 3)]), cold=rng.random() < 0.2,
              message=rng.choice(MESSAGES), reason="ValueError")
    for n in range(6):
        installation(plugin=plugins[rng.choice(PLUGINS)], user=UserFactory(username=f"fallback-i{n}"),
                     installed=at(BASE, rng.randrange(-86400, 86400)), activated=at(BASE, 4000),
                     uninstalled=rng.choice([None, at(BASE, 80000), at(BASE, 90000)]))
    start, end = rollup.day_bounds(BASE)

    sql_figures, sql_errors = rollup._compute_postgres(start, end)
    py_figures, py_errors = rollup._compute_python(start, end)

    assert set(sql_figures) == set(py_figures)
    for key, figures in sql_figures.items():
        for name, value in figures.items():
            other = py_figures[key].get(name, 0)
            assert (value is None and other is None) or float(value) == pytest.approx(float(other)), (key, name)
    assert sorted(sql_errors) == sorted(py_errors)
