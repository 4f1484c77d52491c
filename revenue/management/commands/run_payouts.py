"""`python manage.py run_payouts [--period YYYY-MM]`: the beat task's payout run, by hand, idempotent."""

from django.core.management.base import BaseCommand, CommandError

from aisquare_plugins.exceptions import ServiceError
from revenue import services


class Command(BaseCommand):
    help = "Create and send the developers' payouts for a month (default: last month). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--period", help="the month to pay, YYYY-MM (default: last month)")

    def handle(self, *args, period=None, **options):
        try:
            month = services.parse_period(period) if period else None
        except ServiceError as exc:
            raise CommandError(exc.message)
        counts = services.payouts_run(period=month)
        self.stdout.write(
            f"payouts created: {counts['created']}, paid: {counts['paid']}, failed: {counts['failed']}, "
            f"skipped (being sent elsewhere): {counts['skipped']}"
        )
