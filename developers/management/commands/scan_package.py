"""`python manage.py scan_package PATH.zip`: validation, security scan and quality score of a package file, without
storing anything. Prints a JSON report (`verdict`, `findings`, `quality`) and exits 0 when the package would pass,
1 when it would be rejected or quarantined (or the scan errored), 2 when the file cannot be read as a package."""

import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError

from developers import services
from developers.scanner import ScanContext, scan_safely
from runtime import api as runtime_api


class Command(BaseCommand):
    help = "Validate, scan and score a plugin package file; print a JSON report; exit 0 pass, 1 refused, 2 unreadable."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the package zip")
        parser.add_argument("--no-bandit", action="store_true",
                            help="skip bandit's checks (run by ruff's implementation of them; faster, for local use)")

    def handle(self, *args, **options):
        path = Path(options["path"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            return self._finish({"verdict": "unreadable", "error": {"code": "unreadable", "message": str(exc)},
                                 "findings": [], "quality": {}}, 2)
        try:
            package = runtime_api.read_package(data)
        except runtime_api.PackageError as exc:
            return self._finish({"verdict": "unreadable", "error": {
                "code": exc.code, "message": exc.message, "errors": getattr(exc, "errors", [exc.message])},
                "findings": [], "quality": {}, "sha256": None}, 2)
        warnings = []
        try:
            context = services.scan_context_for(developer=None)
        except DatabaseError as exc:
            # Usable in a plugin's own CI without the platform's database: say what could not be checked.
            context = ScanContext(quality_minimum=settings.QUALITY_MIN_SCORE,
                                  monitor_only=set(getattr(settings, "SCAN_MONITOR_ONLY_RULES", [])),
                                  timeout=float(getattr(settings, "SCAN_TIMEOUT_SECONDS", 120)))
            warnings.append(f"database not reachable ({type(exc).__name__}): typosquatting and blocklist "
                            "checks were skipped")
        context.run_bandit = not options["no_bandit"]
        if not context.run_bandit:
            warnings.append("bandit's checks (ruff) were skipped (--no-bandit)")
        result = scan_safely(package, context)
        report = {"plugin_id": package.manifest.id, "version": str(package.manifest.data["version"]),
                  "sha256": package.sha256, **result.as_dict(), "warnings": warnings}
        return self._finish(report, 0 if result.verdict == "passed" else 1)

    def _finish(self, report, code: int):
        self.stdout.write(json.dumps(report, indent=2, default=str))
        self.stdout.flush()
        sys.exit(code)
