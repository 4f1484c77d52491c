"""The catalogue's write services: the only code that creates or changes Plugin and PluginVersion rows.

The publishing pipeline (developers app) calls them through marketplace.api: register a plugin id to the developer who
first uploads it, create a version, move it through the pipeline's states, publish it on approval, yank it, edit the
listing, feature it. Each one is atomic, validates the rows and queues its side effects on commit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.postgres.search import SearchVectorField
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.utils import timezone

from aisquare_plugin_sdk.manifest import Version
from aisquare_plugins.exceptions import Conflict, Forbidden, NotFound, ServiceError
from marketplace.cache import invalidate_catalogue_caches
from marketplace.models import Plugin, PluginVersion, SearchEntry

logger = logging.getLogger(__name__)

# Listing fields that a developer may edit without uploading a new version.
LISTING_FIELDS = ("description", "tags", "documentation_url", "support_url", "screenshots")
# Manifest key -> Plugin column, copied into the listing when a version is published.
_MANIFEST_LISTING = {
    "name": "name",
    "description": "description",
    "author": "author",
    "category": "category",
    "tags": "tags",
    "screenshots": "screenshots",
    "icon": "icon",
    "documentationUrl": "documentation_url",
    "supportUrl": "support_url",
}


def _invalidate_caches(plugin_id: str) -> None:
    invalidate_catalogue_caches(plugin_id=plugin_id)
    if plugin_id is not None:  # the runtime's cached metadata and code of the plugin (issue 4, §Caching Strategy)
        import runtime.api as runtime_api  # at call time: runtime.api imports the catalogue's models

        runtime_api.plugin_caches_invalidate(plugin_id=plugin_id)


def _pricing_columns(pricing: dict[str, Any]) -> dict[str, Any]:
    model = pricing.get("model", "free")
    if model == "free":
        return {"pricing_model": "free", "price": Decimal("0"), "currency": pricing.get("currency", "USD")}
    price = pricing.get("price")
    if price is None and pricing.get("tiers"):
        price = pricing["tiers"][0].get("unit_price") or "0"
    return {"pricing_model": model, "price": Decimal(str(price or "0")), "currency": pricing.get("currency", "USD")}



# --- the listing's denormalized state ----------------------------------------------------------------------------

LISTING_STATE_FIELDS = ("listed", "listed_min_platform_key", "listed_max_platform_key", "listed_platform_gapless")


def listing_state(ranges: list[tuple[int, int | None]]) -> dict[str, Any]:
    """The listing columns for a plugin whose approved versions have these (min, max) platform key ranges (max None:
    no upper bound). Gapless when the ranges, merged, make one interval: no platform key between the smallest min and
    the largest max is left out (keys are integers, so [a, b] and [b + 1, c] leave no gap)."""
    if not ranges:
        return {"listed": False, "listed_min_platform_key": None, "listed_max_platform_key": None,
                "listed_platform_gapless": True}
    ordered = sorted(ranges, key=lambda r: r[0])
    gapless = True
    reach = ordered[0][1]  # the largest max merged so far (None: unbounded)
    for low, high in ordered[1:]:
        if reach is not None and low > reach + 1:
            gapless = False
        reach = None if reach is None or high is None else max(reach, high)
    return {"listed": True, "listed_min_platform_key": ordered[0][0], "listed_max_platform_key": reach,
            "listed_platform_gapless": gapless}


def listing_state_refresh(*, plugin: Plugin) -> Plugin:
    """Recompute the plugin's listing columns from its approved versions and write them (only those columns).

    Called by every service that changes a version's status, inside its transaction and under the plugin's row lock,
    so the columns are never out of step with the versions. `plugin` (the caller's instance) is updated too, and
    the plugin's search entry follows. Safe on its own as well (it takes the plugin's row lock): it only ever
    recomputes from the versions and the plugin row.
    """
    with transaction.atomic():
        Plugin.objects.select_for_update().filter(pk=plugin.pk).values_list("pk", flat=True).first()
        _listing_state_write(plugin)
        search_entries_refresh(plugin_ids=[plugin.pk])
        return plugin


def _listing_state_write(plugin: Plugin) -> Plugin:
    ranges = list(
        PluginVersion.objects.filter(plugin_id=plugin.pk, status=PluginVersion.Status.APPROVED).values_list(
            "min_platform_key", "max_platform_key"
        )
    )
    state = listing_state(ranges)
    if any(getattr(plugin, name) != value for name, value in state.items()):
        Plugin.objects.filter(pk=plugin.pk).update(**state)
        for name, value in state.items():
            setattr(plugin, name, value)
    return plugin


# --- the search's rows -----------------------------------------------------------------------------------------------

# The text search configuration of the document (marketplace.selectors queries with the same one).
SEARCH_CONFIG = "english"
# Plugin columns copied as they are into its search entry.
_SEARCH_COPIED = ("name", "category", "pricing_model", "price", "rating_average", "rating_count", "downloads",
                  "verified", "featured", "published_at", "created_at")
_SEARCH_BATCH = 2000


def search_static_boost(*, rating_average: Decimal | float, downloads: int, verified: bool) -> float:
    """The part of relevance that depends on neither the query nor the clock (Open VSX's blend): (1 + 0.4 x rating/5
    + 0.4 x popularity) x (1 verified, 0.5 not), popularity being ln(downloads + 1) / ln(1,000,001) capped at 1.
    At query time marketplace.selectors adds 0.2 x recency x the same verification factor, and multiplies by the
    text rank."""
    popularity = min(math.log(downloads + 1) / math.log(1_000_001), 1.0)
    return (1.0 + 0.4 * float(rating_average) / 5.0 + 0.4 * popularity) * (1.0 if verified else 0.5)


def search_rating_bucket(*, rating_average: Decimal | float, rating_count: int) -> str:
    """The rating facet's bucket: disjoint, so that the facet adds up to the total (marketplace.selectors)."""
    if rating_count == 0:
        return "unrated"
    for floor, bucket in ((4, "4-5"), (3, "3-4"), (2, "2-3")):
        if rating_average >= floor:
            return bucket
    return "1-2"


