"""The marketplace pages: what they show, what they hide, and a bounded number of queries whatever the results."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.models import PluginVersion
from tests.factories import InstallationFactory, PluginFactory, UserFactory
from tests.marketplace.helpers import add_version, listed

pytestmark = pytest.mark.django_db


def catalogue(count: int):
    return [
        listed(id=f"plugin-{n}", name=f"Quiz tool {n}", downloads=n, featured=n % 3 == 0,
               tags=["quiz", f"tag{n % 4}"], rating_average=Decimal("4.0"), rating_count=1)
        for n in range(count)
    ]


def queries_for(client, url: str) -> int:
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return len(captured)


@pytest.mark.parametrize("url", ["/", "/plugins/", "/plugins/?q=quiz&sort=popular&tags=quiz&pricing=free",
                                 "/api/marketplace/plugins?query=quiz&category=assessment"])
@pytest.mark.parametrize("signed_in", [False, True])
def test_home_and_search_issue_at_most_10_queries_whatever_the_number_of_results(client, url, signed_in):
    if signed_in:
        user = UserFactory()
        client.force_login(user)
    plugins = catalogue(3)
    few = queries_for(client, url)
    plugins += catalogue(0)
    for n in range(3, 40):
        plugins.append(listed(id=f"more-{n}", name=f"Quiz more {n}", tags=["quiz"], downloads=n, featured=True))
    if signed_in:
        for plugin in plugins[:10]:
            InstallationFactory(plugin=plugin, user=user)
    many = queries_for(client, url)

    assert few == many
    assert many <= 10


def test_plugin_detail_and_install_pages_issue_a_bounded_number_of_queries(client):
    user = UserFactory()
    client.force_login(user)
    plugin = listed(id="busy")
    few = queries_for(client, "/plugins/busy/")
    for n in range(2, 30):
        add_version(plugin, f"1.{n}.0", changelog=f"change {n}")
    many = queries_for(client, "/plugins/busy/")

    # Signed in: session and user (2), the listing and its versions (2), installations (2), the header (1) and the
    # reviews app's block (about 5).
    assert few == many <= 15
    assert queries_for(client, "/plugins/busy/install/") <= 10


def test_home_shows_featured_popular_new_and_categories(client):
    listed(id="star", name="Star Plugin", featured=True, category="analytics")
    add_version(PluginFactory(id="ghost", name="Ghost Plugin", featured=True), status="rejected")

    page = client.get("/").content.decode()

    assert "Star Plugin" in page
    assert "Ghost Plugin" not in page
    assert "Featured" in page and "Popular" in page and "New" in page
    assert "?category=analytics" in page


def test_search_page_filters_facets_and_pages(client):
    for n in range(25):
        listed(id=f"p{n}", name=f"Quiz {n}", downloads=n)
    listed(id="other", name="Attendance", category="analytics")

    page = client.get("/plugins/?q=quiz&sort=popular").content.decode()

    assert "Showing 1–20 of 25 plugins" in page
    assert "Quiz 24" in page and "Quiz 4<" not in page
    assert "Attendance" not in page
    assert 'rel="next"' in page
    second = client.get("/plugins/?q=quiz&sort=popular&offset=20").content.decode()
    assert "Showing 21–25 of 25" in second and "Quiz 4<" in second
    assert "Assessment (25)" in page  # the category facet counts the matching set


def test_search_page_answers_400_with_a_message_for_bad_filters(client):
    response = client.get("/plugins/?sort=chaos")

    assert response.status_code == 400
    assert "Unknown sort" in response.content.decode()


def test_plugin_detail_shows_permissions_with_reasons_versions_and_hides_yanked(client):
    plugin = listed(id="quizzer", name="Quizzer", version="1.0.0")
    add_version(plugin, "1.1.0", changelog="Faster quizzes")
    add_version(plugin, "5.5.5", status=PluginVersion.Status.YANKED, changelog="Broken build")

    page = client.get("/plugins/quizzer/").content.decode()

    assert "Reads the course to build quizzes." in page
    assert "content:read" in page and "Optional" in page
    assert "Faster quizzes" in page
    assert "Broken build" not in page and "5.5.5" not in page
    assert 'href="/plugins/quizzer/install/"' in page


@pytest.mark.parametrize("status", ["yanked", "rejected", "quarantined"])
def test_plugin_detail_page_of_an_unlisted_plugin_is_404(client, status):
    add_version(PluginFactory(id="gone"), status=status)

    assert client.get("/plugins/gone/").status_code == 404
    assert client.get("/plugins/gone/install/").status_code in (302, 404)


def test_incompatible_plugin_offers_no_install_button(client, settings):
    settings.PLATFORM_VERSION = "2.4.0"
    listed(id="future", min_platform="3.0.0")

    page = client.get("/plugins/future/").content.decode()

    assert "Not compatible with platform 2.4.0" in page
    assert "/plugins/future/install/" not in page


def test_install_consent_page_needs_a_signed_in_user(client):
    listed(id="quizzer")

    response = client.get("/plugins/quizzer/install/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_install_consent_page_lists_required_and_optional_scopes(client):
    client.force_login(UserFactory())
    listed(id="quizzer")

    page = client.get("/plugins/quizzer/install/").content.decode()

    assert 'value="content:read"' in page and "required checked" in page
    assert 'value="ai:use"' in page
    assert "Suggests questions." in page


def test_dashboard_and_my_plugins_need_sign_in(client):
    assert client.get("/dashboard/").status_code == 302
    assert client.get("/my/plugins/").status_code == 302
