"""The moderation queue in the admin: flagged reviews, hide and restore with a reason, audited, staff only."""

from decimal import Decimal

import pytest
from django.test import Client

from aisquare_plugins.exceptions import Forbidden, ServiceError
from reviews.models import Flag, ModerationAction, Review
from reviews.services import review_flag, review_hide
from tests.factories import UserFactory
from tests.reviews.conftest import post_review, use

pytestmark = pytest.mark.django_db

QUEUE = "/admin/reviews/flaggedreview/"


@pytest.fixture
def flagged(plugin):
    good, bad = UserFactory(), UserFactory()
    use(good, plugin)
    use(bad, plugin)
    post_review(good, plugin.pk, rating=5, title="Loved it for fractions", review="Helps my class.")
    post_review(bad, plugin.pk, rating=1, title="Visit cheap-pills.example", review="Spam spam spam")
    spam = Review.objects.get(user=bad)
    for _ in range(2):
        review_flag(review_id=spam.pk, user=UserFactory(), reason="spam")
    return spam


@pytest.fixture
def staff_client():
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    client.staff = staff
    return client


def test_queue_lists_only_flagged_reviews(flagged, staff_client):
    response = staff_client.get(QUEUE)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Visit cheap-pills.example" in page
    assert "Loved it for fractions" not in page
    assert "Spam or advertising" in page


def test_hide_from_the_queue_with_a_reason(flagged, staff_client, plugin):
    response = staff_client.post(
        QUEUE, {"action": "hide_reviews", "_selected_action": [str(flagged.pk)], "reason": "Advertising"}
    )

    assert response.status_code == 302
    flagged.refresh_from_db()
    assert flagged.is_hidden
    action = ModerationAction.objects.get()
    assert (action.review, action.moderator, action.action, action.reason) == (
        flagged, staff_client.staff, "hide", "Advertising"
    )
    assert set(Flag.objects.values_list("status", flat=True)) == {"upheld"}
    plugin.refresh_from_db()
    assert (plugin.rating_count, plugin.rating_average) == (1, Decimal("5.00"))
    assert staff_client.get(QUEUE).content.decode().count("cheap-pills") == 0


def test_hide_without_a_reason_changes_nothing(flagged, staff_client):
    response = staff_client.post(
        QUEUE, {"action": "hide_reviews", "_selected_action": [str(flagged.pk)], "reason": " "}
    )

    assert response.status_code == 302
    flagged.refresh_from_db()
    assert not flagged.is_hidden
    assert not ModerationAction.objects.exists()


def test_restore_dismisses_the_flags_and_is_audited(flagged, staff_client, plugin):
    staff_client.post(
        "/admin/reviews/review/",
        {"action": "restore_reviews", "_selected_action": [str(flagged.pk)], "reason": "Harsh but genuine"},
    )

    flagged.refresh_from_db()
    assert not flagged.is_hidden
    assert set(Flag.objects.values_list("status", flat=True)) == {"dismissed"}
    assert ModerationAction.objects.get().action == "restore"
    plugin.refresh_from_db()
    assert plugin.rating_count == 2


def test_review_text_and_visibility_are_not_editable_in_the_admin(flagged, staff_client):
    staff_client.post(
        f"/admin/reviews/review/{flagged.pk}/change/",
        {"title": "Rewritten", "is_hidden": "on", "rating": 5},
    )

    flagged.refresh_from_db()
    assert (flagged.title, flagged.is_hidden, flagged.rating) == ("Visit cheap-pills.example", False, 1)


def test_audit_rows_cannot_be_edited_or_deleted_in_the_admin(flagged, staff_client):
    review_hide(review_id=flagged.pk, moderator=staff_client.staff, reason="Spam")
    action = ModerationAction.objects.get()

    assert staff_client.post(f"/admin/reviews/moderationaction/{action.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ModerationAction.objects.count() == 1


def test_non_staff_cannot_moderate(flagged):
    with pytest.raises(Forbidden):
        review_hide(review_id=flagged.pk, moderator=UserFactory(), reason="I dislike it")
    client = Client()
    client.force_login(UserFactory())
    response = client.post(QUEUE, {"action": "hide_reviews", "_selected_action": [str(flagged.pk)], "reason": "x"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    flagged.refresh_from_db()
    assert not flagged.is_hidden


def test_service_refuses_an_empty_reason(flagged):
    with pytest.raises(ServiceError) as error:
        review_hide(review_id=flagged.pk, moderator=UserFactory(is_staff=True), reason="")
    assert "reason" in error.value.fields
    assert not ModerationAction.objects.exists()


def test_a_dismissed_flag_can_be_raised_again_only_after_an_edit(flagged, plugin):
    flagger = Flag.objects.first().user
    from reviews.services import review_restore

    review_restore(review_id=flagged.pk, moderator=UserFactory(is_staff=True), reason="Genuine")
    with pytest.raises(ServiceError):
        review_flag(review_id=flagged.pk, user=flagger, reason="spam")

    post_review(flagged.user, plugin.pk, rating=1, title="Now with more spam", review="buy buy buy")
    flag = review_flag(review_id=flagged.pk, user=flagger, reason="spam")

    assert flag.status == "open"
