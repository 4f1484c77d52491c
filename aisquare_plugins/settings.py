"""Settings for AI Square Plugins, driven by environment variables.

Every variable has an embedded default that runs on a laptop (SQLite, eager Celery, local files, the local
payment gateway). Production (DJANGO_DEBUG=false) refuses to start without its secrets. See .env.example.
"""

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name)
    return default if value is None else [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

if DEBUG:
    SECRET_KEY = env("DJANGO_SECRET_KEY", "insecure-dev-key-only-for-local-use-never-in-production")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
else:
    _missing = [name for name in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS") if not env(name)]
    if _missing:
        raise ImproperlyConfigured(
            f"Production mode (DJANGO_DEBUG=false) needs {', '.join(_missing)}: refusing to start without them."
        )
    SECRET_KEY = env("DJANGO_SECRET_KEY")
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("insecure"):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 random characters in production.")
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "djstripe",
    "aisquare_plugins",
    "host",
    "runtime",
    "marketplace",
    "developers",
    "reviews",
    "revenue",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "runtime.analytics.metrics.RequestMetricsMiddleware",
]

ROOT_URLCONF = "aisquare_plugins.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aisquare_plugins.context_processors.platform",
            ],
        },
    },
]

WSGI_APPLICATION = "aisquare_plugins.wsgi.application"

# --- Database: SQLite file by default, PostgreSQL (psycopg 3) through DATABASE_URL -------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Parallel developers and CI jobs on one server keep their own test databases apart.
if env("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, so that `pytest --reuse-db` keeps it between runs.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-db.sqlite3")}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    INSTALLED_APPS.append("django.contrib.postgres")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "host.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Redis: broker, cache and rate-limit counters; absent means eager Celery and local memory ---------------------
REDIS_URL = env("REDIS_URL")
# The cache may live in its own Redis database (tests flush it; the broker's queues must survive that).
CACHE_URL = env("CACHE_URL", REDIS_URL)

if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "aisq"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "aisq"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "default")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

# --- Static and uploaded files: local filesystem by default, any S3-compatible endpoint in production -------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

STORAGE_BACKEND = env("STORAGE_BACKEND", "local")
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL"),
            "region_name": env("AWS_S3_REGION_NAME"),
            "access_key": env("AWS_ACCESS_KEY_ID"),
            "secret_key": env("AWS_SECRET_ACCESS_KEY"),
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", "auto"),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
elif STORAGE_BACKEND == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3', not {STORAGE_BACKEND!r}")

STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- E-mail ---------------------------------------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "AI Square Plugins <plugins@aisquare.local>")
REVIEW_TEAM_GROUP = "Plugin reviewers"

# --- REST API -----------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "developers.authentication.DeveloperTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", "120/min"),
        "user": env("API_THROTTLE_USER", "1200/min"),
        "upload": env("API_THROTTLE_UPLOAD", "30/hour"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "aisquare_plugins.exceptions.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AI Square Plugins API",
    "DESCRIPTION": "Marketplace, installation, publishing, reviews and revenue APIs of the AI Square plugin platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
}

# --- The platform -------------------------------------------------------------------------------------------------
PLATFORM_VERSION = env("PLATFORM_VERSION", "2.4.0")

# Where plugin code and per-installation data live on the host running sandboxes (never served over HTTP).
PLUGIN_ROOT = Path(env("PLUGIN_ROOT", str(BASE_DIR / "var" / "plugins")))

# The sandbox backend: a dotted path to a runtime.sandbox Backend implementation.
SANDBOX_BACKEND = env("SANDBOX_BACKEND", "runtime.sandbox.bubblewrap.BubblewrapBackend")

