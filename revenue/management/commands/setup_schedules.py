"""`python manage.py setup_schedules`: make sure the revenue beat schedule exists (also done by a migration)."""

from django.core.management.base import BaseCommand

from revenue import services


class Command(BaseCommand):
    help = "Create or update the django-celery-beat rows of the revenue tasks (monthly payouts, usage invoices)."

    def handle(self, *args, **options):
        for task in services.schedules_setup():
            self.stdout.write(f"{task.name}: {task.task} at {task.crontab}")
