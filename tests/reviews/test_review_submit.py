"""POST /api/marketplace/plugins/{id}/review: who may review, what a review may contain, editing."""

import pytest
from django.test import Client

from reviews.models import Review
from runtime.models import Installation, PluginUsage
from tests.factories import PluginFactory, RevenueEntryFactory, UserFactory
from tests.reviews.conftest import api_client, install, post_review, use

pytestmark = pytest.mark.django_db


# --- the eligibility matrix ---------------------------------------------------------------------------------------


def test_anonymous_cannot_review(plugin):
    response = api_client().post(f"/api/marketplace/plugins/{plugin.pk}/review", {"rating": 5}, format="json")

    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"
    assert not Review.objects.exists()


def test_user_who_never_installed_cannot_review(plugin):
    response = post_review(UserFactory(), plugin.pk)

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "not_used"
    assert "using it at least once" in error["message"]
    assert not Review.objects.exists()


def test_installed_but_never_used_cannot_review(plugin):
    user = UserFactory()
    install(user, plugin)

    response = post_review(user, plugin.pk)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_used"


@pytest.mark.parametrize(
    "outcome", [PluginUsage.Outcome.DENIED, PluginUsage.Outcome.ERROR, PluginUsage.Outcome.LIMITED]
)
def test_only_refused_or_failed_calls_do_not_count_as_use(plugin, outcome):
    user = UserFactory()
    use(user, plugin, outcome=outcome)

    response = post_review(user, plugin.pk)

    assert response.status_code == 403


def test_usage_of_another_plugin_does_not_count(plugin):
    user = UserFactory()
    use(user, PluginFactory(published_at=plugin.published_at))

    assert post_review(user, plugin.pk).status_code == 403


def test_usage_by_another_user_does_not_count(plugin, reviewer):
    assert post_review(UserFactory(), plugin.pk).status_code == 403


def test_user_who_used_it_can_review(plugin, reviewer):
    response = post_review(reviewer, plugin.pk, rating=5, title="Excellent", review="Transformed our assessments.")

    assert response.status_code == 201
    body = response.json()
    assert body["rating"] == 5
    assert body["title"] == "Excellent"
    assert body["version"] == "1.0.0"
    assert body["edited"] is False
    review = Review.objects.get()
    assert (review.user, review.plugin_id, review.rating) == (reviewer, plugin.pk, 5)


def test_user_who_uninstalled_after_using_it_can_review(plugin):
    """A user who tried a plugin and removed it has the experience that matters most to others."""
    user = UserFactory()
    installation = use(user, plugin)
    installation.status = Installation.Status.UNINSTALLED
    installation.save()

    assert post_review(user, plugin.pk, rating=1).status_code == 201


def test_developer_cannot_review_own_plugin_even_after_using_it(plugin):
    developer_user = plugin.developer.user
    use(developer_user, plugin)

    response = post_review(developer_user, plugin.pk, rating=5)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "own_plugin"
    assert not Review.objects.exists()


def test_staff_without_use_cannot_review(plugin):
    staff = UserFactory(is_staff=True, is_superuser=True)

    assert post_review(staff, plugin.pk).status_code == 403


def test_staff_who_used_it_can_review_like_anyone(plugin):
    staff = UserFactory(is_staff=True)
    use(staff, plugin)

    assert post_review(staff, plugin.pk).status_code == 201


def test_unknown_plugin_is_404(reviewer):
    response = post_review(reviewer, "no-such-plugin")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unpublished_plugin_is_404(reviewer):
    draft = PluginFactory(published_at=None)
    use(reviewer, draft)

    assert post_review(reviewer, draft.pk).status_code == 404


