"""Search indexes for PostgreSQL: the weighted full-text document, trigram on the name, and the tags (jsonb @>).

django.contrib.postgres is installed only on PostgreSQL, so these operations run only there; SQLite searches with
a simpler ranking and needs none of them. The document expression must stay identical to
marketplace.selectors.search_vector() for the planner to use the index.
"""

from django.db import migrations

INDEXES = ("plugin_search_idx", "plugin_name_trgm_idx", "plugin_tags_idx")


def _indexes():
    from django.contrib.postgres.indexes import GinIndex, OpClass
    from django.contrib.postgres.search import SearchVector
    from django.db.models import TextField
    from django.db.models.functions import Cast

    document = (
        SearchVector("name", weight="A", config="english")
        + SearchVector(Cast("tags", output_field=TextField()), weight="B", config="english")
        + SearchVector("description", weight="C", config="english")
    )
    return [
        GinIndex(document, name="plugin_search_idx"),
        GinIndex(OpClass("name", name="gin_trgm_ops"), name="plugin_name_trgm_idx"),
        GinIndex(fields=["tags"], name="plugin_tags_idx", opclasses=["jsonb_path_ops"]),
    ]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    plugin = apps.get_model("marketplace", "Plugin")
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index in _indexes():
        schema_editor.add_index(plugin, index)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
