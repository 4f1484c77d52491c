"""Beat warms the home page's and the unfiltered browse's listings every 4 minutes, inside their 5-minute TTL."""

from django.db import migrations

TASK = "marketplace.warm_listings"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=240, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="Marketplace: warm the home and browse listings",
        defaults={"task": TASK, "interval": every, "crontab": None, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0007_search_entries"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
