"""Backfill the listing columns of 0004 from each plugin's approved versions.

From now on marketplace.catalogue keeps them in step (listing_state_refresh); this computes the same state for the
rows written before. The rule is copied here (migrations must not change when the app's code does): listed when a
version is approved; the envelope of the approved versions' platform ranges; gapless when those ranges, merged, make
one interval.
"""

from itertools import groupby

from django.db import migrations

BATCH = 2000


def _state(ranges):
    ordered = sorted(ranges, key=lambda r: r[0])
    gapless, reach = True, ordered[0][1]
    for low, high in ordered[1:]:
        if reach is not None and low > reach + 1:
            gapless = False
        reach = None if reach is None or high is None else max(reach, high)
    return {"listed": True, "listed_min_platform_key": ordered[0][0], "listed_max_platform_key": reach,
            "listed_platform_gapless": gapless}


def forwards(apps, schema_editor):
    plugin_model = apps.get_model("marketplace", "Plugin")
    version_model = apps.get_model("marketplace", "PluginVersion")
    fields = ["listed", "listed_min_platform_key", "listed_max_platform_key", "listed_platform_gapless"]
    # 0004 added the columns with their defaults (unlisted): only plugins with an approved version are written, so
    # that a catalogue where most plugins are unlisted is barely rewritten. (Rewriting rows leaves dead tuples behind
    # until VACUUM: run VACUUM ANALYZE on marketplace_plugins after this migration on a large catalogue.)
    rows = (
        version_model.objects.filter(status="approved")
        .order_by("plugin_id")
        .values_list("plugin_id", "min_platform_key", "max_platform_key")
        .iterator(chunk_size=BATCH)
    )
    batch = []
    for plugin_id, group in groupby(rows, key=lambda row: row[0]):
        batch.append(plugin_model(pk=plugin_id, **_state([(low, high) for _, low, high in group])))
        if len(batch) >= BATCH:
            plugin_model.objects.bulk_update(batch, fields)
            batch = []
    if batch:
        plugin_model.objects.bulk_update(batch, fields)


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0004_listed_state")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