# Spec §Sandboxing. Per-plugin overrides may only tighten these.
SANDBOX_LIMITS = {
    "memory_mb": env_int("SANDBOX_MEMORY_MB", 512),
    "cpu_quota": env_int("SANDBOX_CPU_QUOTA", 50000),  # microseconds per 100 ms period: 50% of one core
    "disk_mb": env_int("SANDBOX_DISK_MB", 1024),
    "function_timeout": env_int("SANDBOX_FUNCTION_TIMEOUT", 30),
    "total_execution_time": env_int("SANDBOX_DAILY_SECONDS", 3600),
    "api_calls_per_minute": env_int("PLUGIN_API_CALLS_PER_MINUTE", 100),
    "api_calls_per_day": env_int("PLUGIN_API_CALLS_PER_DAY", 10000),
    "max_open_files": env_int("SANDBOX_MAX_OPEN_FILES", 64),
    "max_message_bytes": env_int("SANDBOX_MAX_MESSAGE_BYTES", 1024 * 1024),
}
SANDBOX_POOL_SIZE = env_int("SANDBOX_POOL_SIZE", 32)
# Pre-booted sandbox workers kept ready for cold starts (each goes to one installation, once); 0 turns them off.
SANDBOX_SPARES = env_int("SANDBOX_SPARES", 2)
# The unprivileged host identity bubblewrap runs workers as (the host does the privileged set-up -- cgroups, volume
# mounts -- first): SANDBOX_HOST_UID/GID, or else the system user SANDBOX_HOST_USER, created on first use by root.
SANDBOX_HOST_USER = env("SANDBOX_HOST_USER", "aisquare-sandbox")
SANDBOX_HOST_UID = env_int("SANDBOX_HOST_UID", 0) or None
SANDBOX_HOST_GID = env_int("SANDBOX_HOST_GID", 0) or None
# The container backend (runtime.sandbox.docker.DockerBackend): the engine (DOCKER_HOST's form, e.g.
# unix:///run/docker.sock or tcp://host:2376), the worker image built by `manage.py build_sandbox_image`, and a cap on
# sandbox containers per host across all processes.
SANDBOX_DOCKER_HOST = env("SANDBOX_DOCKER_HOST", env("DOCKER_HOST", "unix:///var/run/docker.sock"))
SANDBOX_DOCKER_IMAGE = env("SANDBOX_DOCKER_IMAGE", "aisquare/plugin-sandbox:latest")
SANDBOX_DOCKER_MAX_CONTAINERS = env_int("SANDBOX_DOCKER_MAX_CONTAINERS", 256)

# The publishing pipeline's package limits (issue: upload validation).
PACKAGE_MAX_BYTES = env_int("PACKAGE_MAX_BYTES", 10 * 1024 * 1024)
PACKAGE_MAX_UNPACKED_BYTES = env_int("PACKAGE_MAX_UNPACKED_BYTES", 50 * 1024 * 1024)
PACKAGE_MAX_ENTRIES = env_int("PACKAGE_MAX_ENTRIES", 2000)
PACKAGE_MAX_COMPRESSION_RATIO = env_int("PACKAGE_MAX_COMPRESSION_RATIO", 100)
QUALITY_MIN_SCORE = env_int("QUALITY_MIN_SCORE", 40)
# The security scan: rules listed here only report (monitor-only) instead of blocking; a scan running longer than
# SCAN_TIMEOUT_SECONDS is `errored`, which blocks publication (fail closed).
SCAN_MONITOR_ONLY_RULES = env_list("SCAN_MONITOR_ONLY_RULES", [])
SCAN_TIMEOUT_SECONDS = env_int("SCAN_TIMEOUT_SECONDS", 120)

# --- Monitoring and analytics ----------------------------------------------------------------------------------------
# /metrics answers a request bearing this token (Authorization: Bearer …) or a staff session; anyone else gets 404.
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_CACHE_SECONDS = env_int("METRICS_CACHE_SECONDS", 15)
METRICS_CELERY_QUEUES = env_list("METRICS_CELERY_QUEUES", [])  # default: CELERY_TASK_DEFAULT_QUEUE
# A version whose runs failed more than this share since release (with at least the minimum of runs) alerts its
# developer once, by e-mail and a portal notice.
ANALYTICS_ALERT_ERROR_RATE = float(env("ANALYTICS_ALERT_ERROR_RATE", "0.05"))
ANALYTICS_ALERT_MIN_CALLS = env_int("ANALYTICS_ALERT_MIN_CALLS", 100)
ANALYTICS_TOP_ERRORS = env_int("ANALYTICS_TOP_ERRORS", 20)  # failure groups kept per plugin and day
ANALYTICS_BACKFILL_DAYS = env_int("ANALYTICS_BACKFILL_DAYS", 400)  # how far back a first roll-up goes

# --- Money --------------------------------------------------------------------------------------------------------
PAYMENT_GATEWAY = env("PAYMENT_GATEWAY", "revenue.gateways.local.LocalGateway")
PLATFORM_FEE_RATE = Decimal(env("PLATFORM_FEE_RATE", "0.30"))
PAYOUT_MINIMUM = Decimal(env("PAYOUT_MINIMUM", "25.00"))

STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", False)
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", "sk_test_placeholder")
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", "")
STRIPE_API_HOST = env("STRIPE_API_HOST", "https://api.stripe.com")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"

# --- AI provider ----------------------------------------------------------------------------------------------------
AI_PROVIDER = env("AI_PROVIDER", "host.ai.LocalAIProvider")
AI_API_BASE = env("AI_API_BASE")
AI_API_KEY = env("AI_API_KEY")
AI_MODEL = env("AI_MODEL", "gpt-4o-mini")
AI_DAILY_CHARACTER_QUOTA = env_int("AI_DAILY_CHARACTER_QUOTA", 200_000)

# --- Security (production) ------------------------------------------------------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    SILENCED_SYSTEM_CHECKS = ["djstripe.W002"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
