"""Reads of the catalogue: the visible listing, search with filters, sorts and facets, and plugin details.

Visibility has one rule: a plugin is listed when it has at least one APPROVED version; only approved versions are
ever shown or installed (uploaded, rejected, quarantined and yanked ones never are). The catalogue's services keep
that answer on the plugin row (Plugin.listed and its platform envelope) and give each listed plugin a narrow search
entry (SearchEntry), so that search reads one narrow table and the page's rows are then read by primary key.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields import TextField
from django.db.models.functions import Cast, Greatest, Power
from django.db.models.lookups import Exact

import runtime.api as runtime_api
from aisquare_plugin_sdk.manifest import Version
from aisquare_plugins.exceptions import NotFound
from marketplace import cache as catalogue_cache
from marketplace.catalogue import SEARCH_CONFIG
from marketplace.models import Category, Plugin, PluginVersion, PricingModel, SearchEntry

SORTS = ("relevance", "popular", "rating", "newest", "price", "trending")
MAX_LIMIT = 100
TOP_TAGS = 10
# Disjoint rating buckets, so that their counts add up to the total (marketplace.catalogue.search_rating_bucket
# puts each entry in one). Reviews rate 1 to 5: "1-2" takes every rated plugin below 2; "unrated" those without.
RATING_BUCKETS = ("4-5", "3-4", "2-3", "1-2", "unrated")
# Open VSX weights a match in the name 5x and in the tags 3x a match in the description. ts_rank's weights are
# listed D, C, B, A: description is C, tags B, name A.
RANK_WEIGHTS = [0.1, 0.2, 0.6, 1.0]


def platform_key(version: str) -> int:
    """The integer key of a platform version (ValueError when it is not semver)."""
    return Version.parse(version).as_int()


def approved_versions() -> QuerySet[PluginVersion]:
    return PluginVersion.objects.filter(status=PluginVersion.Status.APPROVED)


def compatible_q(key: int) -> Q:
    """Versions whose [min, max] platform range admits `key` (no max: any later platform)."""
    return Q(min_platform_key__lte=key) & (Q(max_platform_key__isnull=True) | Q(max_platform_key__gte=key))


def visible_plugins() -> QuerySet[Plugin]:
    """Listed plugins: `listed` is kept by marketplace.catalogue, in the same transaction as each version's status,
    to say "has an approved version" without reading the versions table."""
    return Plugin.objects.filter(listed=True)


def entry_compatible_q(key: int) -> Q:
    """Search entries (listed plugins) having an approved version whose platform range admits `key`.

    The envelope of the approved ranges (on the entry) decides alone when those ranges leave no gap, as almost
    always; otherwise the versions are asked, only for the rows of such plugins that pass the envelope."""
    envelope = Q(min_platform_key__lte=key) & (Q(max_platform_key__isnull=True) | Q(max_platform_key__gte=key))
    # The subquery also names the outer row's gapless flag: correlated beyond the plugin id, it cannot be planned as
    # a hashed subplan (a scan of every approved version, built as soon as one row with a gap is tested); it stays
    # an index probe per such row.
    exact = Exists(
        approved_versions().filter(
            compatible_q(key), Exact(OuterRef("platform_gapless"), Value(False)), plugin=OuterRef("plugin_id")
        )
    )
    return envelope & (Q(platform_gapless=True) | exact)


def _latest_approved(field_name: str):
    return Subquery(
        approved_versions()
        .filter(plugin=OuterRef("pk"))
        .order_by("-version_major", "-version_minor", "-version_patch")
        .values(field_name)[:1]
    )


def with_listing_annotations(queryset: QuerySet[Plugin]) -> QuerySet[Plugin]:
    """What a result card shows besides the row: the latest approved version and compatibility with this platform."""
    key = platform_key(settings.PLATFORM_VERSION)
    # Scalar subqueries with LIMIT 1 run per result row on the index; an EXISTS in the select list may be planned
    # as a hashed subplan over every version in the table.
    return queryset.select_related("developer").annotate(
        latest_version=_latest_approved("version"),
        compatible_version_id=Subquery(
            # Any compatible version will do: no ordering (the model's default one joins the plugin to sort).
            approved_versions().filter(compatible_q(key), plugin=OuterRef("pk")).order_by().values("pk")[:1]
        ),
    )


def access_plugin_by_id(*, plugin_id: str) -> Plugin:
    """The one gate to a listing: a missing, unpublished or wholly yanked plugin is equally "not found"."""
    plugin = with_listing_annotations(visible_plugins()).filter(pk=plugin_id).first()
    if plugin is None:
        raise NotFound(f"No plugin {plugin_id!r} in the marketplace.")
    return plugin


# --- search ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchParams:
    query: str = ""
    category: str | None = None
    tags: tuple[str, ...] = ()
    pricing: tuple[str, ...] = ()
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    rating_min: Decimal | None = None
    verified: bool | None = None
    featured: bool | None = None
    compatible_with: str | None = None
    sort: str = "relevance"
    limit: int = 20
    offset: int = 0

    def cache_params(self) -> dict:
        return {key: (list(value) if isinstance(value, tuple) else value) for key, value in asdict(self).items()}


@dataclass
class SearchResult:
    plugins: list[Plugin]
    total: int
    facets: dict
    installed_ids: set[str] = field(default_factory=set)


def _tags_text():
    return Cast("tags", output_field=TextField())


@functools.cache
def _trigram_installed(database_name: str) -> bool:
    """Whether pg_trgm is installed (migration 0007 installs it). Without it search still works, without the typo
    pass. Asked once per process and database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
        return bool(cursor.fetchone()[0])


