"""GET /api/marketplace/plugins/{id}/reviews: sorting, filters, paging, hidden reviews."""

import pytest

from reviews.models import Review
from reviews.services import review_hide
from tests.factories import PluginFactory, UserFactory
from tests.reviews.conftest import api_client, post_review, use

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviews(plugin):
    made = []
    for rating, helpful in [(5, 1), (1, 7), (3, 3), (4, 0)]:
        user = UserFactory()
        use(user, plugin)
        post_review(user, plugin.pk, rating=rating, title=f"{rating} stars")
        review = Review.objects.get(user=user)
        Review.objects.filter(pk=review.pk).update(helpful_count=helpful)
        made.append(review)
    return made


def _ratings(response):
    assert response.status_code == 200, response.content
    return [item["rating"] for item in response.json()["results"]]


def test_newest_first_by_default(plugin, reviews):
    assert _ratings(api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews")) == [4, 3, 1, 5]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("helpful", [1, 3, 5, 4]), ("rating", [5, 4, 3, 1]), ("rating_high", [5, 4, 3, 1]), ("rating_low", [1, 3, 4, 5])],
)
def test_sorts(plugin, reviews, sort, expected):
    assert _ratings(api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews?sort={sort}")) == expected


def test_filter_by_rating_and_version(plugin, reviews):
    Review.objects.filter(rating=3).update(version="2.0.0")

    assert _ratings(api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews?rating=5")) == [5]
    assert _ratings(api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews?version=2.0.0")) == [3]


def test_paginated(plugin, reviews):
    body = api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews?limit=2&offset=2").json()

    assert body["count"] == 4
    assert [item["rating"] for item in body["results"]] == [1, 5]
    assert body["previous"] is not None
    assert body["ratings"]["count"] == 4


def test_hidden_reviews_are_not_listed(plugin, reviews):
    review_hide(review_id=reviews[1].pk, moderator=UserFactory(is_staff=True), reason="Abuse")

    body = api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews").json()

    assert body["count"] == 3
    assert 1 not in [item["rating"] for item in body["results"]]
    assert body["ratings"]["count"] == 3


@pytest.mark.parametrize("query", ["sort=best", "rating=0", "rating=6", "rating=x", "limit=x"])
def test_bad_query_is_400_or_ignored_never_500(plugin, reviews, query):
    response = api_client().get(f"/api/marketplace/plugins/{plugin.pk}/reviews?{query}")

    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["error"]["fields"]


def test_unknown_and_unpublished_plugins_are_404():
    assert api_client().get("/api/marketplace/plugins/nope/reviews").status_code == 404
    draft = PluginFactory(published_at=None)
    assert api_client().get(f"/api/marketplace/plugins/{draft.pk}/reviews").status_code == 404
