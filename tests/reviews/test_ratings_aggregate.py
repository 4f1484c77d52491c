"""The ratings aggregate on the listing: exact after writes, edits, moderation and 50 concurrent reviewers."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from marketplace.models import Plugin
from reviews.models import Review
from reviews.services import review_hide, review_restore
from tests.factories import PluginFactory, UserFactory
from tests.reviews.conftest import post_review, use


@pytest.fixture(autouse=True)
def _reset_celery_join_guard():
    """Eager tasks (the developer notification) run in this file's threads. Celery guards eager runs with a
    process-global "join would block" flag that it saves and restores without a lock, so concurrent eager runs can
    leave it set, and a later test's `result.get()` would then refuse to wait. Put it back after each test."""
    yield
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)


def _aggregate(plugin):
    plugin.refresh_from_db()
    return plugin.ratings, plugin.rating_average, plugin.rating_count


def _reviewers(plugin, n, version="1.0.0"):
    users = []
    for _ in range(n):
        user = UserFactory()
        use(user, plugin, version=version)
        users.append(user)
    return users


@pytest.mark.django_db
def test_aggregate_counts_average_distribution_and_versions(plugin):
    a, b = _reviewers(plugin, 2)
    (c,) = _reviewers(plugin, 1, version="2.0.0")
    post_review(a, plugin.pk, rating=5)
    post_review(b, plugin.pk, rating=4)
    post_review(c, plugin.pk, rating=2)

    ratings, average, count = _aggregate(plugin)

    assert count == 3
    assert average == Decimal("3.67")
    assert ratings["average"] == 3.67
    assert ratings["count"] == 3
    assert ratings["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert ratings["by_version"]["1.0.0"]["count"] == 2
    assert ratings["by_version"]["1.0.0"]["average"] == 4.5
    assert ratings["by_version"]["2.0.0"] == {
        "average": 2.0, "count": 1, "distribution": {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0}
    }


@pytest.mark.django_db
def test_editing_moves_the_aggregate_without_counting_twice(plugin, reviewer):
    post_review(reviewer, plugin.pk, rating=1)
    post_review(reviewer, plugin.pk, rating=5)

    ratings, average, count = _aggregate(plugin)

    assert count == 1
    assert average == Decimal("5.00")
    assert ratings["distribution"]["1"] == 0
    assert ratings["distribution"]["5"] == 1


@pytest.mark.django_db
def test_hiding_takes_a_review_out_and_restoring_puts_it_back(plugin):
    a, b = _reviewers(plugin, 2)
    post_review(a, plugin.pk, rating=5)
    post_review(b, plugin.pk, rating=1)
    moderator = UserFactory(is_staff=True)
    spam = Review.objects.get(user=b)

    review_hide(review_id=spam.pk, moderator=moderator, reason="Competitor's spam")
    ratings, average, count = _aggregate(plugin)
    assert (count, average, ratings["distribution"]["1"]) == (1, Decimal("5.00"), 0)

    review_restore(review_id=spam.pk, moderator=moderator, reason="Appeal accepted")
    ratings, average, count = _aggregate(plugin)
    assert (count, average, ratings["distribution"]["1"]) == (2, Decimal("3.00"), 1)


@pytest.mark.django_db
def test_reviews_of_one_plugin_leave_other_plugins_alone(plugin, reviewer):
    other = PluginFactory(published_at=timezone.now(), version="1.0.0")
    other_reviewer = UserFactory()
    use(other_reviewer, other)
    post_review(other_reviewer, other.pk, rating=2)

    post_review(reviewer, plugin.pk, rating=5)

    assert _aggregate(other)[1:] == (Decimal("2.00"), 1)
    assert _aggregate(plugin)[1:] == (Decimal("5.00"), 1)


@pytest.mark.django_db
def test_a_refused_review_leaves_no_trace(plugin):
    outsider = UserFactory()

    post_review(outsider, plugin.pk, rating=1)

    assert _aggregate(plugin) == ({}, Decimal("0.00"), 0)


@pytest.mark.django_db(transaction=True)
def test_fifty_reviews_posted_at_once_leave_an_exact_aggregate():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises every writer anyway)")
    plugin = PluginFactory(published_at=timezone.now(), version="1.0.0")
    users = _reviewers(plugin, 50)
    ratings = [(i % 5) + 1 for i in range(50)]  # ten of each star
    barrier = threading.Barrier(50)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def post(user, rating):
        try:
            barrier.wait(timeout=30)
            statuses.append(post_review(user, plugin.pk, rating=rating, review=f"{rating} stars").status_code)
        except BaseException as error:  # surfaced below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(u, r)) for u, r in zip(users, ratings, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    assert statuses == [201] * 50
    plugin = Plugin.objects.get(pk=plugin.pk)
    assert plugin.rating_count == 50
    assert plugin.rating_average == Decimal("3.00")
    assert plugin.ratings["count"] == 50
    assert plugin.ratings["distribution"] == {str(s): 10 for s in range(1, 6)}
    assert plugin.ratings["by_version"]["1.0.0"]["count"] == 50
    assert Review.objects.filter(plugin=plugin).count() == 50


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_and_moderation_keep_the_aggregate_exact():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    plugin = PluginFactory(published_at=timezone.now(), version="1.0.0")
    users = _reviewers(plugin, 20)
    for user in users:
        post_review(user, plugin.pk, rating=3)
    moderator = UserFactory(is_staff=True)
    to_hide = list(Review.objects.filter(user__in=users[:5]).values_list("pk", flat=True))
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def work(index):
        try:
            barrier.wait(timeout=30)
            if index < 5:
                review_hide(review_id=to_hide[index], moderator=moderator, reason="test")
            else:
                assert post_review(users[index], plugin.pk, rating=5).status_code == 200
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    plugin = Plugin.objects.get(pk=plugin.pk)
    assert plugin.rating_count == 15
    assert plugin.rating_average == Decimal("5.00")
    assert plugin.ratings["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 15}


def _run_at_once(count, work):
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    results: list = []

    def run(index):
        try:
            barrier.wait(timeout=30)
            results.append(work(index))
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    return results


@pytest.mark.django_db(transaction=True)
def test_one_user_double_submitting_gets_one_review():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    plugin = PluginFactory(published_at=timezone.now(), version="1.0.0")
    (user,) = _reviewers(plugin, 1)

    statuses = _run_at_once(8, lambda i: post_review(user, plugin.pk, rating=(i % 5) + 1).status_code)

    assert sorted(statuses) == [200] * 7 + [201]
    assert Review.objects.filter(plugin=plugin).count() == 1
    plugin = Plugin.objects.get(pk=plugin.pk)
    assert plugin.rating_count == 1
    assert plugin.rating_average == Decimal(Review.objects.get().rating)


@pytest.mark.django_db(transaction=True)
def test_concurrent_helpful_votes_are_counted_exactly():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    from tests.reviews.conftest import api_client

    plugin = PluginFactory(published_at=timezone.now(), version="1.0.0")
    (author,) = _reviewers(plugin, 1)
    post_review(author, plugin.pk)
    review = Review.objects.get()
    voters = [UserFactory() for _ in range(20)]

    def vote(i):
        client = api_client(voters[i % 10])  # each of 10 voters votes twice, at once
        return client.post(f"/api/reviews/{review.pk}/helpful").status_code

    assert _run_at_once(20, vote) == [200] * 20
    review.refresh_from_db()
    assert review.helpful_count == 10


@pytest.mark.django_db
def test_rebuild_command_repairs_an_aggregate_written_behind_its_back(plugin, reviewer):
    from io import StringIO

    from django.core.management import call_command

    post_review(reviewer, plugin.pk, rating=4)
    Plugin.objects.filter(pk=plugin.pk).update(ratings={"average": "1.00"}, rating_average=1, rating_count=9)
    out = StringIO()

    call_command("reviews_rebuild_ratings", stdout=out)

    ratings, average, count = _aggregate(plugin)
    assert (average, count) == (Decimal("4.00"), 1)
    assert ratings["distribution"]["4"] == 1
    assert "Recomputed 1 plugin(s)." in out.getvalue()


@pytest.mark.django_db
def test_rebuild_command_refuses_an_unknown_plugin():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError):
        call_command("reviews_rebuild_ratings", plugin=["nope"])
