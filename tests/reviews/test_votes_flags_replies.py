"""Helpful votes, flags and developer replies, including what other users must not be able to do."""

import uuid

import pytest

from reviews.models import DeveloperReply, Flag, HelpfulVote, Review
from reviews.services import review_hide
from tests.factories import DeveloperFactory, PluginFactory, UserFactory
from tests.reviews.conftest import api_client, post_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(plugin, reviewer):
    post_review(reviewer, plugin.pk, rating=3, title="OK", review="Does the job.")
    return Review.objects.get()


# --- helpful votes --------------------------------------------------------------------------------------------------


def test_helpful_vote_counts_once_per_user(review):
    voter = UserFactory()
    client = api_client(voter)

    first = client.post(f"/api/reviews/{review.pk}/helpful")
    second = client.post(f"/api/reviews/{review.pk}/helpful")
    api_client(UserFactory()).post(f"/api/reviews/{review.pk}/helpful")

    assert first.status_code == second.status_code == 200
    review.refresh_from_db()
    assert review.helpful_count == 2
    assert HelpfulVote.objects.filter(review=review, user=voter).count() == 1


def test_removing_a_vote_decrements_and_never_goes_negative(review):
    voter = UserFactory()
    client = api_client(voter)
    client.post(f"/api/reviews/{review.pk}/helpful")

    client.delete(f"/api/reviews/{review.pk}/helpful")
    response = client.delete(f"/api/reviews/{review.pk}/helpful")

    assert response.status_code == 200
    assert response.json()["helpful_count"] == 0
    review.refresh_from_db()
    assert review.helpful_count == 0


def test_author_cannot_vote_for_own_review(review, reviewer):
    response = api_client(reviewer).post(f"/api/reviews/{review.pk}/helpful")

    assert response.status_code == 403
    review.refresh_from_db()
    assert review.helpful_count == 0


def test_anonymous_cannot_vote(review):
    assert api_client().post(f"/api/reviews/{review.pk}/helpful").status_code in (401, 403)


@pytest.mark.parametrize("review_id", ["not-a-uuid", str(uuid.uuid4())])
def test_voting_on_a_missing_review_is_404(review_id):
    assert api_client(UserFactory()).post(f"/api/reviews/{review_id}/helpful").status_code == 404


def test_a_hidden_review_is_not_found_for_others(review):
    review_hide(review_id=review.pk, moderator=UserFactory(is_staff=True), reason="Off topic")

    assert api_client(UserFactory()).post(f"/api/reviews/{review.pk}/helpful").status_code == 404
    assert (
        api_client(UserFactory()).post(f"/api/reviews/{review.pk}/flag", {"reason": "spam"}, format="json").status_code
        == 404
    )


# --- flags ------------------------------------------------------------------------------------------------------------


def test_flag_puts_the_review_in_the_queue(review):
    flagger = UserFactory()

    response = api_client(flagger).post(
        f"/api/reviews/{review.pk}/flag", {"reason": "spam", "note": "Links to a shop"}, format="json"
    )

    assert response.status_code == 201
    flag = Flag.objects.get()
    assert (flag.user, flag.reason, flag.note, flag.status) == (flagger, "spam", "Links to a shop", "open")
    from reviews.selectors import moderation_queue

    assert list(moderation_queue()) == [review]


def test_flagging_twice_is_a_conflict(review):
    client = api_client(UserFactory())
    client.post(f"/api/reviews/{review.pk}/flag", {"reason": "spam"}, format="json")

    response = client.post(f"/api/reviews/{review.pk}/flag", {"reason": "offensive"}, format="json")

    assert response.status_code == 409
    assert Flag.objects.count() == 1


@pytest.mark.parametrize("body", [{}, {"reason": "because"}, {"reason": "spam", "note": "n" * 1001}, {"reason": None}])
def test_bad_flag_is_400(review, body):
    response = api_client(UserFactory()).post(f"/api/reviews/{review.pk}/flag", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]
    assert not Flag.objects.exists()


def test_author_cannot_flag_own_review(review, reviewer):
    response = api_client(reviewer).post(f"/api/reviews/{review.pk}/flag", {"reason": "spam"}, format="json")

    assert response.status_code == 403


# --- developer replies ------------------------------------------------------------------------------------------------


def test_developer_replies_and_edits_the_one_reply(review, plugin):
    client = api_client(plugin.developer.user)

    created = client.put(f"/api/reviews/{review.pk}/reply", {"body": "Thanks! 1.1 is faster."}, format="json")
    edited = client.put(f"/api/reviews/{review.pk}/reply", {"body": "Thanks! Try 1.2."}, format="json")

    assert created.status_code == 201
    assert edited.status_code == 200
    assert edited.json()["edited"] is True
    reply = DeveloperReply.objects.get()
    assert (reply.review, reply.body) == (review, "Thanks! Try 1.2.")
    listing = api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews").json()
    assert listing["results"][0]["developer_reply"]["body"] == "Thanks! Try 1.2."


def test_developer_deletes_the_reply(review, plugin):
    client = api_client(plugin.developer.user)
    client.put(f"/api/reviews/{review.pk}/reply", {"body": "Thanks"}, format="json")

    assert client.delete(f"/api/reviews/{review.pk}/reply").status_code == 204
    assert client.delete(f"/api/reviews/{review.pk}/reply").status_code == 404
    assert not DeveloperReply.objects.exists()


def test_another_developer_cannot_reply_to_someone_elses_review(review):
    rival = DeveloperFactory()
    PluginFactory(developer=rival)

    response = api_client(rival.user).put(f"/api/reviews/{review.pk}/reply", {"body": "Use ours"}, format="json")

    assert response.status_code == 404
    assert not DeveloperReply.objects.exists()


def test_the_reviewer_or_a_user_cannot_reply_as_the_developer(review, reviewer):
    for user in (reviewer, UserFactory(), UserFactory(is_staff=True)):
        response = api_client(user).put(f"/api/reviews/{review.pk}/reply", {"body": "hi"}, format="json")
        assert response.status_code == 404
    assert not DeveloperReply.objects.exists()


def test_another_developer_cannot_delete_a_reply(review, plugin):
    api_client(plugin.developer.user).put(f"/api/reviews/{review.pk}/reply", {"body": "Thanks"}, format="json")
    rival = DeveloperFactory()

    assert api_client(rival.user).delete(f"/api/reviews/{review.pk}/reply").status_code == 404
    assert DeveloperReply.objects.count() == 1


@pytest.mark.parametrize("body", ["", "   ", "b" * 5001, 7])
def test_bad_reply_is_400(review, plugin, body):
    response = api_client(plugin.developer.user).put(f"/api/reviews/{review.pk}/reply", {"body": body}, format="json")

    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]


def test_the_reviewer_is_notified_of_the_first_reply_only(review, plugin, reviewer):
    from host.models import Notification

    client = api_client(plugin.developer.user)
    client.put(f"/api/reviews/{review.pk}/reply", {"body": "Thanks! 1.1 is faster."}, format="json")
    client.put(f"/api/reviews/{review.pk}/reply", {"body": "Thanks! Try 1.2."}, format="json")

    notification = Notification.objects.get()
    assert notification.user == reviewer
    assert notification.title == f"{plugin.developer.company_name} replied to your review of Quiz Builder"
    assert notification.link == f"/plugins/{plugin.pk}/reviews/#review-{review.pk}"


def test_a_refused_reply_notifies_nobody(review):
    from host.models import Notification

    api_client(DeveloperFactory().user).put(f"/api/reviews/{review.pk}/reply", {"body": "Try ours"}, format="json")

    assert not Notification.objects.exists()
