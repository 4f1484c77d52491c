"""Plugin.listed and its platform envelope: kept by the catalogue's services in the same transaction as every change
of a version's status, backfilled by migration 0005, and what search reads instead of the versions table."""

import importlib
import threading

import pytest
from django.apps import apps as django_apps
from django.db import connection
from rest_framework.test import APIClient

from aisquare_plugin_sdk.manifest import Version
from marketplace.api import (
    invalidate_catalogue_caches,
    plugin_version_publish,
    plugin_version_set_status,
    plugin_version_yank,
)
from marketplace.catalogue import listing_state
from marketplace.models import Plugin, PluginVersion
from tests.factories import PluginFactory
from tests.marketplace.helpers import add_version

pytestmark = pytest.mark.django_db
URL = "/api/marketplace/plugins"
Status = PluginVersion.Status
KEY = {v: Version.parse(v).as_int() for v in ("1.0.0", "1.5.0", "1.9.9", "1.9.10", "2.0.0", "2.4.0", "3.0.0",
                                                "3.2.0", "4.0.0")}


def state(plugin_id: str) -> tuple:
    return Plugin.objects.values_list(
        "listed", "listed_min_platform_key", "listed_max_platform_key", "listed_platform_gapless"
    ).get(pk=plugin_id)


def search_ids(**params) -> list[str]:
    """The ids found, sorted; the listing cache forgotten first (the services forget it on commit, and these tests
    never commit)."""
    invalidate_catalogue_caches()
    response = APIClient().get(URL, params)
    assert response.status_code == 200, response.content
    return sorted(plugin["id"] for plugin in response.json()["plugins"])


def passed(plugin, version, **kwargs):
    """A version that passed its scan and waits for review: nothing of it is listed yet."""
    return add_version(plugin, version, status=Status.PASSED, **kwargs)


# --- the rule -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ranges", "expected"), [
    ([], (False, None, None, True)),
    ([(KEY["2.0.0"], None)], (True, KEY["2.0.0"], None, True)),
    ([(KEY["1.0.0"], KEY["1.5.0"]), (KEY["3.0.0"], None)], (True, KEY["1.0.0"], None, False)),
    # 1.9.9 and 1.9.10 are neighbours: no platform lies between them.
    ([(KEY["1.0.0"], KEY["1.9.9"]), (KEY["1.9.10"], KEY["3.0.0"])], (True, KEY["1.0.0"], KEY["3.0.0"], True)),
    # Overlapping, unsorted, one nested in another.
    ([(KEY["2.0.0"], KEY["4.0.0"]), (KEY["1.0.0"], KEY["2.4.0"]), (KEY["3.0.0"], KEY["3.2.0"])],
     (True, KEY["1.0.0"], KEY["4.0.0"], True)),
    # An unbounded range swallows every later one.
    ([(KEY["1.0.0"], None), (KEY["3.0.0"], KEY["3.2.0"])], (True, KEY["1.0.0"], None, True)),
])
def test_listing_state_is_the_envelope_of_the_approved_ranges_and_says_when_it_has_a_gap(ranges, expected):
    result = listing_state(ranges)
    assert (result["listed"], result["listed_min_platform_key"], result["listed_max_platform_key"],
            result["listed_platform_gapless"]) == expected


# --- the services keep it -----------------------------------------------------------------------------------------


def test_publish_lists_and_yanking_the_last_approved_version_unlists():
    plugin = PluginFactory(id="kept")
    one = passed(plugin, "1.0.0", min_platform="2.0.0")
    assert state("kept") == (False, None, None, True)
    assert search_ids() == []

    plugin_version_publish(version=one)
    assert state("kept") == (True, KEY["2.0.0"], None, True)
    assert search_ids() == ["kept"]

    two = passed(plugin, "2.0.0", min_platform="3.0.0", max_platform="4.0.0")
    assert state("kept") == (True, KEY["2.0.0"], None, True)  # a version awaiting review changes nothing
    plugin_version_publish(version=two)
    assert state("kept") == (True, KEY["2.0.0"], None, True)

    plugin_version_yank(version=one, reason="Leaks learner names.")
    assert state("kept") == (True, KEY["3.0.0"], KEY["4.0.0"], True)
    assert search_ids(compatible_with="2.4.0") == []
    assert search_ids(compatible_with="3.2.0") == ["kept"]

    plugin_version_yank(version=two, reason="Also broken.")
    assert state("kept") == (False, None, None, True)
    assert search_ids() == []
    assert APIClient().get(f"{URL}/kept").status_code == 404


def test_a_rejected_or_changes_requested_version_never_lists_the_plugin():
    plugin = PluginFactory(id="refused")
    for number, verdict in (("1.0.0", Status.REJECTED), ("1.1.0", Status.CHANGES_REQUESTED),
                            ("1.2.0", Status.QUARANTINED)):
        plugin_version_set_status(version=passed(plugin, number), status=verdict, allowed_from=(Status.PASSED,))
        assert state("refused") == (False, None, None, True)
    assert search_ids() == []