def search_filter_tokens(*, category: str, pricing_model: str, verified: bool, featured: bool) -> list[str]:
    """The filter tokens of an entry's document (PostgreSQL): the GIN index that finds the words then also applies
    the category, pricing, verified and featured filters, so a broad query with a filter reads only the rows that
    pass it. No text the parser makes can start with "~", so no query word ever matches them, and ts_rank, which
    scores the query's words only, ignores them."""
    tokens = [f"~category={category}", f"~pricing={pricing_model}", "~verified" if verified else "~unverified"]
    return [*tokens, "~featured"] if featured else tokens


# The weighted document (name A, tags B, description C) and the filter tokens (array_to_tsvector: lexemes as they
# are, not parsed or stemmed). Migration 0007 writes the same from SQL.
_DOCUMENT_SQL = (
    "setweight(to_tsvector(%s::regconfig, %s), 'A') || setweight(to_tsvector(%s::regconfig, %s), 'B') || "
    "setweight(to_tsvector(%s::regconfig, %s), 'C') || array_to_tsvector(%s::text[])"
)


def _search_document(row: dict):
    """The entry's document, computed by the database as the row is written (PostgreSQL; None elsewhere)."""
    if connection.vendor != "postgresql":
        return None
    tags = row["tags"]
    words = " ".join(str(tag) for tag in tags) if isinstance(tags, list) else ""
    tokens = search_filter_tokens(category=row["category"], pricing_model=row["pricing_model"],
                                  verified=row["verified"], featured=row["featured"])
    values = [SEARCH_CONFIG, row["name"] or "", SEARCH_CONFIG, words, SEARCH_CONFIG, row["description"] or "", tokens]
    # A constant statement; every value is bound.
    return RawSQL(_DOCUMENT_SQL, values, output_field=SearchVectorField())  # noqa: S611


