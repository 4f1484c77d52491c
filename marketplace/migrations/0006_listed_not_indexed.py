"""Plugin.listed loses its index: nearly every row is listed, and the planner ANDed its bitmap into text searches."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('marketplace', '0005_backfill_listed_state'),
    ]

    operations = [
        migrations.AlterField(
            model_name='plugin',
            name='listed',
            field=models.BooleanField(default=False),
        ),
    ]
