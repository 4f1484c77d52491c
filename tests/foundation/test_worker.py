"""A task makes a round trip through a real Celery worker on the Redis broker."""

import pytest

from aisquare_plugins.celery import ping


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_task_round_trip_through_a_real_worker(celery_worker):
    result = ping.delay("hello")

    answer = result.get(timeout=30)

    assert answer["pong"] == "hello"
    assert answer["worker"].startswith(celery_worker["queue"])
