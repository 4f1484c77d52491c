"""Marketplace test set-up: the test database is built from the models (--nomigrations), so the PostgreSQL
search extension, indexes and stored document of marketplace migrations 0002-0003 are added here as they would be."""

import importlib

import pytest


@pytest.fixture(scope="session", autouse=True)
def _search_indexes(django_db_setup, django_db_blocker):
    from django.apps import apps
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    indexes = importlib.import_module("marketplace.migrations.0002_search_indexes")
    document = importlib.import_module("marketplace.migrations.0003_search_document")
    with django_db_blocker.unblock(), connection.schema_editor() as editor:
        editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name in indexes.INDEXES:
            editor.execute(f"DROP INDEX IF EXISTS {name}")
        indexes.forwards(apps, editor)
        document.forwards(apps, editor)
    # The extension check is made once per process; make it now so that query counts are the steady state.
    from marketplace import selectors

    selectors._search_features.cache_clear()
    with django_db_blocker.unblock():
        assert selectors._search_features(connection.settings_dict["NAME"]) == (True, True)
