"""The warm worker pool: one process per installation, bounded, hot reload without dropping calls in flight."""

import os
import subprocess
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


TENANT_SOURCE = '''
import os

MARK = "A"

def visit(marker):
    """What a tenant sees of its sandbox, and a file of its own left behind."""
    seen = {"data": sorted(os.listdir("/data")), "code": open("/plugin/plugin.py").read().split('MARK = "')[1][0],
            "cwd": os.getcwd(), "uid": os.getuid()}
    with open("/data/" + marker, "w") as handle:
        handle.write(marker)
    try:
        open("/plugin/plugin.py", "a").write("# changed")
        seen["code_writable"] = True
    except OSError:
        seen["code_writable"] = False
    return seen
'''


def _spare_pids(pool):
    return [spare.pid for spare in pool.spares._ready]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _exited(process):
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return True


def test_a_spare_goes_to_one_new_installation_once_and_carries_nothing_between_tenants(sandbox, make_version,
                                                                                      install):
    if not getattr(get_backend(), "spares_supported", lambda: False)():
        pytest.skip("spare workers need a root host (mount slots)")
    version_a = make_version(TENANT_SOURCE, plugin_id="tenant-a")
    version_b = make_version(TENANT_SOURCE.replace('MARK = "A"', 'MARK = "B"'), plugin_id="tenant-b")
    first, second = install(version_a), install(version_b, user=UserFactory())
    pool = WorkerPool(get_backend(), 4, spares=1)
    assert pool.spares.wait_ready()
    [spare_pid] = _spare_pids(pool)

    spec_a, gen_a = _spec(first, version_a)
    result = pool.call(spec_a, gen_a, "function", "visit", ["a.txt"], {}, host=_no_api)
    # The first call of installation A ran in the spare: a cold start without starting a sandbox.
    assert result.cold and pool._workers[spec_a.key].connection.process.pid == spare_pid
    assert result.value == {"data": [], "code": "A", "cwd": "/data", "uid": 65534, "code_writable": False}
    assert spare_pid not in _spare_pids(pool)

    # The pool boots a new spare; installation B gets that one, never A's process, and sees none of A's files.
    assert pool.spares.wait_ready()
    [next_spare] = _spare_pids(pool)
    assert next_spare != spare_pid
    spec_b, gen_b = _spec(second, version_b)
    result = pool.call(spec_b, gen_b, "function", "visit", ["b.txt"], {}, host=_no_api)
    assert pool._workers[spec_b.key].connection.process.pid == next_spare
    assert result.value["data"] == [] and result.value["code"] == "B" and result.cold
    # A's worker is still A's: its data holds its own file only.
    assert pool.call(spec_a, gen_a, "function", "visit", ["a2.txt"], {}, host=_no_api).value["data"] == ["a.txt"]
    pool.close_all()
    assert not _alive(spare_pid) and not _alive(next_spare)


def test_a_spare_that_cannot_take_an_installations_limits_is_killed_not_reused(sandbox, make_version, install):
    """A /tmp size is fixed when the sandbox starts: an installation with a smaller one gets a fresh worker, and the
    spare it could not use is thrown away rather than kept for someone else."""
    if not getattr(get_backend(), "spares_supported", lambda: False)():
        pytest.skip("spare workers need a root host (mount slots)")
    version = make_version(TENANT_SOURCE)
    installation = install(version, limits={"tmp_mb": 4})
    pool = WorkerPool(get_backend(), 4, spares=1)
    assert pool.spares.wait_ready()
    spare = pool.spares._ready[0]
    spec, gen = _spec(installation, version)
    result = pool.call(spec, gen, "function", "visit", ["x.txt"], {}, host=_no_api)
    assert result.cold and result.value["data"] == []
    assert pool._workers[spec.key].connection.process.pid != spare.pid
    assert _exited(spare)
    pool.close_all()


def test_with_no_spare_ready_a_cold_start_starts_a_sandbox(sandbox, make_version, install):
    version = make_version(TENANT_SOURCE)
    installation = install(version)
    pool = WorkerPool(get_backend(), 4, spares=0)
    assert pool.spares is None
    spec, gen = _spec(installation, version)
    result = pool.call(spec, gen, "function", "visit", ["x.txt"], {}, host=_no_api)
    assert result.cold and result.value["data"] == [] and result.value["code_writable"] is False
    pool.close_all()



def test_two_workers_of_one_installation_share_one_data_volume(sandbox, make_version, install):
    """During a hot reload the old and the new worker run at once: both mount the installation's quota volume, and
    must see one filesystem (one loop device), never two superblocks over one image."""
    from runtime.sandbox import volumes

    if not volumes.supported():
        pytest.skip("quota volumes need a root host with loop devices")
    source = ("import os\n\ndef write(name):\n    open('/data/' + name, 'w').write(name)\n    return sorted(os.listdir("
              "'/data'))\n\ndef read(name):\n    return open('/data/' + name).read()\n")
    v1 = make_version(source)
    installation = install(v1)
    v2 = make_version(source + "\nVERSION = 2\n", version="1.1.0", plugin=v1.plugin)
    pool = WorkerPool(get_backend(), 4)
    spec1, gen1 = _spec(installation, v1)
    spec2, gen2 = _spec(installation, v2)
    assert pool.call(spec1, gen1, "function", "write", ["old.txt"], {}, host=_no_api).value == ["old.txt"]
    old_worker = pool._workers[spec1.key]
    old_worker.busy += 1  # a call in flight keeps the old worker alive while the new one starts
    assert pool.call(spec2, gen2, "function", "read", ["old.txt"], {}, host=_no_api).value == "old.txt"
    assert pool.call(spec2, gen2, "function", "write", ["new.txt"], {}, host=_no_api).value == ["new.txt", "old.txt"]
    assert old_worker.connection.alive
    assert old_worker.connection.call("function", "read", ["new.txt"], {}, host=_no_api, timeout=5).value == "new.txt"
    old_worker.busy -= 1
    pool.close_all()
    old_worker.connection.close()


def test_once_assigned_a_spare_receives_nothing_more_through_its_slot(sandbox, make_version, install, tmp_path):
    """The spare's slot propagated exactly one installation's code and data into it, and was then cut off: whatever
    is mounted on that slot afterwards (here a tmpfs with a file) never reaches the worker."""
    import ctypes

    if not getattr(get_backend(), "spares_supported", lambda: False)():
        pytest.skip("spare workers need a root host (mount slots)")
    version = make_version(TENANT_SOURCE)
    installation = install(version)
    pool = WorkerPool(get_backend(), 4, spares=1)
    assert pool.spares.wait_ready()
    spec, gen = _spec(installation, version)
    assert pool.call(spec, gen, "function", "visit", ["mine.txt"], {}, host=_no_api).value["data"] == []
    slot = pool._workers[spec.key].connection.process.slot
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.mount(b"tmpfs", bytes(slot.data), b"tmpfs", 0, b"size=1m") == 0
    try:
        (slot.data / "planted.txt").write_text("from the host")
        seen = pool.call(spec, gen, "function", "visit", ["again.txt"], {}, host=_no_api).value
        assert seen["data"] == ["mine.txt"] and seen["code"] == "A"
    finally:
        libc.umount2(bytes(slot.data), 2)
    pool.close_all()
