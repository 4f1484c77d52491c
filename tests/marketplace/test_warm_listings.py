"""The most visited listings (the home page's sections and the unfiltered browse, which rank or count the whole
catalogue) are kept warm by `marketplace.warm_listings`: after it ran, those pages and the API's default request are
served from the cache, with the same content, and rows are still read fresh (a plugin yanked since drops out)."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from marketplace.api import plugin_version_yank
from marketplace.tasks import warm_listings
from tests.marketplace.helpers import listed

pytestmark = pytest.mark.django_db

URLS = ["/", "/plugins/", "/api/marketplace/plugins"]


def fetch(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response, len(captured)


@pytest.fixture
def shelf():
    cache.clear()
    return [listed(id=f"tool-{n}", name=f"Tool {n}", downloads=n, featured=n % 2 == 0) for n in range(12)]


@pytest.mark.parametrize("url", URLS)
def test_after_the_warm_up_the_page_is_served_from_the_cache_with_the_same_content(client, shelf, url):
    cold, cold_queries = fetch(client, url)
    cache.clear()
    warm_listings()
    warm, warm_queries = fetch(client, url)
    assert warm_queries < cold_queries
    if url.startswith("/api/"):
        assert warm.json() == cold.json()
    else:
        for n in range(12):
            assert (f"Tool {n}<" in cold.content.decode()) == (f"Tool {n}<" in warm.content.decode())


def test_a_plugin_yanked_after_the_warm_up_is_not_shown_on_the_home_page(client, shelf):
    warm_listings()
    assert "Tool 11<" in client.get("/").content.decode()
    plugin_version_yank(version=shelf[11].versions.get(), reason="Malware.")  # its cache bump waits for a commit
    page = client.get("/").content.decode()
    assert "Tool 11<" not in page and "Tool 10<" in page
