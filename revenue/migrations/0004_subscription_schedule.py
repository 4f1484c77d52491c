"""Hourly: subscriptions cancelled at period end stop; local-gateway subscriptions renew."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="*", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name="Revenue: subscription periods",
        defaults={"task": "revenue.roll_subscriptions", "crontab": schedule, "interval": None, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task="revenue.roll_subscriptions").delete()


class Migration(migrations.Migration):
    dependencies = [("revenue", "0003_beat_schedule")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
