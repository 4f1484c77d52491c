"""A throwaway PostgreSQL database for a benchmark, with Django set up on it (tables built from the models)."""

import os
import sys
from urllib.parse import urlsplit, urlunsplit


def database(name: str, *, script: str, fresh: bool = False) -> str:
    """The URL of benchmark database `name` next to DATABASE_URL's (only the benchmark uses it): created if missing,
    or dropped and created anew when `fresh`."""
    import psycopg

    parts = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/aisquare")
    if not parts.scheme.startswith("postgres"):
        sys.exit(f"{script} needs PostgreSQL: set DATABASE_URL=postgres://...")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if fresh or not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup_django(url: str) -> None:
    """Point Django at `url` and build the tables from the models, as the test suite does (dj-stripe's migrations
    alone take ~80 s). Tasks the run queues (e-mails) are published to an in-memory broker, not run inline."""
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("CACHE_URL", None)
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aisquare_plugins.settings")
    import django
    from django.conf import settings

    django.setup()
    from django.apps import apps

    settings.MIGRATION_MODULES = {app.label: None for app in apps.get_app_configs()}
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)