def test_a_status_change_away_from_approved_outside_yank_unlists_too():
    plugin = PluginFactory(id="withdrawn")
    version = passed(plugin, "1.0.0")
    plugin_version_publish(version=version)
    assert state("withdrawn")[0] is True

    plugin_version_set_status(version=version, status=Status.REJECTED)

    assert state("withdrawn") == (False, None, None, True)
    assert search_ids() == []


def test_a_refused_publish_or_yank_leaves_the_listing_as_it_was():
    plugin = PluginFactory(id="unchanged")
    version = passed(plugin, "1.0.0")
    plugin_version_publish(version=version)
    before = state("unchanged")

    with pytest.raises(Exception, match="reason"):
        plugin_version_yank(version=version, reason="  ")
    with pytest.raises(Exception, match="Only a version that passed"):
        plugin_version_publish(version=version)

    assert state("unchanged") == before


# --- compatible_with reads the envelope, and the versions only across a gap --------------------------------------


def test_compatible_with_stays_exact_when_the_approved_ranges_leave_a_gap():
    plugin = PluginFactory(id="gappy")
    plugin_version_publish(version=passed(plugin, "1.0.0", min_platform="1.0.0", max_platform="1.5.0"))
    plugin_version_publish(version=passed(plugin, "2.0.0", min_platform="3.0.0"))
    steady = PluginFactory(id="steady")
    plugin_version_publish(version=passed(steady, "1.0.0", min_platform="1.0.0"))
    assert state("gappy") == (True, KEY["1.0.0"], None, False)

    assert search_ids(compatible_with="1.2.0") == ["gappy", "steady"]
    assert search_ids(compatible_with="2.4.0") == ["steady"]  # inside the envelope, in the gap
    assert search_ids(compatible_with="3.2.0") == ["gappy", "steady"]
    assert search_ids(compatible_with="0.9.0") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's plan")
def test_search_without_a_gap_never_reads_the_versions_table():
    for n in range(3):
        plugin = PluginFactory(id=f"plain-{n}", name=f"Quiz {n}", tags=["quiz"])
        plugin_version_publish(version=passed(plugin, "1.0.0"))
    gappy = PluginFactory(id="gappy-quiz", name="Quiz gappy", tags=["quiz"])
    plugin_version_publish(version=passed(gappy, "1.0.0", min_platform="1.0.0", max_platform="1.5.0"))
    plugin_version_publish(version=passed(gappy, "2.0.0", min_platform="3.0.0"))
    from marketplace import selectors

    def version_lines(params):
        queryset, _ = selectors._filtered(params)
        plan = queryset.explain(analyze=True)
        return [line for line in plan.splitlines() if "marketplace_pluginversion" in line]

    assert search_ids(query="quiz", compatible_with="2.4.0") == ["plain-0", "plain-1", "plain-2"]
    # Listing and filtering by compatibility read the plugin rows only; the versions are asked only for the plugin
    # whose ranges have a gap, when its envelope admits the platform.
    lines = version_lines(selectors.SearchParams(query="quiz"))
    assert lines == []
    lines = version_lines(selectors.SearchParams(query="quiz", compatible_with="0.9.0"))
    assert lines and all("never executed" in line for line in lines), lines
    lines = version_lines(selectors.SearchParams(query="quiz", compatible_with="2.4.0"))
    assert lines and not all("never executed" in line for line in lines), lines


# --- the backfill of migration 0005 ---------------------------------------------------------------------------------


def test_migration_backfills_the_columns_from_the_versions():
    backfill = importlib.import_module("marketplace.migrations.0005_backfill_listed_state")
    one = PluginFactory(id="old-one")
    add_version(one, "1.0.0", min_platform="1.0.0", max_platform="1.5.0")
    add_version(one, "2.0.0", min_platform="3.0.0")
    add_version(one, "3.0.0", min_platform="1.0.0", status=Status.YANKED)
    add_version(PluginFactory(id="old-refused"), "1.0.0", status=Status.REJECTED)
    PluginFactory(id="old-empty")
    expected = {plugin_id: state(plugin_id) for plugin_id in ("old-one", "old-refused", "old-empty")}
    # As right after migration 0004: every row has the columns' defaults.
    Plugin.objects.update(listed=False, listed_min_platform_key=None, listed_max_platform_key=None,
                          listed_platform_gapless=True)

    backfill.forwards(django_apps, None)

    assert {plugin_id: state(plugin_id) for plugin_id in expected} == expected
    assert expected["old-one"] == (True, KEY["1.0.0"], None, False)
    assert expected["old-refused"] == expected["old-empty"] == (False, None, None, True)


# --- concurrent yanks of the last two approved versions --------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks; SQLite serializes writers")
@pytest.mark.django_db(transaction=True)
def test_concurrent_yanks_of_the_last_two_versions_leave_the_plugin_unlisted():
    plugin = PluginFactory(id="raced")
    versions = [passed(plugin, number) for number in ("1.0.0", "2.0.0")]
    for version in versions:
        plugin_version_publish(version=version)
    assert state("raced")[0] is True
    barrier = threading.Barrier(2)
    errors = []

    def yank(version):
        try:
            barrier.wait(timeout=10)
            plugin_version_yank(version=version, reason="Withdrawn.")
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=yank, args=(version,)) for version in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert state("raced") == (False, None, None, True)