def _text_filter_postgres(query: str, *, fuzzy: bool):
    """The weighted document of the entry (name A, tags B, description C; GIN-indexed) matched by the words as a
    web search engine reads them, ranked by ts_rank with Open VSX's weights."""
    from django.contrib.postgres.search import SearchQuery, SearchRank, TrigramWordSimilarity

    search_query = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
    condition = Q(document=search_query)
    rank = SearchRank(F("document"), search_query, weights=RANK_WEIGHTS)
    if fuzzy and _trigram_installed(connection.settings_dict["NAME"]):
        # `%>` (word similarity above pg_trgm's threshold) catches typos in a word of the name: "asessment".
        condition |= Q(name__trigram_word_similar=query)
        rank = rank + 0.5 * TrigramWordSimilarity(query, "name")
    return {}, condition, rank


def _text_filter_portable(query: str):
    """SQLite: every word must appear in the name, tags or description; a name hit scores 5, tags 3, text 1. The
    description is the one thing read from the plugin row (the entry has no document there)."""
    words = [word for word in query.lower().split() if word][:8]
    condition = Q()
    score = Value(0.0, output_field=FloatField())
    for word in words:
        in_name, in_tags, in_text = Q(name__icontains=word), Q(tags_text__icontains=word), Q(
            plugin__description__icontains=word
        )
        condition &= in_name | in_tags | in_text
        score = (
            score
            + Case(When(in_name, then=Value(5.0)), default=Value(0.0), output_field=FloatField())
            + Case(When(in_tags, then=Value(3.0)), default=Value(0.0), output_field=FloatField())
            + Case(When(in_text, then=Value(1.0)), default=Value(0.0), output_field=FloatField())
        )
    return {"tags_text": _tags_text()}, condition, score / Value(9.0 * max(len(words), 1))


def _age_days(now: float):
    return Greatest(Value(0.0), (Value(now) - F("published_epoch")) / Value(86400.0), output_field=FloatField())


def _relevance_boost(now: float):
    """Relevance multiplier from rating, downloads, recency and verification (unverified x0.5), as Open VSX does:
    the entry's static part (marketplace.catalogue.search_static_boost) plus 0.2 x recency (1 when published today,
    0 after a year) x the verification factor."""
    verified = Case(When(verified=True, then=Value(1.0)), default=Value(0.5), output_field=FloatField())
    recency = Greatest(Value(0.0), Value(1.0) - _age_days(now) / Value(365.0), output_field=FloatField())
    return ExpressionWrapper(F("static_boost") + Value(0.2) * recency * verified, output_field=FloatField())