def search_entries_refresh(*, plugin_ids: Iterable[str]) -> None:
    """Rewrite the search entries of these plugins from their rows: one per listed plugin, none for the others.

    Every service that changes a column the entry copies calls it inside its transaction, after its own writes and
    under the plugin's row lock, so that search never disagrees with the listing. Three statements per batch of
    plugins (read, drop the unlisted, upsert the listed).
    """
    ids = list(dict.fromkeys(plugin_ids))
    update_fields = [field.name for field in SearchEntry._meta.concrete_fields if not field.primary_key]
    for start in range(0, len(ids), _SEARCH_BATCH):
        batch = ids[start:start + _SEARCH_BATCH]
        rows = list(
            Plugin.objects.filter(pk__in=batch, listed=True).values(
                "id", *_SEARCH_COPIED, "tags", "description", "listed_min_platform_key", "listed_max_platform_key",
                "listed_platform_gapless",
            )
        )
        listed_ids = [row["id"] for row in rows]
        SearchEntry.objects.filter(plugin_id__in=batch).exclude(plugin_id__in=listed_ids).delete()
        if not rows:
            continue
        entries = []
        for row in rows:
            since = row["published_at"] or row["created_at"]
            entries.append(SearchEntry(
                plugin_id=row["id"],
                document=_search_document(row),
                **{name: row[name] for name in _SEARCH_COPIED},
                tags=[str(tag) for tag in row["tags"]] if isinstance(row["tags"], list) else [],
                rating_bucket=search_rating_bucket(rating_average=row["rating_average"],
                                                   rating_count=row["rating_count"]),
                published_epoch=since.timestamp(),
                static_boost=search_static_boost(rating_average=row["rating_average"], downloads=row["downloads"],
                                                 verified=row["verified"]),
                min_platform_key=row["listed_min_platform_key"],
                max_platform_key=row["listed_max_platform_key"],
                platform_gapless=row["listed_platform_gapless"],
            ))
        SearchEntry.objects.bulk_create(
            entries, update_conflicts=True, unique_fields=["plugin"], update_fields=update_fields
        )


def plugin_register(*, plugin_id: str, developer, manifest: dict[str, Any]) -> Plugin:
    """Return the plugin `plugin_id`, locked for this transaction, creating it for `developer` on first upload.

    A plugin id belongs to the developer who first uploaded it: anyone else is refused.
    """
    with transaction.atomic():
        plugin = Plugin.objects.select_for_update().filter(pk=plugin_id).first()
        if plugin is None:
            plugin = Plugin(
                id=plugin_id,
                developer=developer,
                name=manifest["name"],
                description=manifest.get("description", ""),
                author=manifest.get("author", {}),
                category=manifest["category"],
                tags=manifest.get("tags", []),
                pricing=manifest.get("pricing", {"model": "free"}),
                screenshots=[s for s in manifest.get("screenshots", []) if s.startswith("https://")],
                documentation_url=manifest.get("documentationUrl", ""),
                support_url=manifest.get("supportUrl", ""),
                verified=bool(getattr(developer, "verified", False)),
                **_pricing_columns(manifest.get("pricing", {"model": "free"})),
            )
            plugin.full_clean()
            try:
                with transaction.atomic():
                    plugin.save(force_insert=True)
            except IntegrityError:
                # Another upload registered the same id a moment ago: it is theirs now.
                plugin = Plugin.objects.select_for_update().get(pk=plugin_id)
        if plugin.developer_id != developer.pk:
            raise Forbidden(
                f"The plugin id {plugin_id!r} belongs to another developer. Choose another id in plugin.json.",
                code="plugin_id_taken",
            )
        return plugin


def plugin_version_check_newer(*, plugin: Plugin, version: str) -> None:
    """Refuse a version that is not greater than every version uploaded before (whatever their status)."""
    new = Version.parse(version)
    for existing in PluginVersion.objects.filter(plugin=plugin).values_list("version", flat=True):
        if not Version.parse(existing) < new:
            raise Conflict(
                f"Version {version} is not greater than the already uploaded version {existing}: "
                "increase the version in plugin.json.",
                code="version_not_greater",
            )


