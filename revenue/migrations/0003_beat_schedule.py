"""The monthly payout run and its companions on django-celery-beat's database schedule."""

from django.db import migrations


def create_schedules(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    wanted = [
        ("Revenue: monthly payouts", "revenue.run_payouts", ("0", "6", "1")),
        ("Revenue: monthly usage invoices", "revenue.invoice_usage", ("0", "1", "1")),
        ("Revenue: payout retries", "revenue.retry_payouts", ("15", "*", "*")),
    ]
    for name, task, (minute, hour, day) in wanted:
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day, month_of_year="*", day_of_week="*", timezone="UTC"
        )
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "crontab": schedule, "interval": None, "enabled": True}
        )


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=["revenue.run_payouts", "revenue.invoice_usage",
                                          "revenue.retry_payouts"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("revenue", "0002_localgatewayrecord_revenueentry_reverses_payout_and_more"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
