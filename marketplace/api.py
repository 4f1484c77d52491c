"""The marketplace app's public surface: the only module of it that other apps may import."""

# Catalogue caches (listings, facets, plugin details), forgotten on publish and yank (issue 6).
from marketplace.cache import invalidate_catalogue_caches  # noqa: F401

# The catalogue's write services, used by the publishing pipeline (issue 5): register an id, create a version,
# move it through the pipeline, publish on approval, yank, edit the listing, feature it. listing_state_refresh
# recomputes a plugin's `listed` columns from its approved versions, and its search entry from its row (for code that
# writes plugins or versions directly: seeding).
from marketplace.catalogue import (  # noqa: E402,F401
    LISTING_FIELDS,
    listing_state_refresh,
    plugin_featured_set,
    plugin_get,
    plugin_identities,
    plugin_listing_update,
    plugin_register,
    plugin_version_check_newer,
    plugin_version_create,
    plugin_version_get,
    plugin_version_previous_approved,
    plugin_version_publish,
    plugin_version_set_quality,
    plugin_version_set_status,
    plugin_version_sha256_exists,
    plugin_version_statuses,
    plugin_version_yank,
    plugin_versions_of,
    plugins_of_developer,
    plugins_verified_set,
)

# The ratings aggregate, written by the reviews app under the plugin's row lock (issue 7).
from marketplace.ratings import (  # noqa: E402,F401
    plugin_get_reviewable,
    plugin_lock_for_ratings,
    plugin_ratings_set,
)
