"""The ratings aggregate of a listing (Plugin.ratings, rating_average, rating_count), written only by the reviews app.

The reviews app owns the reviews and computes the figures; this module owns the Plugin row. Writers call
`plugin_lock_for_ratings` first, inside their transaction: the row lock serialises every review write of one
plugin, so a recompute that follows it sees every committed review and no two writers overwrite each other.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from aisquare_plugins.exceptions import NotFound
from marketplace.cache import invalidate_catalogue_caches
from marketplace.catalogue import search_entries_refresh
from marketplace.models import Plugin


def plugin_get_reviewable(*, plugin_id: str) -> Plugin:
    """A listed (published) plugin whose reviews may be read and written; NotFound for a missing or unlisted one."""
    plugin = Plugin.objects.select_related("developer").filter(pk=plugin_id, published_at__isnull=False).first()
    if plugin is None:
        raise NotFound(f"There is no plugin {plugin_id!r}.")
    return plugin


def plugin_lock_for_ratings(*, plugin_id: str) -> Plugin:
    """Lock the listing row until the caller's transaction ends. Must run inside `transaction.atomic`."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("plugin_lock_for_ratings must run inside transaction.atomic")
    try:
        return Plugin.objects.select_for_update(of=("self",)).get(pk=plugin_id)
    except Plugin.DoesNotExist:
        raise NotFound(f"There is no plugin {plugin_id!r}.")


@transaction.atomic
def plugin_ratings_set(*, plugin_id: str, ratings: dict, average: Decimal, count: int) -> None:
    """Store the aggregate the reviews app recomputed while holding `plugin_lock_for_ratings`."""
    average = Decimal(average).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if count < 0 or not Decimal(0) <= average <= Decimal(5):
        raise ValueError(f"impossible rating aggregate: average={average} count={count}")
    plugin = Plugin.objects.select_for_update(of=("self",)).get(pk=plugin_id)
    plugin.ratings = ratings
    plugin.rating_average = average
    plugin.rating_count = count
    plugin.save(update_fields=["ratings", "rating_average", "rating_count", "updated_at"])
    search_entries_refresh(plugin_ids=[plugin_id])
    transaction.on_commit(lambda: invalidate_catalogue_caches(plugin_id=plugin_id))
