"""Redis cache of the catalogue's search listings and facets, and its invalidation.

Spec §Caching Strategy: API responses live 5 minutes. A listing entry holds a page's ids, the total and the facets;
the rows are always read fresh. Entries are keyed by a catalogue generation number: bumping it (on publish or yank)
orphans every cached listing at once, with no key scan; the orphans expire by their TTL. Plugin details are not
cached: the detail page reads its listing row and versions in two indexed queries.
"""

import hashlib
import json

from django.core.cache import cache

LISTING_TTL = 300

_GENERATION_KEY = "marketplace:catalogue:generation"


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