def _trending(now: float):
    """Downloads per day of age, with a gravity of 1.5 (Hacker News's): new plugins that are picked up rise."""
    return ExpressionWrapper(
        Cast("downloads", FloatField()) / Power(_age_days(now) + Value(2.0), Value(1.5)), output_field=FloatField()
    )


def _document_has_any(*tokens: str):
    """`document @@ 'token' | ...`: a filter on the entry's filter tokens (marketplace.catalogue.
    search_filter_tokens), which the GIN index that matches the words applies in the same scan (PostgreSQL). The
    tokens are made from the known categories and pricing models only."""
    from django.contrib.postgres.search import SearchQueryField

    query = " | ".join(f"'{token}'" for token in tokens)
    return Func(
        F("document"), Cast(Value(query), SearchQueryField()), template="%(expressions)s", arg_joiner=" @@ ",
        output_field=BooleanField(),
    )


def _filtered(params: SearchParams, *, fuzzy: bool = False) -> tuple[QuerySet[SearchEntry], object | None]:
    """The search entries matching the query and every filter, and the text-relevance expression (None without a
    query). Entries exist for listed plugins only: nothing else can match.

    `fuzzy` adds trigram matching on the name (PostgreSQL): the search makes that second pass only when the words
    as typed match nothing, as it costs a scan of the trigram index that most queries do not need.
    """
    queryset = SearchEntry.objects.all()
    rank = None
    postgres = connection.vendor == "postgresql"
    query = params.query.strip()
    if query:
        if postgres:
            annotations, condition, rank = _text_filter_postgres(query, fuzzy=fuzzy)
        else:
            annotations, condition, rank = _text_filter_portable(query)
        queryset = queryset.alias(**annotations).filter(condition)
    # PostgreSQL applies the category, pricing, verified and featured filters through the document's filter
    # tokens (in the GIN scan that finds the words); SQLite on the columns.
    if params.category:
        if postgres and params.category in Category.values:
            queryset = queryset.filter(_document_has_any(f"~category={params.category}"))
        else:
            queryset = queryset.filter(category=params.category)
    for tag in params.tags:
        if postgres:
            queryset = queryset.filter(tags__contains=[tag])
        else:
            queryset = queryset.alias(tags_text=_tags_text()).filter(tags_text__contains=json.dumps(tag))
    if params.pricing:
        if postgres and set(params.pricing) <= set(PricingModel.values):
            queryset = queryset.filter(_document_has_any(*(f"~pricing={model}" for model in params.pricing)))
        else:
            queryset = queryset.filter(pricing_model__in=params.pricing)
    if params.price_min is not None:
        queryset = queryset.filter(price__gte=params.price_min)
    if params.price_max is not None:
        queryset = queryset.filter(price__lte=params.price_max)
    if params.rating_min is not None:
        queryset = queryset.filter(rating_average__gte=params.rating_min)
    if params.verified is not None:
        if postgres:
            queryset = queryset.filter(_document_has_any("~verified" if params.verified else "~unverified"))
        else:
            queryset = queryset.filter(verified=params.verified)
    if params.featured is not None:
        if postgres and params.featured:
            queryset = queryset.filter(_document_has_any("~featured"))
        else:  # "not featured" is nearly every row: the column, not the index
            queryset = queryset.filter(featured=params.featured)
    if params.compatible_with:
        key = platform_key(params.compatible_with)
        queryset = queryset.filter(entry_compatible_q(key))
    return queryset, rank


