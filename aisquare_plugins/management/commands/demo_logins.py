"""`python manage.py demo_logins`: print the demo sign-in for each role."""

from django.core.management.base import BaseCommand

from aisquare_plugins import demo


class Command(BaseCommand):
    help = "Print the demo logins created by seed_demo."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the demo is served")

    def handle(self, *args, **options):
        self.stdout.write(
            f"\nAI Square Plugins demo is at {options['url']}\n"
            f"  user (learner):      learner / {demo.DEMO_PASSWORD}\n"
            f"  organization admin:  orgadmin / {demo.DEMO_PASSWORD}\n"
            f"  developer:           dev-labs / {demo.DEMO_PASSWORD}   → /developer/\n"
            f"  reviewer (staff):    reviewer / {demo.DEMO_PASSWORD}   → /admin/ (review console)\n"
        )
