"""Search reads a narrow table: one SearchEntry per listed plugin, kept by marketplace.catalogue.

The plugin rows carry descriptions, JSON documents and URLs: a broad query ("calendar": 10,000 matches ranked and
counted) read ~10,500 pages of them. The entries hold only what search filters, sorts, ranks and counts, with the
weighted document (name A, tags B, description C, plus filter tokens that let its GIN index apply the category,
pricing, verified and featured filters) and the static part of relevance precomputed. On PostgreSQL the
search indexes move from the plugin table to the entries (GIN on the document, trigram on the name, GIN on the
tags), and the plugin's generated search_document column of 0003 goes. The backfill copies the catalogue's rules
(migrations must not change when the app's code does): marketplace.catalogue.search_entries_refresh is the one
that runs from now on.

tests/marketplace/conftest.py applies INDEXES to --nomigrations test databases.
"""

import importlib
import math

import django.db.models.deletion
from django.db import migrations, models

import marketplace.models

INDEXES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS search_entry_document_idx ON marketplace_search_entries USING gin (document)",
    "CREATE INDEX IF NOT EXISTS search_entry_name_trgm_idx ON marketplace_search_entries "
    "USING gin (name gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS search_entry_tags_idx ON marketplace_search_entries USING gin (tags)",
]
PLUGIN_SEARCH_OBJECTS = [
    "DROP INDEX IF EXISTS plugin_search_document_idx",
    "DROP INDEX IF EXISTS plugin_name_trgm_idx",
    "DROP INDEX IF EXISTS plugin_tags_idx",
    "ALTER TABLE marketplace_plugins DROP COLUMN IF EXISTS search_document",
]
# PostgreSQL backfills in one statement (rows written once: no dead copy of each left behind by a second pass).
INSERT_ENTRIES = (
    "INSERT INTO marketplace_search_entries (plugin_id, document, name, category, tags, pricing_model, price, "
    "rating_average, rating_count, rating_bucket, downloads, verified, featured, published_at, created_at, "
    "published_epoch, static_boost, min_platform_key, max_platform_key, platform_gapless) "
    "SELECT p.id, "
    "setweight(to_tsvector('english'::regconfig, COALESCE(p.name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE((SELECT string_agg(t.value, ' ') "
    "FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(p.tags) = 'array' THEN p.tags ELSE '[]' END) "
    "AS t(value)), '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, COALESCE(p.description, '')), 'C') || "
    # The filter tokens (marketplace.catalogue.search_filter_tokens).
    "array_to_tsvector(ARRAY['~category=' || p.category, '~pricing=' || p.pricing_model, "
    "CASE WHEN p.verified THEN '~verified' ELSE '~unverified' END] "
    "|| CASE WHEN p.featured THEN ARRAY['~featured'] ELSE ARRAY[]::text[] END), "
    "p.name, p.category, ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(p.tags) = 'array' "
    "THEN p.tags ELSE '[]' END)), p.pricing_model, p.price, p.rating_average, p.rating_count, "
    "CASE WHEN p.rating_count = 0 THEN 'unrated' WHEN p.rating_average >= 4 THEN '4-5' "
    "WHEN p.rating_average >= 3 THEN '3-4' WHEN p.rating_average >= 2 THEN '2-3' ELSE '1-2' END, "
    "p.downloads, p.verified, p.featured, p.published_at, p.created_at, "
    "date_part('epoch', COALESCE(p.published_at, p.created_at)), "
    "(1.0 + 0.4 * p.rating_average::float8 / 5.0 "
    "+ 0.4 * LEAST(ln(p.downloads + 1.0) / ln(1000001.0), 1.0)::float8) * CASE WHEN p.verified THEN 1.0 ELSE 0.5 END, "
    "p.listed_min_platform_key, p.listed_max_platform_key, p.listed_platform_gapless "
    "FROM marketplace_plugins AS p WHERE p.listed"
)
BATCH = 2000


