"""The beat's task on a real Celery worker: catch-up through the broker, idempotent when delivered twice."""

import datetime as dt

import pytest

from runtime.analytics import rollup
from runtime.analytics.models import PluginDailyStats, RollupDay
from runtime.tasks import analytics_rollup_task
from tests.monitoring.helpers import at, usage


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_rollup_task_runs_on_a_real_worker_and_twice_is_the_same(celery_worker):
    yesterday = rollup.utc_today() - dt.timedelta(days=2)  # over by more than the completion margin
    for n in range(7):
        usage(plugin_id="worker-plugin", version="1.0.0", when=at(yesterday, n), outcome="error" if n == 0 else "ok")

    first = analytics_rollup_task.delay().get(timeout=60)
    again = analytics_rollup_task.delay(yesterday.isoformat()).get(timeout=60)

    assert yesterday.isoformat() in first and again == [yesterday.isoformat()]
    row = PluginDailyStats.objects.get(day=yesterday, plugin_id="worker-plugin", version="")
    assert (row.calls, row.errors) == (7, 1)
    assert PluginDailyStats.objects.filter(day=yesterday).count() == 2
    assert RollupDay.objects.get(day=yesterday).complete
