"""Redis cache of the catalogue's search listings and facets, and its invalidation.

Spec §Caching Strategy: API responses live 5 minutes. A listing entry holds a page's ids, the total and the facets;
the rows are always read fresh. Entries are keyed by a catalogue generation number: bumping it (on publish or yank)
orphans every cached listing at once, with no key scan; the orphans expire by their TTL. The home page's sections and
the unfiltered browse (which rank or count the whole catalogue: ~200 ms at 100,000 plugins) are warmed again a few
seconds after each change and every 4 minutes by beat (`marketplace.warm_listings`), so they never expire in use.
Plugin details are not cached: the detail page reads its listing row and versions in two indexed queries.
"""

import hashlib
import json
import logging

from django.core.cache import cache

LISTING_TTL = 300

logger = logging.getLogger(__name__)

_GENERATION_KEY = "marketplace:catalogue:generation"
_WARM_PENDING_KEY = "marketplace:catalogue:warm-pending"
WARM_DELAY = 5


def _generation() -> int:
    generation = cache.get(_GENERATION_KEY)
    if generation is None:
        # add() so two processes starting at once agree on the first number.
        cache.add(_GENERATION_KEY, 1, timeout=None)
        generation = cache.get(_GENERATION_KEY, 1)
    return generation


def listing_key(params: dict) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"marketplace:listing:{_generation()}:{digest}"


def home_key(per_section: int) -> str:
    return f"marketplace:home:{_generation()}:{per_section}"


def get_listing(key: str):
    return cache.get(key)


def set_listing(key: str, value) -> None:
    """Store under the key read BEFORE the search ran: if the catalogue changed meanwhile, the entry is orphaned."""
    cache.set(key, value, timeout=LISTING_TTL)


def invalidate_catalogue_caches(plugin_id: str | None = None) -> None:
    """Forget every cached listing and facet count. Call after a publish or a yank (the catalogue does).

    `plugin_id` names the plugin that changed; any change can move any listing, so all of them go.
    """
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:  # the counter was never set or was evicted: any new value orphans what was cached
        cache.set(_GENERATION_KEY, 2, timeout=None)
    warm_soon()


def warm_soon() -> None:
    """Queue one warm-up of the most visited listings (home, the unfiltered browse) a few seconds from now, so that
    no visitor pays for recomputing them over the whole catalogue. The changes of the next few seconds (a burst of
    ratings) queue nothing more: the warm-up, which runs after them, sees them."""
    from marketplace import tasks  # at call time: the task reads through the selectors, which use this module

    if tasks.warm_listings.app.conf.task_always_eager:
        return  # the embedded default: warming inline would only move the cost to the request that made the change
    if not cache.add(_WARM_PENDING_KEY, 1, timeout=WARM_DELAY):
        return
    try:
        tasks.warm_listings.apply_async(countdown=WARM_DELAY)
    except Exception:  # noqa: BLE001 - a warm-up is an optimisation: it must never fail the change that asked for it
        logger.exception("could not queue the marketplace listings' warm-up")