def _ordering(queryset: QuerySet[SearchEntry], rank, sort: str) -> tuple[QuerySet[SearchEntry], list[tuple]]:
    """The queryset with the sort's computed keys, and the sort as (expression, descending, nulls_last) triples,
    always ending on the plugin id so that pages are stable."""
    desc, asc = True, False
    now = time.time()
    last = (F("plugin_id"), asc, False)
    if sort == "relevance":
        boost = _relevance_boost(now)
        queryset = queryset.alias(score=rank * boost if rank is not None else boost)
        return queryset, [(F("score"), desc, False), (F("downloads"), desc, False), last]
    if sort == "popular":
        return queryset, [(F("downloads"), desc, False), (F("rating_average"), desc, False), last]
    if sort == "rating":
        return queryset, [(F("rating_average"), desc, False), (F("rating_count"), desc, False),
                          (F("downloads"), desc, False), last]
    if sort == "newest":
        return queryset, [(F("published_at"), desc, True), (F("created_at"), desc, False), last]
    if sort == "price":
        return queryset, [(F("price"), asc, False), (F("name"), asc, False), last]
    if sort == "trending":
        queryset = queryset.alias(trend=_trending(now))
        return queryset, [(F("trend"), desc, False), (F("downloads"), desc, False), last]
    raise ValueError(f"unknown sort {sort!r}")


def _order_by_sql(table: str, ordering: list[tuple]) -> str:
    return ", ".join(
        f"{table}.k{n} {'DESC' if descending else 'ASC'}{' NULLS LAST' if nulls_last else ''}"
        for n, (_, descending, nulls_last) in enumerate(ordering)
    )


