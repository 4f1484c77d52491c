"""GET /api/developer/analytics: the developer's own plugins only, validated parameters, figures from the roll-ups."""

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from runtime.analytics import rollup
from tests.factories import DeveloperFactory, PluginFactory, RevenueEntryFactory, ReviewFactory, UserFactory
from tests.monitoring.helpers import at, installation, usage

URL = "/api/developer/analytics"


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def owned(db):
    today = rollup.utc_today()
    developer = DeveloperFactory()
    plugin = PluginFactory(developer=developer, id="quiz-stats", currency="USD")
    day1, day2 = today - dt.timedelta(days=2), today - dt.timedelta(days=1)
    learner = UserFactory()
    installation(plugin=plugin, user=learner, installed=at(day1, 10), activated=at(day1, 20))
    installation(plugin=plugin, user=UserFactory(), installed=at(day1, 30), uninstalled=at(day2, 40))
    for n in range(4):
        usage(plugin_id=plugin.pk, version="1.0.0", when=at(day1, 100 + n), user=learner, wall_ms=10.0 * (n + 1),
              peak_kb=1000 * (n + 1), cpu_ms=5.0)
    usage(plugin_id=plugin.pk, version="1.0.0", when=at(day2, 100), user=learner, outcome="error",
          reason="ZeroDivisionError", message="division by zero", wall_ms=3.0)
    review = ReviewFactory(plugin=plugin, rating=4)
    type(review).objects.filter(pk=review.pk).update(created_at=at(day1, 500))
    entry = RevenueEntryFactory(plugin=plugin, amount=Decimal("10.00"), platform_fee=Decimal("3.00"),
                                developer_share=Decimal("7.00"), external_id="pi_analytics_1")
    type(entry).objects.filter(pk=entry.pk).update(created_at=at(day2, 600))
    rollup.rollup_catch_up(today=today)
    return {"developer": developer, "plugin": plugin, "day1": day1, "day2": day2, "today": today}


def test_the_developer_reads_the_figures_of_their_own_plugin(owned):
    d1, d2 = owned["day1"], owned["day2"]
    response = client_for(owned["developer"].user).get(URL, {"plugin": "quiz-stats", "start": d1, "end": d2})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [row["period"] for row in body["series"]] == [d1.isoformat(), d2.isoformat()]
    first, second = body["series"]
    assert (first["installs"], first["activations"], first["active_installations"]) == (2, 1, 2)
    assert (second["uninstalls"], second["active_installations"]) == (1, 1)
    assert (first["calls"], first["failed"], first["error_rate"]) == (4, 0, 0.0)
    assert (second["calls"], second["failed"], second["error_rate"]) == (1, 1, 1.0)
    assert first["p50_ms"] == pytest.approx(25.0) and first["p95_ms"] == pytest.approx(38.5)
    assert first["peak_memory_kb"] == 4000 and first["cpu_seconds"] == pytest.approx(0.02)
    assert (first["ratings"], first["rating_average"], second["rating_average"]) == (1, 4.0, 4.0)
    assert (first["revenue"], second["revenue"]) == ({}, {"USD": "7.00"})
    assert body["top_errors"] == [{"version": "1.0.0", "action": "function:grade", "outcome": "error",
                                   "message": "ZeroDivisionError: division by zero", "count": 1,
                                   "last_seen": d2.isoformat()}]
    assert body["versions"][0]["version"] == "1.0.0" and body["versions"][0]["calls"] == 5


def test_weeks_and_months_add_the_days_up(owned):
    client = client_for(owned["developer"].user)
    start = owned["today"] - dt.timedelta(days=40)
    for granularity in ("week", "month"):
        body = client.get(URL, {"plugin": "quiz-stats", "start": start, "end": owned["today"],
                                "granularity": granularity}).json()
        assert sum(row["calls"] for row in body["series"]) == 5
        assert sum(row["installs"] for row in body["series"]) == 2
        assert body["series"][-1]["active_installations"] == 1
        assert all(dt.date.fromisoformat(row["period"]).weekday() == 0 for row in body["series"][1:]) \
            if granularity == "week" else all(row["period"].endswith("-01") for row in body["series"][1:])


def test_another_developers_plugin_is_not_found_like_a_missing_one(owned):
    intruder = DeveloperFactory()
    PluginFactory(developer=intruder, id="intruder-plugin")
    client = client_for(intruder.user)

    foreign = client.get(URL, {"plugin": "quiz-stats"})
    missing = client.get(URL, {"plugin": "no-such-plugin"})

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"error": {"code": "not_found", "message": "No such plugin."}}
    assert client.get(URL, {"plugin": "intruder-plugin"}).status_code == 200