def create_indexes(schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in INDEXES:
            schema_editor.execute(statement)


def _bucket(average, count):
    if count == 0:
        return "unrated"
    return "4-5" if average >= 4 else "3-4" if average >= 3 else "2-3" if average >= 2 else "1-2"


def _boost(average, downloads, verified):
    popularity = min(math.log(downloads + 1) / math.log(1_000_001), 1.0)
    return (1.0 + 0.4 * float(average) / 5.0 + 0.4 * popularity) * (1.0 if verified else 0.5)


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSERT_ENTRIES)
        return
    plugin_model = apps.get_model("marketplace", "Plugin")
    entry_model = apps.get_model("marketplace", "SearchEntry")
    copied = ("name", "category", "tags", "pricing_model", "price", "rating_average", "rating_count", "downloads",
              "verified", "featured", "published_at", "created_at")
    rows = plugin_model.objects.filter(listed=True).order_by().values(
        "id", *copied, "listed_min_platform_key", "listed_max_platform_key", "listed_platform_gapless"
    )
    batch = []
    for row in rows.iterator(chunk_size=BATCH):
        batch.append(entry_model(
            plugin_id=row["id"], **{name: row[name] for name in copied},
            rating_bucket=_bucket(row["rating_average"], row["rating_count"]),
            published_epoch=(row["published_at"] or row["created_at"]).timestamp(),
            static_boost=_boost(row["rating_average"], row["downloads"], row["verified"]),
            min_platform_key=row["listed_min_platform_key"], max_platform_key=row["listed_max_platform_key"],
            platform_gapless=row["listed_platform_gapless"],
        ))
        if len(batch) >= BATCH:
            entry_model.objects.bulk_create(batch)
            batch = []
    if batch:
        entry_model.objects.bulk_create(batch)


def forwards(apps, schema_editor):
    backfill(apps, schema_editor)
    if schema_editor.connection.vendor == "postgresql":
        for statement in PLUGIN_SEARCH_OBJECTS:
            schema_editor.execute(statement)
        create_indexes(schema_editor)
        schema_editor.execute("ANALYZE marketplace_search_entries")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # The plugin table's search objects of 0002 and 0003, as they were.
        indexes = importlib.import_module("marketplace.migrations.0002_search_indexes")
        document = importlib.import_module("marketplace.migrations.0003_search_document")
        indexes.forwards(apps, schema_editor)
        document.forwards(apps, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('marketplace', '0006_listed_not_indexed'),
    ]

    operations = [
        migrations.CreateModel(
            name='SearchEntry',
            fields=[
                ('plugin', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='search_entry', serialize=False, to='marketplace.plugin')),
                ('document', marketplace.models.SearchDocumentField(blank=True, editable=False, null=True)),
                ('name', models.CharField(max_length=255)),
                ('category', models.CharField(choices=[('assessment', 'Assessment'), ('content', 'Content'), ('analytics', 'Analytics'), ('integration', 'Integration'), ('ui_theme', 'UI theme'), ('language', 'Language'), ('accessibility', 'Accessibility'), ('productivity', 'Productivity'), ('communication', 'Communication'), ('gamification', 'Gamification')], max_length=50)),
                ('tags', marketplace.models.TagListField(blank=True, default=list)),
                ('pricing_model', models.CharField(choices=[('free', 'Free'), ('one_time', 'One-time purchase'), ('subscription', 'Subscription'), ('usage_based', 'Usage-based')], max_length=20)),
                ('price', models.DecimalField(decimal_places=2, max_digits=10)),
                ('rating_average', models.DecimalField(decimal_places=2, max_digits=3)),
                ('rating_count', models.PositiveIntegerField()),
                ('rating_bucket', models.CharField(max_length=8)),
                ('downloads', models.PositiveIntegerField()),
                ('verified', models.BooleanField()),
                ('featured', models.BooleanField()),
                ('published_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField()),
                ('published_epoch', models.FloatField()),
                ('static_boost', models.FloatField()),
                ('min_platform_key', models.BigIntegerField()),
                ('max_platform_key', models.BigIntegerField(blank=True, null=True)),
                ('platform_gapless', models.BooleanField()),
            ],
            options={
                'db_table': 'marketplace_search_entries',
            },
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
