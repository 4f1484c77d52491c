"""The marketplace app's public surface: the only module of it that other apps may import."""

# Catalogue caches (listings, facets, plugin details), forgotten on publish and yank (issue 6).
from marketplace.cache import invalidate_catalogue_caches  # noqa: F401

# The ratings aggregate, written by the reviews app under the plugin's row lock (issue 7).
from marketplace.ratings import (  # noqa: E402,F401
    plugin_get_reviewable,
    plugin_lock_for_ratings,
    plugin_ratings_set,
)
