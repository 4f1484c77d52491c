"""Marketplace test set-up: the test database is built from the models (--nomigrations), so the PostgreSQL
extension and search indexes of migration 0007 (on the search entries) are added here as that migration adds them.
The entries' tsvector document is a model field: it needs nothing here."""

import importlib

import pytest


@pytest.fixture(scope="session", autouse=True)
def _search_indexes(django_db_setup, django_db_blocker):
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    search_entries = importlib.import_module("marketplace.migrations.0007_search_entries")
    with django_db_blocker.unblock(), connection.schema_editor() as editor:
        search_entries.create_indexes(editor)
    # The extension check is made once per process; make it now so that query counts are the steady state.
    from marketplace import selectors

    selectors._trigram_installed.cache_clear()
    with django_db_blocker.unblock():
        assert selectors._trigram_installed(connection.settings_dict["NAME"]) is True
