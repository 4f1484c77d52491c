"""Redis caches of the catalogue (search listings, facets, plugin details) and their invalidation.

Spec §Caching Strategy: plugin metadata lives 1 hour, API responses 5 minutes. Listing and facet entries are keyed
by a catalogue generation number: bumping it (on publish or yank) orphans every cached listing at once, with no
key scan; the orphans expire by their TTL.
"""

import hashlib
import json

from django.core.cache import cache

METADATA_TTL = 3600
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


def metadata_key(plugin_id: str) -> str:
    return f"plugin:metadata:{plugin_id}"


def get_listing(params: dict):
    return cache.get(listing_key(params))


def set_listing(params: dict, value) -> None:
    cache.set(listing_key(params), value, timeout=LISTING_TTL)


def get_metadata(plugin_id: str):
    return cache.get(metadata_key(plugin_id))


def set_metadata(plugin_id: str, value) -> None:
    cache.set(metadata_key(plugin_id), value, timeout=METADATA_TTL)


def invalidate_catalogue_caches(plugin_id: str | None = None) -> None:
    """Forget cached listings and facets (and the plugin's details when given). Call after a publish or a yank."""
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:
        cache.set(_GENERATION_KEY, 2, timeout=None)
    if plugin_id is not None:
        cache.delete(metadata_key(plugin_id))