def _page_and_facets(queryset: QuerySet[SearchEntry], rank, params: SearchParams) -> tuple[list[str], int, dict]:
    """The page's ids, the total and the facets in ONE statement: the matching entries are read once into a CTE
    with their sort keys, then grouped per category, pricing model, rating bucket and tag, and the page is taken
    with a top-N sort (no full sort of every match)."""
    queryset, ordering = _ordering(queryset, rank, params.sort)
    keys = {f"k{n}": expression for n, (expression, _, _) in enumerate(ordering)}
    sql, sql_params = (
        queryset.annotate(**keys)
        .order_by()
        .values("plugin_id", *keys, "category", "pricing_model", "rating_bucket", "tags")
        .query.sql_with_params()
    )
    if connection.vendor == "postgresql":
        # The tags (text[]) are expanded in the select list (a ProjectSet streaming each row's elements), not by a
        # lateral function scan, which builds a tuplestore per row: about 10% cheaper on 10,000 matches.
        materialized = "MATERIALIZED "
        tag_values = "SELECT unnest(m.tags) AS value FROM m"
        # The three scalar facets in one pass over the matches (the columns are NOT NULL: GROUPING says which).
        scalar_facets = (
            "SELECT CASE WHEN GROUPING(m.category) = 0 THEN 'category' WHEN GROUPING(m.pricing_model) = 0 "
            "THEN 'pricing' ELSE 'rating' END, COALESCE(m.category, m.pricing_model, m.rating_bucket), COUNT(*) "
            "FROM m GROUP BY GROUPING SETS ((m.category), (m.pricing_model), (m.rating_bucket))"
        )
    else:  # SQLite has no GROUPING SETS
        materialized, tag_values = "", "SELECT t.value AS value FROM m CROSS JOIN json_each(m.tags) AS t"
        scalar_facets = (
            "SELECT 'category', m.category, COUNT(*) FROM m GROUP BY m.category "
            "UNION ALL SELECT 'pricing', m.pricing_model, COUNT(*) FROM m GROUP BY m.pricing_model "
            "UNION ALL SELECT 'rating', m.rating_bucket, COUNT(*) FROM m GROUP BY m.rating_bucket"
        )
    # `sql` is compiled by Django from the queryset, its values bound as `sql_params`; the ORDER BY names only the
    # CTE's own key columns; limit and offset are bound parameters.
    statement = (
        f"WITH m AS {materialized}({sql}) "  # noqa: S608
        f"SELECT 'page', p.plugin_id, ROW_NUMBER() OVER (ORDER BY {_order_by_sql('p', ordering)}) FROM "
        f"(SELECT * FROM m ORDER BY {_order_by_sql('m', ordering)} LIMIT %s OFFSET %s) AS p "
        f"UNION ALL {scalar_facets} "
        f"UNION ALL SELECT * FROM (SELECT 'tags', t.value, COUNT(*) AS n FROM ({tag_values}) AS t "
        f"GROUP BY t.value ORDER BY n DESC, t.value LIMIT {TOP_TAGS}) AS top_tags"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # No JIT compilation: the planner charges the compatibility subquery once per candidate row, which
            # pushes a 20 ms query past jit_above_cost, and compiling it then costs more than the query itself.
            cursor.execute("SET LOCAL jit = off")
        cursor.execute(statement, [*sql_params, params.limit, params.offset])
        rows = cursor.fetchall()
    facets = {
        "category": dict.fromkeys(Category.values, 0),
        "pricing": dict.fromkeys(PricingModel.values, 0),
        "rating": dict.fromkeys(RATING_BUCKETS, 0),
        "tags": [],
    }
    page = []
    for facet, value, count in rows:
        if facet == "page":
            page.append((count, value))
        elif facet == "tags":
            facets["tags"].append({"tag": value, "count": count})
        else:
            facets[facet][value] = count
    facets["tags"].sort(key=lambda item: (-item["count"], item["tag"]))
    return [plugin_id for _, plugin_id in sorted(page)], sum(facets["category"].values()), facets


def plugin_search(*, params: SearchParams) -> SearchResult:
    """Search the catalogue. The ids of the page, the total and the facets are cached (5 min, spec §Caching);
    the rows themselves are read fresh, so counters and ratings on a cached page are current."""
    key = catalogue_cache.listing_key(params.cache_params())
    cached = catalogue_cache.get_listing(key)
    if cached is None:
        queryset, rank = _filtered(params)
        ids, total, facets = _page_and_facets(queryset, rank, params)
        if not total and params.query.strip() and connection.vendor == "postgresql":
            queryset, rank = _filtered(params, fuzzy=True)
            ids, total, facets = _page_and_facets(queryset, rank, params)
        catalogue_cache.set_listing(key, {"ids": ids, "total": total, "facets": facets})
    else:
        ids, total, facets = cached["ids"], cached["total"], cached["facets"]
    fresh = with_listing_annotations(visible_plugins()).filter(pk__in=ids) if ids else []
    rows = {plugin.pk: plugin for plugin in fresh}
    # A plugin yanked since a cached entry was made drops out rather than showing.
    return SearchResult(plugins=[rows[pk] for pk in ids if pk in rows], total=total, facets=facets)


# --- home and details -----------------------------------------------------------------------------------------------


def home_sections(*, per_section: int = 8) -> dict:
    """Featured, popular and new plugins, and the category counts. Which plugins each section shows, and the counts,
    are cached like a search listing (one query per section and one for the counts when they are not); the rows
    themselves are read fresh, in one query."""
    key = catalogue_cache.home_key(per_section)
    cached = catalogue_cache.get_listing(key)
    if cached is None:
        listed = visible_plugins()
        orderings = {
            "featured": (listed.filter(featured=True), ("-downloads", "id")),
            "popular": (listed, ("-downloads", "-rating_average", "id")),
            "newest": (listed, (F("published_at").desc(nulls_last=True), "-created_at", "id")),
        }
        cached = {
            section: list(queryset.order_by(*ordering).values_list("pk", flat=True)[:per_section])
            for section, (queryset, ordering) in orderings.items()
        }
        cached["counts"] = dict(listed.order_by().values_list("category").annotate(n=Count("pk")))
        catalogue_cache.set_listing(key, cached)
    wanted = {pk for section in HOME_SECTIONS for pk in cached[section]}
    rows = {plugin.pk: plugin for plugin in with_listing_annotations(visible_plugins()).filter(pk__in=wanted)}
    # A plugin yanked since the entry was cached drops out rather than showing.
    sections = {section: [rows[pk] for pk in cached[section] if pk in rows] for section in HOME_SECTIONS}
    return {
        **sections,
        "categories": [
            {"value": value, "label": label, "count": cached["counts"].get(value, 0)}
            for value, label in Category.choices
        ],
    }


HOME_SECTIONS = ("featured", "popular", "newest")


def listings_warm() -> None:
    """Compute and cache the most visited listings: the home page's sections and the unfiltered browse (the same
    entry serves the search page and the API's default request)."""
    home_sections()
    plugin_search(params=SearchParams())


def plugin_versions(*, plugin: Plugin) -> list[PluginVersion]:
    """The approved versions of a plugin, newest first."""
    return list(
        approved_versions().filter(plugin=plugin).order_by("-version_major", "-version_minor", "-version_patch")
    )


def runs_on(version: PluginVersion, platform_version: str | None = None) -> bool:
    key = platform_key(platform_version or settings.PLATFORM_VERSION)
    return version.min_platform_key <= key and (version.max_platform_key is None or version.max_platform_key >= key)


def latest_version(*, plugin: Plugin) -> PluginVersion | None:
    return (
        approved_versions()
        .filter(plugin=plugin)
        .order_by("-version_major", "-version_minor", "-version_patch")
        .first()
    )


def installable_version(*, plugin: Plugin, platform_version: str | None = None) -> PluginVersion | None:
    """The newest approved version that runs on this platform (or on `platform_version`)."""
    key = platform_key(platform_version or settings.PLATFORM_VERSION)
    return (
        approved_versions()
        .filter(compatible_q(key), plugin=plugin)
        .order_by("-version_major", "-version_minor", "-version_patch")
        .first()
    )


def version_permissions(version: PluginVersion | None) -> list[dict]:
    """The scopes a version asks for, with their reasons, required ones first."""
    if version is None:
        return []
    permissions = [
        {"scope": str(p.get("scope", "")), "reason": str(p.get("reason", "")), "optional": bool(p.get("optional"))}
        for p in (version.manifest or {}).get("permissions", [])
        if isinstance(p, dict) and p.get("scope")
    ]
    return sorted(permissions, key=lambda p: p["optional"])


def platform_range(version: PluginVersion | None) -> str:
    if version is None:
        return ""
    if version.max_platform_version:
        return f"{version.min_platform_version} to {version.max_platform_version}"
    return f"{version.min_platform_version} or later"


def installed_plugin_ids(*, user, plugin_ids: list[str]) -> set[str]:
    """Which of `plugin_ids` the user has installed (personally or for an organization they administer)."""
    if user is None or not user.is_authenticated or not plugin_ids:
        return set()
    return runtime_api.installed_plugin_ids(user=user) & set(plugin_ids)


def newest_installable_versions(*, plugin_ids: list[str]) -> dict[str, PluginVersion]:
    """For each plugin, its newest approved version that runs on this platform: one query for any number."""
    key = platform_key(settings.PLATFORM_VERSION)
    newest: dict[str, PluginVersion] = {}
    versions = (
        approved_versions()
        .filter(compatible_q(key), plugin_id__in=plugin_ids)
        .order_by("plugin_id", "-version_major", "-version_minor", "-version_patch")
    )
    for version in versions:
        newest.setdefault(version.plugin_id, version)
    return newest


def is_newer(candidate: PluginVersion, current: PluginVersion | None) -> bool:
    if current is None:
        return True
    return (candidate.version_major, candidate.version_minor, candidate.version_patch) > (
        current.version_major, current.version_minor, current.version_patch
    )


def personal_installed_plugin_ids(*, user) -> set[str]:
    """The plugins the user installed for themself (not for an organization)."""
    if user is None or not user.is_authenticated:
        return set()
    rows = runtime_api.installations_for_user(user=user).values_list("plugin_id", "org_id")
    return {plugin_id for plugin_id, org_id in rows if org_id is None}
