"""The review pages: the block on the plugin page, the write/edit form, helpful and flag buttons, the developer's
reply page. Plain HTML forms, no JavaScript."""

import pytest
from django.template.loader import render_to_string
from django.test import Client, RequestFactory

from reviews.api import plugin_reviews_context
from reviews.models import DeveloperReply, Flag, HelpfulVote, Review
from tests.factories import DeveloperFactory, PluginFactory, PluginVersionFactory, UserFactory
from tests.reviews.conftest import post_review, use

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def review(plugin, reviewer):
    post_review(reviewer, plugin.pk, rating=4, title="Handy for quizzes", review="Line one\nLine two")
    return Review.objects.get()


def test_reviews_page_shows_bars_reviews_and_sign_in_for_anonymous(plugin, review):
    page = Client().get(f"/plugins/{plugin.pk}/reviews/").content.decode()

    assert "Handy for quizzes" in page
    assert "Line one<br>Line two" in page
    assert "1 rating" in page
    assert 'style="width: 100%"' in page  # the 4-star bar
    assert "Sign in</a> to review" in page
    assert 'action="/reviews/' not in page  # no helpful / flag forms for anonymous visitors


def test_eligible_user_gets_the_form_and_others_the_reason(plugin, review):
    user = UserFactory()
    use(user, plugin)

    eligible = logged_in(user).get(f"/plugins/{plugin.pk}/reviews/").content.decode()
    outsider = logged_in(UserFactory()).get(f"/plugins/{plugin.pk}/reviews/").content.decode()
    developer = logged_in(plugin.developer.user).get(f"/plugins/{plugin.pk}/reviews/").content.decode()

    assert "Write a review" in eligible and 'name="rating"' in eligible
    assert 'name="rating"' not in outsider and "using it at least once" in outsider
    assert 'name="rating"' not in developer and "cannot review their own" in developer


def test_author_gets_the_edit_form_prefilled(plugin, review, reviewer):
    page = logged_in(reviewer).get(f"/plugins/{plugin.pk}/reviews/").content.decode()

    assert "Edit your review" in page
    assert 'value="Handy for quizzes"' in page
    assert 'value="4" required id="id_review_rating_1" checked' in page or 'value="4"' in page


