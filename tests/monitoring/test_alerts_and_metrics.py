"""Error-rate alerts reach the developer once; /metrics is for operators only and reports the shared figures."""

import datetime as dt
import re

import pytest
from django.core import mail

from developers.models import DeveloperNotice
from runtime.analytics import rollup
from runtime.analytics.models import VersionErrorAlert
from tests.factories import DeveloperFactory, PluginFactory, UserFactory
from tests.monitoring.helpers import at, usage

BASE = dt.date(2026, 4, 1)


@pytest.fixture
def failing_version(db, settings):
    settings.ANALYTICS_ALERT_ERROR_RATE = 0.10
    settings.ANALYTICS_ALERT_MIN_CALLS = 20
    developer = DeveloperFactory(support_email="dev@studio.test")
    plugin = PluginFactory(developer=developer, id="flaky-plugin", name="Flaky")
    return plugin


def _runs(plugin, version, day, ok, failed):
    for n in range(ok + failed):
        usage(plugin_id=plugin.pk, version=version, when=at(day, n), outcome="ok" if n < ok else "error",
              reason="RuntimeError", message="flaky")


def test_a_version_failing_above_the_threshold_alerts_its_developer_once(
        failing_version, django_capture_on_commit_callbacks):
    plugin = failing_version
    _runs(plugin, "2.0.0", BASE, ok=15, failed=5)  # 25 % of 20 runs
    _runs(plugin, "1.9.0", BASE, ok=19, failed=1)  # 5 %: below the threshold

    with django_capture_on_commit_callbacks(execute=True):
        rollup.rollup_catch_up(today=BASE + dt.timedelta(days=1))

    assert list(VersionErrorAlert.objects.values_list("plugin_id", "version")) == [("flaky-plugin", "2.0.0")]
    notice = DeveloperNotice.objects.get(developer=plugin.developer)
    assert "2.0.0" in notice.subject and "25.0%" in notice.subject
    assert notice.link == "/developer/plugins/flaky-plugin/analytics/"
    assert [m.to for m in mail.outbox] == [["dev@studio.test"]]

    # More failing days: the same version does not alert again.
    _runs(plugin, "2.0.0", BASE + dt.timedelta(days=2), ok=0, failed=30)
    with django_capture_on_commit_callbacks(execute=True):
        rollup.rollup_catch_up(today=BASE + dt.timedelta(days=3))
    assert DeveloperNotice.objects.filter(developer=plugin.developer).count() == 1
    assert len(mail.outbox) == 1


def test_too_few_runs_do_not_alert(failing_version):
    _runs(failing_version, "3.0.0", BASE, ok=0, failed=19)
    rollup.rollup_catch_up(today=BASE)
    assert not VersionErrorAlert.objects.exists()
    assert not DeveloperNotice.objects.exists()


# --- /metrics ------------------------------------------------------------------------------------------------------

def _value(text, name, labels=""):
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} missing from:\n{text}"
    return float(match.group(1))


@pytest.mark.django_db
def test_metrics_refuse_the_public_with_a_404(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token-for-tests"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics-token-for-tests").status_code == 404
    client.force_login(UserFactory())  # signed in, not staff
    assert client.get("/metrics").status_code == 404
    client.force_login(DeveloperFactory().user)
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_an_empty_token_setting_never_opens_the_endpoint(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer").status_code == 404


@pytest.mark.django_db
def test_operators_read_runs_cold_starts_violations_requests_queue_and_pool(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token-for-tests"
    yesterday = rollup.utc_today() - dt.timedelta(days=1)
    for n in range(3):
        usage(plugin_id="metered", version="1.0.0", when=at(yesterday, n), cold=n == 0)
    usage(plugin_id="metered", version="1.0.0", when=at(yesterday, 10), outcome="violation", reason="seccomp")
    rollup.rollup_catch_up(today=yesterday)  # yesterday is complete: counted from the roll-up
    usage(plugin_id="metered", version="1.0.0", when=at(rollup.utc_today(), 5), cold=True)  # today: from raw rows
    usage(plugin_id="metered", version="1.0.0", when=at(rollup.utc_today(), 6), run=False, outcome="denied")
    client.get("/healthz")

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-for-tests")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert _value(text, "aisquare_plugin_runs_total", '{outcome="ok"}') == 4
    assert _value(text, "aisquare_plugin_runs_total", '{outcome="violation"}') == 1
    assert _value(text, "aisquare_plugin_api_calls_total", '{outcome="denied"}') == 1
    assert _value(text, "aisquare_plugin_cold_starts_total") == 2
    assert _value(text, "aisquare_plugin_violations_total") == 1
    assert _value(text, "aisquare_http_requests_total", '{method="GET",status="200"}') >= 1
    assert _value(text, "aisquare_sandbox_pool_workers") >= 0
    assert _value(text, "aisquare_sandbox_pool_capacity") == settings.SANDBOX_POOL_SIZE
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        assert _value(text, "aisquare_celery_queue_length", f'{{queue="{settings.CELERY_TASK_DEFAULT_QUEUE}"}}') >= 0


@pytest.mark.django_db
def test_celery_queue_depth_is_the_length_of_the_queue_in_redis(client, settings):
    import redis

    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the broker is not Redis here")
    settings.METRICS_CELERY_QUEUES = ["monitoring-test-queue"]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("monitoring-test-queue")
    broker.rpush("monitoring-test-queue", "a", "b", "c")
    try:
        client.force_login(UserFactory(is_staff=True))
        text = client.get("/metrics").content.decode()
    finally:
        broker.delete("monitoring-test-queue")
    assert _value(text, "aisquare_celery_queue_length", '{queue="monitoring-test-queue"}') == 3


@pytest.mark.django_db
def test_with_prometheus_multiproc_dir_the_request_counter_is_summed_over_processes(tmp_path):
    """gunicorn runs several worker processes: each counts its own requests into PROMETHEUS_MULTIPROC_DIR and the
    scrape, whichever process answers it, reports their sum."""
    import os
    import subprocess
    import sys

    from django.conf import settings as django_settings
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the child processes read the PostgreSQL test database")
    db = connection.settings_dict
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "aisquare_plugins.settings",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}
    script = ("import sys, django; django.setup()\n"
              "from runtime.analytics import metrics\n"
              "for _ in range(int(sys.argv[1])): metrics.observe_request('GET', 200)\n"
              "if sys.argv[2] == 'render': sys.stdout.write(metrics.render()[0].decode())\n")

    def process(count, what):
        done = subprocess.run([sys.executable, "-c", script, str(count), what], env=env, capture_output=True,
                              text=True, timeout=60, cwd=str(django_settings.BASE_DIR))
        assert done.returncode == 0, done.stderr
        return done.stdout

    process(3, "count")
    process(4, "count")
    text = process(0, "render")

    assert _value(text, "aisquare_http_requests_total", '{method="GET",status="200"}') == 7
    assert "aisquare_plugin_runs_total" in text  # the shared figures are there too