def plugin_version_create(
    *,
    plugin: Plugin,
    manifest: dict[str, Any],
    data: bytes,
    sha256: str,
    uploaded_by,
    changelog: str = "",
) -> PluginVersion:
    """Store an uploaded package as a new version of `plugin` in the `uploaded` state."""
    with transaction.atomic():
        Plugin.objects.select_for_update().filter(pk=plugin.pk).first()
        plugin_version_check_newer(plugin=plugin, version=manifest["version"])
        if PluginVersion.objects.filter(sha256=sha256).exists():
            raise Conflict("This exact package was already uploaded.", code="duplicate_package")
        parsed = Version.parse(manifest["version"])
        min_version = manifest["minPlatformVersion"]
        max_version = manifest.get("maxPlatformVersion") or ""
        version = PluginVersion(
            plugin=plugin,
            version=manifest["version"],
            version_major=parsed.major,
            version_minor=parsed.minor,
            version_patch=parsed.patch,
            sha256=sha256,
            size=len(data),
            manifest=manifest,
            status=PluginVersion.Status.UPLOADED,
            changelog=changelog or manifest.get("changelog", ""),
            min_platform_version=min_version,
            max_platform_version=max_version,
            min_platform_key=Version.parse(min_version).as_int(),
            max_platform_key=Version.parse(max_version).as_int() if max_version else None,
            uploaded_by=uploaded_by,
        )
        # The file is written before the row; if the row is refused, the file goes too. A caller whose own
        # transaction fails later deletes it the same way (developers.services.submission_upload).
        version.package.save(f"{plugin.pk}-{manifest['version']}.zip", ContentFile(data), save=False)
        try:
            version.full_clean()
            with transaction.atomic():
                version.save(force_insert=True)
        except IntegrityError:
            # A concurrent upload of the same package (sha256) won the race.
            version.package.delete(save=False)
            raise Conflict("This exact package was already uploaded.", code="duplicate_package") from None
        except Exception:
            version.package.delete(save=False)
            raise
        return version


def plugin_version_set_status(
    *, version: PluginVersion, status: str, allowed_from: tuple[str, ...] | None = None
) -> PluginVersion:
    """Move a version to `status` under a row lock; refuse when it is not in one of `allowed_from`."""
    with transaction.atomic():
        locked = PluginVersion.objects.select_for_update().get(pk=version.pk)
        if allowed_from is not None and locked.status not in allowed_from:
            raise Conflict(
                f"Version {locked.version} is {locked.get_status_display().lower()}; it cannot become {status}.",
                code="invalid_status",
            )
        approved = PluginVersion.Status.APPROVED
        if approved in (locked.status, status) and locked.status != status:
            # Approving or withdrawing a version here changes whether (and where) the plugin is listed.
            plugin = Plugin.objects.select_for_update().get(pk=locked.plugin_id)
        else:
            plugin = None
        locked.status = status
        locked.full_clean()
        locked.save(update_fields=["status", "updated_at"])
        if plugin is not None:
            listing_state_refresh(plugin=plugin)
            plugin_id = plugin.pk
            transaction.on_commit(lambda: _invalidate_caches(plugin_id))
        version.status = status
        return locked


def plugin_version_set_quality(*, version: PluginVersion, score: int) -> PluginVersion:
    with transaction.atomic():
        PluginVersion.objects.filter(pk=version.pk).update(quality_score=score, updated_at=timezone.now())
        version.quality_score = score
        return version


