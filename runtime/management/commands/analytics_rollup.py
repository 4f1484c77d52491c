"""`python manage.py analytics_rollup [--day YYYY-MM-DD]`: the beat task's roll-up by hand (catch-up, or one day)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from runtime.analytics import rollup


class Command(BaseCommand):
    help = "Roll plugin usage up into daily figures: every missing day (default) or one day again."

    def add_arguments(self, parser):
        parser.add_argument("--day", help="recompute this day (YYYY-MM-DD, UTC) only")

    def handle(self, *args, day=None, **options):
        if day:
            try:
                when = dt.date.fromisoformat(day)
            except ValueError:
                raise CommandError(f"--day must be YYYY-MM-DD, not {day!r}") from None
            rows = rollup.rollup_day(day=when)
            self.stdout.write(f"{when}: {rows} rows")
            return
        days = rollup.rollup_catch_up()
        self.stdout.write(f"rolled up {len(days)} day(s)" + (f": {days[0]} … {days[-1]}" if days else ""))