def test_forged_cross_site_post_with_a_session_is_refused(plugin, reviewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)

    response = client.post(
        f"/api/marketplace/plugins/{plugin.pk}/review",
        {"rating": 1, "title": "forged", "review": "forged"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert not Review.objects.exists()


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rating", [0, 6, 4.5, 5.0, "5", None, True, [], {}, -1])
def test_bad_rating_is_400_with_a_field_error(plugin, reviewer, rating):
    response = post_review(reviewer, plugin.pk, rating=rating)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "rating" in error["fields"]
    assert not Review.objects.exists()


def test_missing_rating_is_400(plugin, reviewer):
    response = api_client(reviewer).post(
        f"/api/marketplace/plugins/{plugin.pk}/review", {"title": "t", "review": "r"}, format="json"
    )

    assert response.status_code == 400
    assert "rating" in response.json()["error"]["fields"]


@pytest.mark.parametrize("text", ["", "   \n ", "x" * 10_000, None, 42])
def test_empty_huge_or_non_text_review_is_400(plugin, reviewer, text):
    response = post_review(reviewer, plugin.pk, review=text)

    assert response.status_code == 400
    assert "review" in response.json()["error"]["fields"]
    assert not Review.objects.exists()


@pytest.mark.parametrize("title", ["", "t" * 121, None])
def test_bad_title_is_400(plugin, reviewer, title):
    response = post_review(reviewer, plugin.pk, title=title)

    assert response.status_code == 400
    assert "title" in response.json()["error"]["fields"]


def test_nul_character_is_400_not_a_500(plugin, reviewer):
    assert post_review(reviewer, plugin.pk, review="before\x00after").status_code == 400


def test_longest_allowed_review_is_stored(plugin, reviewer):
    assert post_review(reviewer, plugin.pk, review="x" * 5000).status_code == 201


def test_html_is_stored_as_typed_text(plugin, reviewer):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    post_review(reviewer, plugin.pk, title=payload[:120], review=payload)

    review = Review.objects.get()
    assert review.review == payload
    assert review.title == payload[:120]


# --- verified purchase and editing ----------------------------------------------------------------------------------


def test_client_cannot_claim_a_verified_purchase(plugin, reviewer):
    response = post_review(reviewer, plugin.pk, verified_purchase=True)

    assert response.status_code == 201
    assert response.json()["verified_purchase"] is False
    assert Review.objects.get().verified_purchase is False


def test_a_ledger_row_alone_is_not_a_purchase_by_this_user(plugin, reviewer):
    RevenueEntryFactory(plugin=plugin)

    post_review(reviewer, plugin.pk)

    assert Review.objects.get().verified_purchase is False


def test_verified_purchase_comes_from_revenue_records(plugin, reviewer, monkeypatch):
    from revenue import api as revenue_api

    calls = []

    def has_purchased(*, user, plugin_id):
        calls.append((user, plugin_id))
        return True

    monkeypatch.setattr(revenue_api, "has_purchased", has_purchased, raising=False)

    response = post_review(reviewer, plugin.pk, verified_purchase=False)

    assert response.json()["verified_purchase"] is True
    assert calls == [(reviewer, plugin.pk)]


def test_posting_again_edits_the_one_review_and_marks_it_edited(plugin, reviewer):
    first = post_review(reviewer, plugin.pk, rating=2, title="Meh", review="Slow.")
    second = post_review(reviewer, plugin.pk, rating=5, title="Fixed", review="Fast since 1.1.")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["edited"] is True
    review = Review.objects.get()
    assert (review.rating, review.title, review.review) == (5, "Fixed", "Fast since 1.1.")
    assert review.edited_at is not None


def test_reposting_the_same_text_is_not_an_edit(plugin, reviewer):
    post_review(reviewer, plugin.pk)
    response = post_review(reviewer, plugin.pk)

    assert response.status_code == 200
    assert response.json()["edited"] is False


def test_review_records_the_version_the_reviewer_runs(plugin):
    user = UserFactory()
    use(user, plugin)
    Installation.objects.filter(user=user).update(version="0.9.0")

    assert post_review(user, plugin.pk).json()["version"] == "0.9.0"


def test_an_edit_records_the_version_it_was_written_for(plugin, reviewer):
    post_review(reviewer, plugin.pk, rating=2)
    Installation.objects.filter(user=reviewer).update(version="1.1.0")

    post_review(reviewer, plugin.pk, rating=4)

    assert Review.objects.get().version == "1.1.0"


def test_an_uninstalled_reviewer_is_credited_with_the_version_they_last_ran(plugin):
    user = UserFactory()
    use(user, plugin)
    Installation.objects.filter(user=user).update(version="0.8.0", status=Installation.Status.UNINSTALLED)

    assert post_review(user, plugin.pk).json()["version"] == "0.8.0"


def test_an_edit_does_not_unhide_a_moderated_review(plugin, reviewer):
    from reviews.services import review_hide

    post_review(reviewer, plugin.pk, rating=1, title="spam", review="buy cheap stuff")
    review = Review.objects.get()
    review_hide(review_id=review.pk, moderator=UserFactory(is_staff=True), reason="Spam")

    post_review(reviewer, plugin.pk, rating=1, title="spam again", review="still spam")

    review.refresh_from_db()
    assert review.is_hidden is True
    plugin.refresh_from_db()
    assert plugin.rating_count == 0