def test_write_form_posts_and_redirects_back(plugin, reviewer):
    response = logged_in(reviewer).post(
        f"/plugins/{plugin.pk}/reviews/write/",
        {"rating": "5", "title": "Great", "review": "Love it", "next": f"/plugins/{plugin.pk}/"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/plugins/{plugin.pk}/"
    assert Review.objects.get().rating == 5


def test_write_form_refuses_an_offsite_next(plugin, reviewer):
    response = logged_in(reviewer).post(
        f"/plugins/{plugin.pk}/reviews/write/",
        {"rating": "5", "title": "Great", "review": "Love it", "next": "https://evil.example/"},
    )

    assert response["Location"] == f"/plugins/{plugin.pk}/reviews/"


@pytest.mark.parametrize(
    "data", [{"rating": "6", "title": "t", "review": "r"}, {"rating": "4", "title": "t", "review": "x" * 10_000},
             {"rating": "4", "title": "", "review": "r"}, {"rating": "4.5", "title": "t", "review": "r"}],
)
def test_write_form_shows_errors(plugin, reviewer, data):
    response = logged_in(reviewer).post(f"/plugins/{plugin.pk}/reviews/write/", data)

    assert response.status_code == 400
    assert 'class="error"' in response.content.decode()
    assert not Review.objects.exists()


def test_write_form_refuses_ineligible_users(plugin):
    response = logged_in(UserFactory()).post(
        f"/plugins/{plugin.pk}/reviews/write/", {"rating": "1", "title": "t", "review": "r"}
    )

    assert response.status_code == 403
    assert not Review.objects.exists()


def test_write_form_needs_sign_in_and_a_real_plugin(plugin, reviewer):
    assert Client().get(f"/plugins/{plugin.pk}/reviews/write/").status_code == 302
    assert logged_in(reviewer).get("/plugins/nope/reviews/write/").status_code == 404
    assert Client().get("/plugins/nope/reviews/").status_code == 404


def test_helpful_button_toggles(plugin, review):
    voter = UserFactory()
    client = logged_in(voter)

    client.post(f"/reviews/{review.pk}/helpful/", {"next": f"/plugins/{plugin.pk}/"})
    assert HelpfulVote.objects.filter(user=voter).exists()
    page = client.get(f"/plugins/{plugin.pk}/reviews/").content.decode()
    assert 'aria-pressed="true"' in page

    client.post(f"/reviews/{review.pk}/helpful/", {"action": "remove"})
    assert not HelpfulVote.objects.exists()


def test_helpful_needs_post(review):
    assert logged_in(UserFactory()).get(f"/reviews/{review.pk}/helpful/").status_code == 405


def test_flag_button_files_a_report(plugin, review):
    client = logged_in(UserFactory())

    response = client.post(f"/reviews/{review.pk}/flag/", {"reason": "off_topic", "note": "About another plugin"})

    assert response.status_code == 302
    assert Flag.objects.get().reason == "off_topic"
    assert "Reported" in client.get(f"/plugins/{plugin.pk}/reviews/").content.decode()


def test_sort_and_filter_links_never_fail(plugin, review):
    queries = ["reviews_sort=nope", "reviews_rating=9", "reviews_page=999", "reviews_version=<x>", "reviews_rating=4"]
    for query in queries:
        assert Client().get(f"/plugins/{plugin.pk}/reviews/?{query}").status_code == 200


def test_context_can_be_nested_under_reviews_as_the_plugin_page_does(plugin, review):
    request = RequestFactory().get(f"/plugins/{plugin.pk}/")
    request.user = UserFactory()

    nested = render_to_string(
        "reviews/_plugin_reviews.html",
        {"reviews": plugin_reviews_context(plugin=plugin, user=request.user, request=request)},
        request=request,
    )

    assert "Handy for quizzes" in nested


def test_plugin_detail_page_includes_the_reviews_block(plugin, review):
    PluginVersionFactory(plugin=plugin, version="1.0.0")

    response = Client().get(f"/plugins/{plugin.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Handy for quizzes" in page
    assert page.count('id="reviews-heading"') == 1


# --- the developer's reply page ---------------------------------------------------------------------------------------


def test_developer_sees_reviews_of_own_plugins_only(plugin, review):
    other_plugin = PluginFactory(published_at=plugin.published_at, version="1.0.0")
    other_user = UserFactory()
    use(other_user, other_plugin)
    post_review(other_user, other_plugin.pk, title="About someone else's plugin")

    page = logged_in(plugin.developer.user).get("/developer/reviews/").content.decode()

    assert "Handy for quizzes" in page
    assert "someone else" not in page


def test_developer_replies_from_the_portal(plugin, review):
    client = logged_in(plugin.developer.user)

    response = client.post(f"/developer/reviews/{review.pk}/reply/", {"body": "Thanks for the feedback!"})

    assert response.status_code == 302
    assert DeveloperReply.objects.get().body == "Thanks for the feedback!"
    assert "Thanks for the feedback!" in Client().get(f"/plugins/{plugin.pk}/reviews/").content.decode()


def test_another_developer_cannot_reply_from_the_portal(review):
    rival = DeveloperFactory()

    response = logged_in(rival.user).post(f"/developer/reviews/{review.pk}/reply/", {"body": "Try ours"})

    assert response.status_code == 404
    assert not DeveloperReply.objects.exists()


def test_portal_page_is_for_developers(review):
    assert logged_in(UserFactory()).get("/developer/reviews/").status_code == 404
    assert Client().get("/developer/reviews/").status_code == 302


def test_reviews_block_costs_the_same_queries_for_many_reviews(plugin, django_assert_max_num_queries):
    for _ in range(12):
        user = UserFactory()
        use(user, plugin)
        post_review(user, plugin.pk)
    for review in Review.objects.all()[:5]:
        DeveloperReply.objects.create(review=review, developer=plugin.developer, body="Thanks")
    viewer = UserFactory()
    use(viewer, plugin)
    client = logged_in(viewer)

    with django_assert_max_num_queries(16):
        response = client.get(f"/plugins/{plugin.pk}/reviews/")

    assert response.content.decode().count('class="review card"') == 10