def plugin_version_publish(*, version: PluginVersion) -> PluginVersion:
    """Approve a version that passed its scan: it becomes installable and, if newest, the listing's version.

    The listing takes its name, description, category, tags, pricing, icon, screenshots and URLs from the manifest.
    Paid plugins get their prices set up (revenue.api.pricing_setup); catalogue caches are invalidated on commit.
    """
    with transaction.atomic():
        locked = PluginVersion.objects.select_for_update().select_related("plugin").get(pk=version.pk)
        if locked.status != PluginVersion.Status.PASSED:
            raise Conflict(
                f"Only a version that passed its scan can be published; {locked.version} is "
                f"{locked.get_status_display().lower()}.",
                code="invalid_status",
            )
        plugin = Plugin.objects.select_for_update().get(pk=locked.plugin_id)
        now = timezone.now()
        locked.status = PluginVersion.Status.APPROVED
        locked.published_at = now
        locked.full_clean()
        locked.save(update_fields=["status", "published_at", "updated_at"])

        _listing_state_write(plugin)  # the plugin's row lock is held (above)
        newest = _newest_approved(plugin)
        if newest is not None and newest.pk == locked.pk:
            _fill_listing(plugin, locked)
            plugin.version = locked.version
            if plugin.published_at is None:
                plugin.published_at = now
            plugin.full_clean()
            plugin.save()
            if plugin.pricing_model != "free":
                from revenue import api as revenue_api  # at call time: revenue's selectors use marketplace.api

                revenue_api.pricing_setup(plugin=plugin)
        search_entries_refresh(plugin_ids=[plugin.pk])
        plugin_id = plugin.pk
        transaction.on_commit(lambda: _invalidate_caches(plugin_id))
        version.status = locked.status
        version.published_at = locked.published_at
        return locked


def _newest_approved(plugin: Plugin) -> PluginVersion | None:
    approved = list(PluginVersion.objects.filter(plugin=plugin, status=PluginVersion.Status.APPROVED))
    return max(approved, key=lambda v: Version.parse(v.version).key(), default=None)


def _fill_listing(plugin: Plugin, version: PluginVersion) -> None:
    manifest = version.manifest or {}
    for key, column in _MANIFEST_LISTING.items():
        if key in manifest:
            value = manifest[key]
            if column == "screenshots":
                value = [s for s in value if isinstance(s, str) and s.startswith("https://")]
            if column == "icon":
                # Icons inside the package are served by the marketplace from the package; keep their path.
                value = value or ""
            setattr(plugin, column, value)
    pricing = manifest.get("pricing") or {"model": "free"}
    plugin.pricing = pricing
    for column, value in _pricing_columns(pricing).items():
        setattr(plugin, column, value)


def plugin_version_yank(*, version: PluginVersion, reason: str) -> PluginVersion:
    """Withdraw a published version: it can no longer be installed. The listing falls back to the newest approved
    version left, or is unpublished when none is left."""
    if not reason or not reason.strip():
        raise ServiceError("A reason is required to yank a version.", code="reason_required")
    with transaction.atomic():
        locked = PluginVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status != PluginVersion.Status.APPROVED:
            raise Conflict(f"Only a published version can be yanked; {locked.version} is not.", code="invalid_status")
        plugin = Plugin.objects.select_for_update().get(pk=locked.plugin_id)
        locked.status = PluginVersion.Status.YANKED
        locked.yanked_at = timezone.now()
        locked.yank_reason = reason.strip()
        locked.full_clean()
        locked.save(update_fields=["status", "yanked_at", "yank_reason", "updated_at"])
        _listing_state_write(plugin)  # the last approved version yanked: unlisted
        if plugin.version == locked.version:
            newest = _newest_approved(plugin)
            if newest is None:
                plugin.version = ""
                plugin.published_at = None
            else:
                _fill_listing(plugin, newest)
                plugin.version = newest.version
            plugin.full_clean()
            plugin.save()
        search_entries_refresh(plugin_ids=[plugin.pk])
        plugin_id = plugin.pk
        transaction.on_commit(lambda: _invalidate_caches(plugin_id))
        version.status = locked.status
        return locked


