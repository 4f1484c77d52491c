"""Settings come from the environment, with embedded defaults; production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check(env: dict, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CACHE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *(args or ("check",))],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "aisquare_plugins.settings", **env},
        capture_output=True, text=True, timeout=120,
    )


def _setting(env: dict, expression: str) -> str:
    result = _check(env, "shell", "--no-imports", "-c", f"from django.conf import settings; print({expression})")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_embedded_defaults_are_sqlite_eager_celery_local_memory_and_local_gateway():
    assert _setting({}, "settings.DATABASES['default']['ENGINE']") == "django.db.backends.sqlite3"
    assert _setting({}, "settings.CELERY_TASK_ALWAYS_EAGER") == "True"
    assert "LocMemCache" in _setting({}, "settings.CACHES['default']['BACKEND']")
    assert _setting({}, "settings.PAYMENT_GATEWAY") == "revenue.gateways.local.LocalGateway"
    assert _setting({}, "settings.STORAGES['default']['BACKEND']").endswith("FileSystemStorage")


def test_environment_selects_postgres_redis_and_s3():
    env = {
        "DATABASE_URL": "postgres://app@db.internal:5432/plugins",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "STORAGE_BACKEND": "s3",
        "AWS_STORAGE_BUCKET_NAME": "packages",
    }
    assert _setting(env, "settings.DATABASES['default']['ENGINE']") == "django.db.backends.postgresql"
    assert _setting(env, "settings.CELERY_BROKER_URL") == "redis://cache.internal:6379/0"
    assert _setting(env, "settings.CELERY_TASK_ALWAYS_EAGER") == "False"
    assert "RedisCache" in _setting(env, "settings.CACHES['default']['BACKEND']")
    assert _setting(env, "settings.STORAGES['default']['BACKEND']") == "storages.backends.s3.S3Storage"


def test_production_refuses_to_start_without_secret_key_and_allowed_hosts():
    result = _check({"DJANGO_DEBUG": "false"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr and "DJANGO_ALLOWED_HOSTS" in result.stderr

    result = _check({"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "short", "DJANGO_ALLOWED_HOSTS": "x.example"})
    assert result.returncode != 0
    assert "at least 50" in result.stderr


def test_production_settings_pass_the_deploy_checks():
    env = {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "k" * 30 + "-9fj2#lq0$zv81mxwp4e7c",
           "DJANGO_ALLOWED_HOSTS": "plugins.example.com"}
    result = _check(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_malformed_boolean_is_a_clear_error():
    result = _check({"DJANGO_DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be true or false" in result.stderr
