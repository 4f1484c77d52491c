"""Search reads SearchEntry, one narrow row per listed plugin: every service that changes what the entry copies
rewrites it in the same transaction, so search never disagrees with the listing; migration 0007 backfills it."""

import importlib
import threading
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection
from rest_framework.test import APIClient

from marketplace.api import (
    invalidate_catalogue_caches,
    plugin_featured_set,
    plugin_listing_update,
    plugin_ratings_set,
    plugin_version_publish,
    plugin_version_yank,
    plugins_verified_set,
)
from marketplace.catalogue import plugin_downloads_increment, search_static_boost
from marketplace.models import PluginVersion, SearchEntry
from tests.factories import PluginFactory, UserFactory
from tests.marketplace.helpers import add_version, listed

pytestmark = pytest.mark.django_db
URL = "/api/marketplace/plugins"


def search(**params) -> dict:
    """The search's answer, with the listing cache forgotten first (the services forget it on commit, and these
    tests never commit)."""
    invalidate_catalogue_caches()
    response = APIClient().get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def ids(**params) -> list[str]:
    return [plugin["id"] for plugin in search(**params)["plugins"]]


# --- one entry per listed plugin ----------------------------------------------------------------------------------


def test_only_listed_plugins_have_an_entry_and_it_goes_with_the_last_approved_version():
    plugin = PluginFactory(id="entry", name="Entry Quiz")
    version = add_version(plugin, status=PluginVersion.Status.PASSED)
    add_version(PluginFactory(id="refused"), status=PluginVersion.Status.REJECTED)
    assert not SearchEntry.objects.exists()

    plugin_version_publish(version=version)
    assert list(SearchEntry.objects.values_list("plugin_id", flat=True)) == ["entry"]
    assert ids(query="quiz") == ["entry"]

    plugin_version_yank(version=version, reason="Broken.")
    assert not SearchEntry.objects.exists()
    assert ids(query="quiz") == []


# --- every write the entry copies is seen by search -----------------------------------------------------------------


def test_a_listing_edit_is_searchable_at_once():
    plugin = listed(id="edited", name="Helper", description="Marks essays.", tags=["essays"])

    plugin_listing_update(plugin=plugin, changes={"description": "Builds flashcards.", "tags": ["vocabulary"]})

    assert ids(query="flashcards") == ["edited"]
    assert ids(query="essays") == []
    assert ids(tags="vocabulary") == ["edited"]
    assert search()["facets"]["tags"] == [{"tag": "vocabulary", "count": 1}]


def test_featuring_a_plugin_moves_it_into_the_featured_filter():
    plugin = listed(id="star", featured=False)
    listed(id="plain", featured=False)
    assert ids(featured="true") == []

    plugin_featured_set(plugin=plugin, featured=True)

    assert ids(featured="true") == ["star"]


def test_verifying_a_developer_verifies_the_entries_of_all_their_plugins_and_lifts_their_relevance():
    mine = listed(id="mine-1", name="Quiz One", verified=False, downloads=1000)
    listed(id="mine-2", name="Quiz Two", verified=False, downloads=1000, developer=mine.developer)
    listed(id="theirs", name="Quiz Three", verified=True, downloads=0)
    # Unverified relevance counts half: more downloads do not make up for it.
    assert ids(query="quiz")[0] == "theirs"

    plugins_verified_set(developer=mine.developer, verified=True)

    assert sorted(ids(verified="true")) == ["mine-1", "mine-2", "theirs"]
    assert ids(query="quiz")[2] == "theirs"


def test_new_ratings_move_the_plugin_between_rating_filter_and_buckets():
    listed(id="rated", rating_average=Decimal("2.00"), rating_count=1)
    assert ids(rating_min="4") == []

    plugin_ratings_set(plugin_id="rated", ratings={"average": 4.5, "count": 2}, average=Decimal("4.5"), count=2)

    assert ids(rating_min="4") == ["rated"]
    assert search()["facets"]["rating"] == {"4-5": 1, "3-4": 0, "2-3": 0, "1-2": 0, "unrated": 0}


def test_installs_count_in_the_popular_sort():
    listed(id="leader", downloads=6)
    listed(id="follower", downloads=5)
    assert ids(sort="popular") == ["leader", "follower"]

    for user in UserFactory.create_batch(2):
        client = APIClient()
        client.force_authenticate(user)
        response = client.post(f"{URL}/follower/install", {"granted_scopes": ["content:read"]}, format="json")
        assert response.status_code == 201, response.content

    assert ids(sort="popular") == ["follower", "leader"]
    assert SearchEntry.objects.get(pk="follower").downloads == 7