def plugin_listing_update(*, plugin: Plugin, changes: dict[str, Any]) -> Plugin:
    """Edit the listing fields a developer controls between versions (see LISTING_FIELDS)."""
    unknown = sorted(set(changes) - set(LISTING_FIELDS))
    if unknown:
        raise ServiceError(
            f"These fields cannot be edited here: {', '.join(unknown)}. Upload a new version to change them.",
            code="invalid_fields",
        )
    with transaction.atomic():
        locked = Plugin.objects.select_for_update().get(pk=plugin.pk)
        if "tags" in changes and (
            not isinstance(changes["tags"], list) or not all(isinstance(t, str) for t in changes["tags"])
        ):
            raise ServiceError("tags: a list of strings.", code="invalid", fields={"tags": ["a list of strings"]})
        if "screenshots" in changes and (
            not isinstance(changes["screenshots"], list)
            or not all(isinstance(s, str) and s.startswith("https://") for s in changes["screenshots"])
        ):
            raise ServiceError("screenshots: a list of https:// URLs.", code="invalid")
        for key, value in changes.items():
            setattr(locked, key, value)
        locked.full_clean()
        locked.save(update_fields=[*changes, "updated_at"])
        search_entries_refresh(plugin_ids=[locked.pk])
        plugin_id = locked.pk
        transaction.on_commit(lambda: _invalidate_caches(plugin_id))
        return locked


def plugin_featured_set(*, plugin: Plugin, featured: bool) -> Plugin:
    with transaction.atomic():
        locked = Plugin.objects.select_for_update().get(pk=plugin.pk)
        locked.featured = featured
        locked.save(update_fields=["featured", "updated_at"])
        search_entries_refresh(plugin_ids=[locked.pk])
        plugin_id = locked.pk
        transaction.on_commit(lambda: _invalidate_caches(plugin_id))
        return locked


def plugin_downloads_increment(*, plugin_id: str) -> None:
    """Count one download (an install from the marketplace): F() on the row, whose lock orders concurrent installs
    so that each one's search entry is written from the count it just made."""
    with transaction.atomic():
        Plugin.objects.filter(pk=plugin_id).update(downloads=F("downloads") + 1)
        search_entries_refresh(plugin_ids=[plugin_id])


def plugins_verified_set(*, developer, verified: bool) -> int:
    """Mirror a developer's verified flag onto their listings (the marketplace shows the badge per plugin)."""
    with transaction.atomic():
        plugins = Plugin.objects.filter(developer=developer)
        count = plugins.update(verified=verified, updated_at=timezone.now())
        search_entries_refresh(plugin_ids=plugins.values_list("pk", flat=True))
        transaction.on_commit(lambda: _invalidate_caches(None))
        return count


def plugin_version_get(*, version_id) -> PluginVersion:
    try:
        return PluginVersion.objects.select_related("plugin").get(pk=version_id)
    except (PluginVersion.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such plugin version.") from None


def plugin_identities(*, exclude_developer=None) -> list[tuple[str, str]]:
    """(id, name) of every listed plugin, for the publishing scan's typosquatting check."""
    plugins = Plugin.objects.all()
    if exclude_developer is not None:
        plugins = plugins.exclude(developer=exclude_developer)
    return list(plugins.values_list("id", "name"))


def plugin_get(*, plugin_id: str) -> Plugin:
    try:
        return Plugin.objects.get(pk=plugin_id)
    except Plugin.DoesNotExist:
        raise NotFound("No such plugin.") from None


def plugin_versions_of(*, plugin_ids) -> list[PluginVersion]:
    """Every version of these plugins, newest first per plugin (for the developer's own listings)."""
    return list(PluginVersion.objects.filter(plugin_id__in=list(plugin_ids)).select_related("plugin"))


def plugins_of_developer(*, developer) -> list[Plugin]:
    return list(Plugin.objects.filter(developer=developer).order_by("name"))


def plugin_version_statuses() -> type[PluginVersion.Status]:
    return PluginVersion.Status


def plugin_version_sha256_exists(*, sha256: str) -> bool:
    return PluginVersion.objects.filter(sha256=sha256).exists()


def plugin_version_previous_approved(*, version: PluginVersion) -> PluginVersion | None:
    """The newest approved (or yanked) version below `version`: what a reviewer compares against."""
    current = Version.parse(version.version)
    earlier = [
        v for v in PluginVersion.objects.filter(
            plugin_id=version.plugin_id, status__in=[PluginVersion.Status.APPROVED, PluginVersion.Status.YANKED])
        if Version.parse(v.version) < current
    ]
    return max(earlier, key=lambda v: Version.parse(v.version).key(), default=None)
