"""`python manage.py setup_analytics_schedule`: make sure the analytics roll-up's beat row exists (also a migration)."""

from django.core.management.base import BaseCommand

from runtime.analytics import rollup


class Command(BaseCommand):
    help = "Create or update the django-celery-beat row of the hourly analytics roll-up."

    def handle(self, *args, **options):
        task = rollup.analytics_schedule_setup()
        self.stdout.write(f"{task.name}: {task.task} at {task.crontab}")
