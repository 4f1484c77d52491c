"""PostgreSQL: store the weighted search document in a generated column, index it, and index approved versions.

Ranking read the document expression of 0002 row by row (to_tsvector on every matching row, and again on every
bitmap recheck); a STORED generated column computes it once per write. The column is not a model field (SQLite has
no tsvector): marketplace.selectors detects it and falls back to the expression when it is absent. The partial
index serves the "has an approved version" test that decides whether a plugin is listed.
"""

from django.db import migrations

DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, COALESCE(name, '')::text), 'A') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE(tags::text, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE(description, '')), 'C')"
)
FORWARDS = [
    "DROP INDEX IF EXISTS plugin_search_idx",
    f"ALTER TABLE marketplace_plugins ADD COLUMN IF NOT EXISTS search_document tsvector "
    f"GENERATED ALWAYS AS ({DOCUMENT}) STORED",
    "CREATE INDEX IF NOT EXISTS plugin_search_document_idx ON marketplace_plugins USING gin (search_document)",
    "CREATE INDEX IF NOT EXISTS version_approved_plugin_idx ON marketplace_pluginversion (plugin_id) "
    "WHERE status = 'approved'",
]
BACKWARDS = [
    "DROP INDEX IF EXISTS version_approved_plugin_idx",
    "DROP INDEX IF EXISTS plugin_search_document_idx",
    "ALTER TABLE marketplace_plugins DROP COLUMN IF EXISTS search_document",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARDS:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARDS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0002_search_indexes")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