def test_a_user_who_is_not_a_developer_and_anonymous_visitors_are_refused(owned):
    assert client_for(UserFactory()).get(URL, {"plugin": "quiz-stats"}).status_code == 403
    assert APIClient().get(URL, {"plugin": "quiz-stats"}).status_code in (401, 403)


def test_the_plugins_page_in_the_portal_is_the_owners_only(owned, client):
    client.force_login(DeveloperFactory().user)
    assert client.get("/developer/plugins/quiz-stats/analytics/").status_code == 404
    client.force_login(owned["developer"].user)
    page = client.get("/developer/plugins/quiz-stats/analytics/")
    assert page.status_code == 200
    assert b"ZeroDivisionError: division by zero" in page.content and b'id="figures-table"' in page.content


@pytest.mark.parametrize("params, field", [
    ({}, "plugin"),
    ({"plugin": "quiz-stats", "start": "2026-13-01"}, "start"),
    ({"plugin": "quiz-stats", "end": "yesterday"}, "end"),
    ({"plugin": "quiz-stats", "start": "2026-03-10", "end": "2026-03-01"}, "start"),
    ({"plugin": "quiz-stats", "granularity": "hour"}, "granularity"),
    ({"plugin": "quiz-stats", "start": "2020-01-01", "end": "2023-01-01"}, "start"),
    ({"plugin": "quiz-stats", "end": "2999-01-01"}, "end"),
])
def test_bad_parameters_get_a_400_that_names_the_field(owned, params, field):
    response = client_for(owned["developer"].user).get(URL, params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"] and error["message"]


def test_a_rolled_up_day_without_installations_counts_zero_and_an_unrolled_day_has_no_figure(owned):
    start = owned["day1"] - dt.timedelta(days=3)
    rollup.rollup_day(day=start)  # computed: nothing installed yet
    body = client_for(owned["developer"].user).get(URL, {"plugin": "quiz-stats", "start": start,
                                                           "end": owned["day1"]}).json()
    assert [row["active_installations"] for row in body["series"]] == [0, None, None, 2]


# --- the admin's platform overview ----------------------------------------------------------------------------------

def test_the_admin_overview_shows_top_plugins_spikes_and_hogs_to_staff_only(owned, client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    index = client.get("/admin/")
    assert b"/admin/runtime/plugindailystats/" in index.content  # linked from the admin index

    page = client.get("/admin/runtime/plugindailystats/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "Platform overview" in text and "quiz-stats" in text
    assert "Error spikes" in text and "Resource hogs" in text
    client.force_login(owned["developer"].user)
    assert client.get("/admin/runtime/plugindailystats/").status_code == 302  # not staff: to the admin login


def test_error_spikes_compare_the_last_day_with_the_days_before(db):
    from runtime.analytics.selectors import platform_overview

    today = rollup.utc_today()
    for back in range(1, 5):
        day = today - dt.timedelta(days=back)
        for n in range(20):
            failing = n < (12 if back == 1 else 1)  # 60 % yesterday, 5 % before
            usage(plugin_id="spiky", version="1.0.0", when=at(day, n), outcome="error" if failing else "ok",
                  cpu_ms=100.0, peak_kb=9000)
            usage(plugin_id="steady", version="1.0.0", when=at(day, 100 + n), outcome="error" if n == 0 else "ok",
                  cpu_ms=1.0, peak_kb=100)
    rollup.rollup_catch_up(today=today - dt.timedelta(days=1))

    overview = platform_overview(days=7, today=today - dt.timedelta(days=1))

    assert [s["plugin_id"] for s in overview["error_spikes"]] == ["spiky"]
    spike = overview["error_spikes"][0]
    assert (spike["failed"], spike["calls"], spike["error_rate"]) == (12, 20, 0.6)
    assert spike["baseline_rate"] == pytest.approx(0.05)
    assert [h["plugin_id"] for h in overview["hogs_by_cpu"]] == ["spiky", "steady"]
    assert overview["hogs_by_memory"][0]["plugin_id"] == "spiky"
    assert {t["plugin_id"] for t in overview["top_by_calls"]} == {"spiky", "steady"}


def test_a_hostile_error_message_from_a_plugin_is_shown_as_text(owned, client):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    usage(plugin_id="quiz-stats", version="1.0.0", when=at(owned["day2"], 900), outcome="error",
          reason="ValueError", message=hostile)
    rollup.rollup_day(day=owned["day2"])
    client.force_login(owned["developer"].user)

    html = client.get("/developer/plugins/quiz-stats/analytics/").content.decode()

    assert '<script>alert("x")' not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html  # the table, escaped
    assert "\\u003Cscript\\u003E" in html  # the chart data, escaped by json_script
