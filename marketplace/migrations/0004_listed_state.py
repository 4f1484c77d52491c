"""The listing's denormalized state (Plugin.listed and the platform envelope of its approved versions); 0005
backfills it."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('marketplace', '0003_search_document'),
    ]

    operations = [
        migrations.AddField(
            model_name='plugin',
            name='listed',
            field=models.BooleanField(db_index=True, default=False),
        ),
        migrations.AddField(
            model_name='plugin',
            name='listed_max_platform_key',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='plugin',
            name='listed_min_platform_key',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='plugin',
            name='listed_platform_gapless',
            field=models.BooleanField(default=True),
        ),
    ]
