"""The developer's analytics dashboard in a real browser: every chart is drawn from the roll-ups, from our own static
files, and the same figures are in a table."""

import datetime as dt
from decimal import Decimal

import pytest

from runtime.analytics import rollup
from tests.factories import DeveloperFactory, PluginFactory, RevenueEntryFactory, ReviewFactory, UserFactory
from tests.monitoring.helpers import at, installation, usage

CHARTS = ["chart-installs", "chart-active", "chart-calls", "chart-latency", "chart-memory", "chart-rating",
          "chart-revenue"]

# For each canvas: its Chart.js instance, how many points its datasets hold, and how many pixels are painted.
PROBE = """(ids) => ids.map((id) => {
  const canvas = document.getElementById(id);
  const chart = window.Chart && Chart.getChart(canvas);
  const ctx = canvas.getContext('2d');
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted++; }
  const shown = (d) => d.data.filter((v) => v !== null && v !== 0).length;
  const points = chart ? chart.data.datasets.reduce((n, d) => n + shown(d), 0) : 0;
  return {id, chart: !!chart, points, painted, width: canvas.width};
})"""


@pytest.fixture
def dashboard_data(transactional_db):
    today = rollup.utc_today()
    developer = DeveloperFactory(user=UserFactory(username="chart-dev"))
    plugin = PluginFactory(developer=developer, id="chart-plugin", name="Chart Plugin", currency="USD")
    learners = [UserFactory(username=f"chart-learner-{n}") for n in range(6)]
    for n in range(14):
        day = today - dt.timedelta(days=13 - n)
        if n < 6:
            installation(plugin=plugin, user=learners[n], installed=at(day, 50), activated=at(day, 60),
                         uninstalled=at(day + dt.timedelta(days=4), 10) if n == 1 else None)
        for k in range(3 + n % 4):
            usage(plugin_id=plugin.pk, version="1.0.0" if n < 7 else "1.1.0", when=at(day, 100 + k),
                  user=learners[k % 6], wall_ms=20.0 + 7 * k + n, peak_kb=40_000 + 900 * k, cpu_ms=12.0,
                  cold=k == 0, outcome="error" if (n + k) % 5 == 0 else "ok",
                  reason="ValueError" if (n + k) % 5 == 0 else "", message="answer key missing")
        if n % 3 == 0:
            review = ReviewFactory(plugin=plugin, user=learners[n // 3], rating=3 + n % 3)
            type(review).objects.filter(pk=review.pk).update(created_at=at(day, 500))
            entry = RevenueEntryFactory(plugin=plugin, amount=Decimal("10.00"), platform_fee=Decimal("3.00"),
                                        developer_share=Decimal("7.00"), external_id=f"pi_chart_{n}")
            type(entry).objects.filter(pk=entry.pk).update(created_at=at(day, 600))
    rollup.rollup_catch_up(today=today)
    return plugin


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_draws_every_chart_with_data(dashboard_data, live_server, page, artifacts_dir):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{live_server.url}/accounts/login/?next=/developer/plugins/chart-plugin/analytics/")
    page.fill("input[name=username]", "chart-dev")
    page.fill("input[name=password]", "pass-word-123")
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url("**/developer/plugins/chart-plugin/analytics/")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('chart-revenue'))")

    probes = page.evaluate(PROBE, CHARTS)

    for probe in probes:
        assert probe["chart"], probe
        assert probe["points"] > 0, probe  # drawn with figures, not an empty frame
        assert probe["painted"] > 500, probe
    # Everything came from our own server: no CDN.
    assert all(url.startswith(live_server.url) for url in requests), [u for u in requests if live_server.url not in u]
    assert any(url.endswith("/static/vendor/chartjs/chart.umd.min.js") for url in requests)
    # The same figures as a table, and the most frequent error with its message.
    assert page.locator("#figures-table tbody tr").count() == 30
    assert page.locator("#top-errors").get_by_text("ValueError: answer key missing").count() == 2  # per version
    page.screenshot(path=str(artifacts_dir / "monitoring-analytics-dashboard.png"), full_page=True)
