"""The marketplace app's public surface: the only module of it that other apps may import."""

# The ratings aggregate, written by the reviews app under the plugin's row lock (issue 7).
from marketplace.ratings import (  # noqa: E402,F401
    plugin_get_reviewable,
    plugin_lock_for_ratings,
    plugin_ratings_set,
)