# --- what the entry holds -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rating", "downloads", "verified", "expected"), [
    (Decimal("5"), 999_999, True, 1.8),  # best rating, a million downloads (capped), verified
    (Decimal("0"), 0, True, 1.0),
    (Decimal("0"), 0, False, 0.5),  # unverified: x0.5
    (Decimal("2.5"), 0, False, 0.6),
])
def test_static_boost_blends_rating_downloads_and_verification(rating, downloads, verified, expected):
    plugin = listed(id="boosted", rating_average=rating, rating_count=3, downloads=downloads, verified=verified)

    entry = SearchEntry.objects.get(pk=plugin.pk)

    assert entry.static_boost == pytest.approx(expected, abs=1e-6)
    assert search_static_boost(rating_average=rating, downloads=downloads, verified=verified) == entry.static_boost


def test_a_newer_plugin_ranks_higher_for_the_same_match_and_standing():
    listed(id="old", name="Quiz Old", age_days=300)
    listed(id="new", name="Quiz New", age_days=1)

    assert ids(query="quiz") == ["new", "old"]


# --- the backfill of migration 0007 ---------------------------------------------------------------------------------


def _copied(entry: SearchEntry) -> dict:
    fields = [field.attname for field in SearchEntry._meta.concrete_fields if field.name != "document"]
    return {name: getattr(entry, name) for name in fields}


def test_migration_backfills_the_same_entries_as_the_catalogue_writes():
    backfill = importlib.import_module("marketplace.migrations.0007_search_entries")
    listed(id="one", name="Quiz Builder", tags=["quiz", "ai"], rating_average=Decimal("3.5"), rating_count=4,
           downloads=1200, verified=False, featured=True, max_platform="3.0.0")
    gappy = listed(id="two", name="Rubric Helper", description="Grades essays with a rubric.", min_platform="1.0.0",
                   max_platform="1.5.0")
    add_version(gappy, "2.0.0", min_platform="3.0.0")
    add_version(PluginFactory(id="never-listed"), status=PluginVersion.Status.REJECTED)
    written = {entry.pk: _copied(entry) for entry in SearchEntry.objects.all()}
    documents = dict(SearchEntry.objects.values_list("plugin_id", "document"))
    assert sorted(written) == ["one", "two"]
    SearchEntry.objects.all().delete()  # as right after the table is created

    editor = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    backfill.backfill(django_apps, editor)

    assert {entry.pk: _copied(entry) for entry in SearchEntry.objects.all()} == written
    assert dict(SearchEntry.objects.values_list("plugin_id", "document")) == documents  # None on SQLite
    assert ids(query="rubric") == ["two"] and ids(query="ai") == ["one"]
    assert sorted(ids(compatible_with="2.4.0")) == ["one"]
    # The filters (which PostgreSQL answers from the document's filter tokens) see the backfilled entries too.
    assert ids(verified="false", featured="true", pricing="free", category="assessment") == ["one"]
    assert ids(verified="true", featured="false") == ["two"]


# --- concurrent writers ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks; SQLite serializes writers")
@pytest.mark.django_db(transaction=True)
def test_concurrent_downloads_and_ratings_leave_the_entry_equal_to_the_plugin_row():
    plugin = listed(id="busy", downloads=0)
    barrier = threading.Barrier(4)
    errors = []

    def run(write):
        try:
            barrier.wait(timeout=10)
            write()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    writes = [lambda: plugin_downloads_increment(plugin_id="busy")] * 3 + [
        lambda: plugin_ratings_set(plugin_id="busy", ratings={}, average=Decimal("4.2"), count=7)
    ]
    threads = [threading.Thread(target=run, args=(write,)) for write in writes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    plugin.refresh_from_db()
    entry = SearchEntry.objects.get(pk="busy")
    assert (plugin.downloads, entry.downloads) == (3, 3)
    assert (entry.rating_average, entry.rating_count, entry.rating_bucket) == (Decimal("4.20"), 7, "4-5")
    assert entry.static_boost == pytest.approx(
        search_static_boost(rating_average=Decimal("4.2"), downloads=3, verified=plugin.verified))


# --- the Django admin -----------------------------------------------------------------------------------------------


def test_an_edit_in_the_admin_is_searchable_at_once(admin_client):
    plugin = listed(id="admin-edited", name="Helper", description="Marks essays.", tags=["essays"], featured=False)
    page = admin_client.get(f"/admin/marketplace/plugin/{plugin.pk}/change/")
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()  # as the page renders it
        if value is not None and not field.disabled:
            data[name] = value
    data.update(name="Flashcard Helper", featured="on")
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({f"{management.prefix}-{key}": value for key, value in management.initial.items()})
        for number, inline_form in enumerate(inline.formset.forms):
            data[f"{inline.formset.prefix}-{number}-id"] = inline_form.instance.pk
            data[f"{inline.formset.prefix}-{number}-plugin"] = plugin.pk

    response = admin_client.post(f"/admin/marketplace/plugin/{plugin.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert ids(query="flashcard") == ["admin-edited"]
    assert ids(featured="true") == ["admin-edited"]
