"""The warm worker pool: one process per installation, bounded, hot reload without dropping calls in flight."""

import threading
import time

import pytest

from runtime import services
from runtime.invocation import generation_of, worker_spec
from runtime.sandbox.base import SandboxUnavailable
from runtime.sandbox.bubblewrap import BubblewrapBackend
from runtime.sandbox.pool import WorkerPool, get_backend
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox]

SOURCE = '''
import os, time
VERSION = "one"

def slow_version(seconds):
    time.sleep(seconds)
    return VERSION

def version():
    return VERSION
'''


def _no_api(method, params):
    raise AssertionError("no Plugin API call expected")


def _spec(installation, version):
    code_dir, main = services._code_for(version)
    return worker_spec(installation, code_dir, main), generation_of(code_dir, main)


def test_a_new_version_replaces_the_warm_worker_without_dropping_the_call_in_flight(sandbox, make_version, install):
    v1 = make_version(SOURCE)
    installation = install(v1)
    v2 = make_version(SOURCE.replace('"one"', '"two"'), version="1.1.0", plugin=v1.plugin)
    pool = WorkerPool(get_backend(), 4)
    spec1, gen1 = _spec(installation, v1)
    spec2, gen2 = _spec(installation, v2)
    assert pool.call(spec1, gen1, "function", "version", [], {}, host=_no_api).value == "one"

    in_flight = {}

    def slow():
        in_flight["value"] = pool.call(spec1, gen1, "function", "slow_version", [1.5], {}, host=_no_api).value

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    # The new code takes new calls at once, on a fresh worker...
    result = pool.call(spec2, gen2, "function", "version", [], {}, host=_no_api)
    assert result.value == "two" and result.cold
    thread.join(10)
    # ...and the call that was running on the old one finished with its answer.
    assert in_flight["value"] == "one"
    assert len(pool) == 1
    pool.close_all()


def test_each_installation_has_its_own_process_and_the_pool_is_bounded(sandbox, make_version, install):
    version = make_version(SOURCE)
    installations = [install(version, user=UserFactory()) for _ in range(3)]
    pool = WorkerPool(get_backend(), 2)
    pids = set()
    for installation in installations:
        spec, gen = _spec(installation, version)
        assert pool.call(spec, gen, "function", "version", [], {}, host=_no_api).value == "one"
        pids.add(pool._workers[spec.key].connection.process.pid)
    assert len(pids) == 3
    assert len(pool) == 2  # the least recently used worker was closed
    pool.close_all()
    assert len(pool) == 0


def test_changed_code_in_development_is_picked_up(sandbox, make_version, install):
    version = make_version(SOURCE)
    installation = install(version)
    pool = WorkerPool(get_backend(), 2)
    spec, gen = _spec(installation, version)
    assert pool.call(spec, gen, "function", "version", [], {}, host=_no_api).value == "one"
    main = spec.code_dir / "plugin.py"
    main.chmod(0o600)
    main.write_text(SOURCE.replace('"one"', '"edited"'))
    for cached in (spec.code_dir / "__pycache__").glob("plugin.*.pyc"):
        cached.chmod(0o600)
        cached.unlink()
    assert pool.call(spec, generation_of(spec.code_dir, "plugin.py"), "function", "version", [], {},
                     host=_no_api).value == "edited"
    pool.close_all()


def test_without_bubblewrap_plugin_code_does_not_run():
    with pytest.raises(SandboxUnavailable) as info:
        BubblewrapBackend(bwrap="/nonexistent/bwrap").check_available()
    assert "bubblewrap is not installed" in info.value.message
