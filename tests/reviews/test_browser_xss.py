"""HTML and script in reviews and replies are shown as text in a real browser, on every page that shows them."""

import pytest
from django.utils import timezone

from reviews.services import review_flag, review_reply_set, review_submit
from tests.factories import PluginFactory, PluginVersionFactory, UserFactory
from tests.reviews.conftest import use

TITLE = '<script>window.__xss="title";alert("title")</script>'
BODY = '<img src=x onerror="window.__xss=\'img\';alert(1)"><script>window.__xss="body"</script>\n"quoted" & <b>bold</b>'
REPLY = '<svg onload="window.__xss=\'reply\';alert(2)"></svg><a href="javascript:alert(3)">click</a>'


@pytest.fixture
def hostile_review(db):
    plugin = PluginFactory(published_at=timezone.now(), version="1.0.0", name="Quiz Builder")
    PluginVersionFactory(plugin=plugin, version="1.0.0")
    author = UserFactory()
    use(author, plugin)
    review, _ = review_submit(plugin_id=plugin.pk, user=author, rating=2, title=TITLE, body=BODY)
    review_reply_set(review_id=review.pk, user=plugin.developer.user, body=REPLY)
    review_flag(review_id=review.pk, user=UserFactory(), reason="spam", note='<script>alert("note")</script>')
    return review


def _assert_inert(page, dialogs):
    assert dialogs == []
    assert page.evaluate("window.__xss") is None
    assert page.locator("script:not([src])").count() == 0  # no inline script made it into the DOM
    assert page.locator("img[src=x], svg[onload], a[href^='javascript:']").count() == 0


def _sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pass-word-123")
    page.click("form button[type=submit], form input[type=submit]")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_script_payloads_render_as_text(hostile_review, live_server, page, artifacts_dir):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    plugin = hostile_review.plugin

    page.goto(f"{live_server.url}/plugins/{plugin.pk}/reviews/")
    _assert_inert(page, dialogs)
    assert page.locator(".review-title").first.inner_text() == TITLE
    body_text = page.locator(".review-body").first.inner_text()
    assert '<img src=x onerror="window.__xss=\'img\';alert(1)">' in body_text
    assert '"quoted" & <b>bold</b>' in body_text
    assert REPLY in page.locator(".review-reply").first.inner_text()
    page.screenshot(path=str(artifacts_dir / "reviews-xss-reviews-page.png"), full_page=True)

    page.goto(f"{live_server.url}/plugins/{plugin.pk}/")
    _assert_inert(page, dialogs)
    assert page.locator(".review-title").first.inner_text() == TITLE
    page.screenshot(path=str(artifacts_dir / "reviews-xss-plugin-page.png"), full_page=True)

    _sign_in(page, live_server, plugin.developer.user.username)
    page.goto(f"{live_server.url}/developer/reviews/")
    _assert_inert(page, dialogs)
    assert page.locator(".review-title").first.inner_text() == TITLE
    assert page.locator("textarea[name=body]").first.input_value() == REPLY
    page.screenshot(path=str(artifacts_dir / "reviews-xss-developer-portal.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_script_payloads_are_inert_in_the_moderation_queue(hostile_review, live_server, page, artifacts_dir):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    staff = UserFactory(is_staff=True, is_superuser=True)

    _sign_in(page, live_server, staff.username)
    page.goto(f"{live_server.url}/admin/reviews/flaggedreview/")
    assert dialogs == []
    assert page.evaluate("window.__xss") is None
    assert TITLE in page.locator("#result_list").inner_text()
    page.goto(f"{live_server.url}/admin/reviews/review/{hostile_review.pk}/change/")
    assert dialogs == []
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(artifacts_dir / "reviews-xss-admin.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_eligible_user_writes_and_edits_a_review_with_the_keyboard(live_server, page, artifacts_dir):
    plugin = PluginFactory(published_at=timezone.now(), version="1.0.0", name="Quiz Builder")
    PluginVersionFactory(plugin=plugin, version="1.0.0")
    user = UserFactory()
    use(user, plugin)
    _sign_in(page, live_server, user.username)

    page.goto(f"{live_server.url}/plugins/{plugin.pk}/")
    page.get_by_label("4 stars").check()
    page.get_by_label("Title").fill("Marks quizzes for me")
    page.get_by_label("Your review").fill("Saves an hour a week.")
    page.get_by_role("button", name="Publish review").focus()
    page.keyboard.press("Enter")

    page.wait_for_url(f"{live_server.url}/plugins/{plugin.pk}/")
    assert "your review is published" in page.locator(".messages").inner_text()
    assert page.locator(".review-title").first.inner_text() == "Marks quizzes for me"
    assert "1 rating" in page.locator(".reviews-summary").inner_text()

    page.get_by_text("Edit your review").click()
    page.get_by_label("2 stars").check()
    page.get_by_role("button", name="Update review").click()
    page.wait_for_url(f"{live_server.url}/plugins/{plugin.pk}/")
    assert "Edited" in page.locator(".review").first.inner_text()
    plugin.refresh_from_db()
    assert (plugin.rating_count, float(plugin.rating_average)) == (1, 2.0)
    page.screenshot(path=str(artifacts_dir / "reviews-write-and-edit.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_moderator_hides_a_flagged_review_from_the_queue(hostile_review, live_server, page, artifacts_dir):
    staff = UserFactory(is_staff=True, is_superuser=True)
    _sign_in(page, live_server, staff.username)

    page.goto(f"{live_server.url}/admin/reviews/flaggedreview/")
    page.locator("input[name=_selected_action]").first.check()
    page.select_option("select[name=action]", "hide_reviews")
    page.get_by_label("Reason (required, kept in the audit)").fill("Script injection attempt")
    page.screenshot(path=str(artifacts_dir / "reviews-moderation-queue.png"), full_page=True)
    page.locator("button[name=index]").click()

    assert "1 review(s) hidden" in page.locator(".messagelist").inner_text()
    hostile_review.refresh_from_db()
    assert hostile_review.is_hidden
    assert hostile_review.moderation_actions.get().reason == "Script injection attempt"
