"""Settings for the test suite: the real settings, with a fast password hasher.

Tests build their database from the models (`--nomigrations` in pyproject.toml): dj-stripe's 520-operation
migration costs ~80 s per fresh database. CI runs `makemigrations --check` and the full `migrate` on PostgreSQL as
steps of their own, so the migrations are exercised once per run.
"""

from aisquare_plugins.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
