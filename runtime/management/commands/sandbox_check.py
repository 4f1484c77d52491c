"""Check that the configured sandbox backend can run plugin code here (a deploy step or a readiness probe).

    python manage.py sandbox_check

Exits non-zero with the reason when it cannot (bubblewrap missing, Docker engine unreachable, image missing or
stale, ...). For the container backend it also reaps containers left by crashed processes of this host.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runtime.sandbox.base import SandboxUnavailable
from runtime.sandbox.pool import get_backend


class Command(BaseCommand):
    help = "Check the sandbox backend (SANDBOX_BACKEND) and report what it runs on."

    def handle(self, *args, **options):
        try:
            backend = get_backend()
        except SandboxUnavailable as exc:
            raise CommandError(f"sandbox unavailable ({settings.SANDBOX_BACKEND}): {exc.message}") from None
        detail = ""
        if backend.name == "docker":
            detail = f" on {backend.base_url}, image {backend.image}, {len(backend._ours(running_only=True))} running"
        self.stdout.write(f"sandbox ok: {backend.name}{detail}")
