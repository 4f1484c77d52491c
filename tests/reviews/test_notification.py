"""The developer hears about each new review once, after commit (Celery), never about refused ones."""

import time

import pytest
from django.core import mail

from reviews.models import Review
from reviews.services import review_developer_notify
from tests.factories import UserFactory
from tests.reviews.conftest import post_review, use


@pytest.mark.django_db
def test_new_review_notifies_the_developer_on_commit(plugin, reviewer, django_capture_on_commit_callbacks):
    plugin.developer.support_email = "team@studio.test"
    plugin.developer.save()

    with django_capture_on_commit_callbacks(execute=False) as queued:
        post_review(reviewer, plugin.pk, rating=4, title="Handy", review="Marks quizzes for me.")
    assert mail.outbox == []  # nothing leaves before the transaction commits
    assert Review.objects.get().developer_notified_at is None

    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["team@studio.test"]
    assert message.subject == "New 4-star review of Quiz Builder"
    assert "Marks quizzes for me." in message.body
    assert Review.objects.get().developer_notified_at is not None


@pytest.mark.django_db
def test_edits_and_refusals_do_not_notify(plugin, reviewer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_review(reviewer, plugin.pk)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        post_review(reviewer, plugin.pk, rating=1, review="Changed my mind.")
        post_review(UserFactory(), plugin.pk)

    assert mail.outbox == []


@pytest.mark.django_db
def test_the_task_running_twice_sends_once(plugin, reviewer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_review(reviewer, plugin.pk)
    review = Review.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        again = review_developer_notify(review_id=str(review.pk))

    assert again is False
    assert len(mail.outbox) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_notifies_after_commit(celery_worker):
    from django.utils import timezone

    from tests.factories import PluginFactory

    plugin = PluginFactory(published_at=timezone.now(), version="1.0.0")
    reviewer = UserFactory()
    use(reviewer, plugin)

    assert post_review(reviewer, plugin.pk, rating=5).status_code == 201

    review = Review.objects.get()
    deadline = time.monotonic() + 30
    while review.developer_notified_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
        review.refresh_from_db()
    assert review.developer_notified_at is not None
