"""Project-wide pytest set-up: real services, and no silent skips in CI."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Playwright's sync API runs an event loop in the test thread; Django's async-safety check must let the
# test database be created anyway (see ../shared/RECIPES.md, browser tests).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = Path(__file__).parent / "artifacts"


def require(available: bool, what: str) -> None:
    """Skip a test whose real component is missing on a laptop; fail it in CI, where everything must be there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but missing", pytrace=False)
    pytest.skip(f"{what} is not available on this machine")


@pytest.fixture
def sandbox():
    """The bubblewrap sandbox, with a fresh worker pool before and after the test."""
    require(shutil.which("bwrap") is not None, "bubblewrap (apt-get install bubblewrap)")
    from runtime.sandbox.pool import reset_pool

    reset_pool()
    yield
    reset_pool()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: no browser download is possible on these machines."""
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    require(Path(chromium).exists(), "Chromium (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": chromium}


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Screenshots and reports that CI keeps."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    """Each test writes uploaded packages and plugin data under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PLUGIN_ROOT = tmp_path / "plugins"


@pytest.fixture(autouse=True)
def _fresh_cache_and_eager_tasks():
    """Tests start with an empty cache and run Celery tasks inline unless they ask for the real worker."""
    from django.core.cache import cache

    from aisquare_plugins.celery import app

    cache.clear()
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield


@pytest.fixture(scope="session")
def _worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker (prefork pool) on the Redis broker, connected to the test database."""
    from django.conf import settings
    from django.db import connection

    require(bool(settings.REDIS_URL), "Redis (REDIS_URL) for the Celery worker")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the real-worker tests share the test database with the worker: PostgreSQL only")
    shared = tmp_path_factory.mktemp("worker-files")
    ARTIFACTS.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PLUGIN_ROOT": str(shared / "plugins"),
        "MEDIA_ROOT": str(shared / "media"),
    }
    log = (ARTIFACTS / f"celery-test-worker-{os.getpid()}.log").open("w")  # noqa: SIM115 (open for the worker's life)
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    queue = f"test-{os.getpid()}"
    proc = subprocess.Popen(
        [celery, "-A", "aisquare_plugins", "worker", "--pool=prefork", "--concurrency=2", "-Q", queue,
         "-n", f"{queue}@%h", "--loglevel=INFO"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    from aisquare_plugins.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the Celery worker exited at start-up; see {log.name}", pytrace=False)
        if app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=0.5):
            break
    else:
        proc.kill()
        pytest.fail("the Celery worker did not answer within 60 s", pytrace=False)
    yield {"queue": queue, "log": log.name, "env": env}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def celery_worker(_worker_process, settings):
    """Send this test's tasks to the real worker instead of running them inline.

    Use with `@pytest.mark.django_db(transaction=True)`: the worker sees only committed rows.
    """
    from aisquare_plugins.celery import app

    app.conf.task_always_eager = False
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = _worker_process["queue"]
    settings.CELERY_TASK_DEFAULT_QUEUE = _worker_process["queue"]
    # The worker and this test must read and write the same files.
    settings.PLUGIN_ROOT = Path(_worker_process["env"]["PLUGIN_ROOT"])
    settings.MEDIA_ROOT = Path(_worker_process["env"]["MEDIA_ROOT"])
    yield _worker_process
    app.conf.task_default_queue = previous
    app.conf.task_always_eager = True
