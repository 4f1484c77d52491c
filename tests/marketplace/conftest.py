"""Marketplace test set-up: the test database is built from the models (--nomigrations), so the PostgreSQL
search extension and indexes of marketplace migration 0002 are added here as the migration would."""

import importlib

import pytest


@pytest.fixture(scope="session", autouse=True)
def _search_indexes(django_db_setup, django_db_blocker):
    from django.apps import apps
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    migration = importlib.import_module("marketplace.migrations.0002_search_indexes")
    with django_db_blocker.unblock(), connection.schema_editor() as editor:
        editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name in migration.INDEXES:
            editor.execute(f"DROP INDEX IF EXISTS {name}")
        migration.forwards(apps, editor)
    # The extension check is made once per process; make it now so that query counts are the steady state.
    from marketplace import selectors

    selectors._has_trigram.cache_clear()
    with django_db_blocker.unblock():
        assert selectors._has_trigram(connection.settings_dict["NAME"])
