"""The container backend itself, on a real Docker engine: the limits each container gets, the engine-level seccomp
profile, the host's wall timeout killing through the API, reaping after a crashed host process, the bound on
containers, and clear errors for a missing engine or image. The hostile corpus (tests/runtime/hostile) runs against
this backend too, through the `any_sandbox` parameter."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest

from runtime.sandbox import boot, docker_image
from runtime.sandbox import docker as docker_backend
from runtime.sandbox.base import CallTimeout, Limits, SandboxError, SandboxUnavailable, WorkerSpec
from runtime.sandbox.pool import WorkerPool, get_backend
from runtime.sandbox.protocol import WorkerConnection

pytestmark = [pytest.mark.docker, pytest.mark.sandbox]
MB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[3]

PLUGIN = '''
import os, time

def add(a, b):
    return a + b

def me():
    return {"pid": os.getpid(), "uid": os.getuid()}

def sleep_forever():
    time.sleep(10 ** 6)

def spin():
    while True:
        pass
'''


@pytest.fixture
def engine(docker_sandbox):
    return docker.APIClient(base_url=docker_sandbox.engine_url, version="auto")


@pytest.fixture
def backend(docker_sandbox):
    docker_backend.DockerBackend._reaped.clear()
    return docker_backend.DockerBackend(base_url=docker_sandbox.engine_url)


@pytest.fixture
def make_spec(tmp_path):
    counter = iter(range(1000))

    def make(key=None, *, source=PLUGIN, **limits):
        n = next(counter)
        code = tmp_path / f"code-{n}"
        code.mkdir()
        (code / "plugin.py").write_text(source)
        os.chmod(code / "plugin.py", 0o400)
        os.chmod(code, 0o500)  # installed packages are owner-only; the backend shares them with the sandbox group
        data = tmp_path / f"data-{n}"
        data.mkdir(mode=0o700)
        return WorkerSpec(key=key or f"inst-{os.getpid()}-{n}", code_dir=code, data_dir=data, main="plugin.py",
                          limits=Limits().tighten(limits or None), info={"plugin_id": "test-plugin"})

    return make


def _connect(backend, spec):
    connection = WorkerConnection(backend.spawn(spec), spec)
    connection.wait_ready()
    return connection


def _ours(engine, key):
    return engine.containers(all=True, filters={"label": [f"{docker_backend.LABEL_INSTALLATION}={key}"]})


def _host(method, params):
    raise AssertionError("no host calls expected")


def test_each_container_gets_every_limit(backend, engine, make_spec):
    spec = make_spec(memory_mb=256, tmp_mb=8, max_open_files=32)
    connection = _connect(backend, spec)
    try:
        assert connection.call("function", "add", [2, 3], {}, host=_host, timeout=5).value == 5
        [summary] = _ours(engine, spec.key)
        info = engine.inspect_container(summary["Id"])
        host = info["HostConfig"]
        assert host["NetworkMode"] == "none" and info["Config"]["NetworkDisabled"] is True
        assert host["ReadonlyRootfs"] is True
        assert host["Memory"] == host["MemorySwap"] == (256 + 64) * MB
        assert host["PidsLimit"] == spec.limits.max_threads + 4
        assert (host["CpuQuota"], host["CpuPeriod"]) == (50_000, 100_000)  # 50% of one core
        assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
        assert host["Privileged"] is False
        assert "no-new-privileges:true" in host["SecurityOpt"]
        [seccomp] = [o for o in host["SecurityOpt"] if o.startswith("seccomp=")]
        assert json.loads(seccomp.removeprefix("seccomp=")) == docker_backend.seccomp_profile()
        assert host["Init"] is True
        assert host["Tmpfs"]["/tmp"].startswith("rw,noexec,nosuid,nodev,size=8m")
        assert host["LogConfig"]["Type"] == "none"
        assert "/sys" in host["MaskedPaths"] and "/dev" in host["ReadonlyPaths"]
        assert host["IpcMode"] == "none"  # no /dev/shm
        ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
        assert ulimits["nofile"] == (40, 40) and ulimits["core"] == (0, 0)
        assert ulimits["fsize"] == (spec.limits.disk_mb * MB,) * 2
        assert info["Config"]["User"] == "10001:10001"
        assert sorted(info["Config"]["Env"]) == ["HOME=/data", "LANG=C.UTF-8", "PATH=/usr/bin:/bin"]  # no secrets
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        assert mounts["/plugin"]["RW"] is False and mounts["/plugin"]["Source"] == str(spec.code_dir)
        assert mounts["/data"]["RW"] is True and mounts["/data"]["Source"] == str(spec.data_dir)
        labels = info["Config"]["Labels"]
        assert labels[docker_backend.LABEL] == "1" and labels[docker_backend.LABEL_PLUGIN] == "test-plugin"
        assert labels[docker_backend.LABEL_OWNER] == docker_backend._owner()
    finally:
        connection.close()
    assert _ours(engine, spec.key) == []  # closed = killed and removed through the API


def test_the_engine_profile_is_the_boot_filter_minus_what_the_container_needs_to_start():
    profile = docker_backend.seccomp_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    by_name = {entry["names"][0]: entry for entry in profile["syscalls"]}
    expected = [rule for rule in boot.seccomp_rules() if rule[1] not in docker_backend.STARTUP_SYSCALLS]
    assert len(by_name) == len(profile["syscalls"]) == len(expected)
    for action, name, cmps in expected:
        entry = by_name[name]
        if action == boot.SCMP_ACT_KILL_PROCESS:
            assert entry["action"] == "SCMP_ACT_KILL_PROCESS"
        else:
            assert (entry["action"], entry["errnoRet"]) == ("SCMP_ACT_ERRNO", boot.ENOSYS)
        assert [(a["index"], a["value"], a["valueTwo"]) for a in entry.get("args", [])] == \
            [(c[0], c[2], c[3]) for c in cmps]
    # Everything the boot script kills outright is in the profile, except the start-up syscalls.
    assert set(boot.KILLED_SYSCALLS) - docker_backend.STARTUP_SYSCALLS <= set(by_name)
    assert by_name["socket"]["args"] == [{"index": 0, "op": "SCMP_CMP_NE", "value": boot.AF_UNIX, "valueTwo": 0}]


@pytest.mark.parametrize(("code", "syscall"), [
    ("ctypes.CDLL(None).syscall(272, 0x10000000)", "unshare"),
    ("ctypes.CDLL(None).syscall(41, 2, 1, 0)", "socket(AF_INET)"),
    ("ctypes.CDLL(None).syscall(105, 0)", "setuid"),
])
def test_the_engine_profile_alone_kills_a_blocked_syscall(backend, engine, make_spec, code, syscall):
    """Without the boot script (entrypoint replaced), the engine's own profile still kills the process: SIGSYS."""
    spec = make_spec()
    container = engine.create_container(
        backend.image, entrypoint=["/usr/bin/python3", "-c", f"import ctypes; {code}; print('survived')"],
        user="10001:10001", labels={docker_backend.LABEL: "1", docker_backend.LABEL_OWNER_HOST: backend.hostname,
                                    docker_backend.LABEL_OWNER: docker_backend._owner()},
        host_config=backend._host_config(spec), network_disabled=True,
    )
    try:
        engine.start(container["Id"])
        status = engine.wait(container["Id"], timeout=30)["StatusCode"]
        assert status == 128 + signal.SIGSYS, f"{syscall}: status {status}"
    finally:
        engine.remove_container(container["Id"], force=True)


def test_the_wall_timeout_kills_the_container_through_the_api(backend, engine, make_spec):
    spec = make_spec()
    connection = _connect(backend, spec)
    [before] = _ours(engine, spec.key)
    assert before["State"] == "running"
    started = time.monotonic()
    with pytest.raises(CallTimeout):
        connection.call("function", "spin", [], {}, host=_host, timeout=1)
    assert time.monotonic() - started < 5
    assert _ours(engine, spec.key) == []  # not just the client: the container is gone
    assert connection.closed


def test_warm_containers_are_reused_per_installation_and_never_shared(backend, engine, make_spec):
    pool = WorkerPool(backend, size=4)
    first, second = make_spec(), make_spec()
    try:
        cold = pool.call(first, "g1", "function", "me", [], {}, host=_host)
        warm = pool.call(first, "g1", "function", "me", [], {}, host=_host)
        other = pool.call(second, "g1", "function", "me", [], {}, host=_host)
        assert (cold.cold, warm.cold, other.cold) == (True, False, True)
        assert cold.value == warm.value  # the same process
        assert len(_ours(engine, first.key)) == 1 and len(_ours(engine, second.key)) == 1
        assert _ours(engine, first.key)[0]["Id"] != _ours(engine, second.key)[0]["Id"]
        # New code (another generation) gets a fresh container; the old one is removed.
        assert pool.call(first, "g2", "function", "add", [1, 1], {}, host=_host).cold is True
        assert len(_ours(engine, first.key)) == 1
    finally:
        pool.close_all()
    assert _ours(engine, first.key) == [] and _ours(engine, second.key) == []


def test_the_pool_is_bounded(backend, engine, make_spec):
    pool = WorkerPool(backend, size=2)
    specs = [make_spec() for _ in range(4)]
    try:
        for spec in specs:
            assert pool.call(spec, "g", "function", "add", [1, 2], {}, host=_host).value == 3
        running = [s for s in specs if _ours(engine, s.key)]
        assert len(pool) == 2 and running == specs[2:]  # the least recently used were closed and removed
    finally:
        pool.close_all()


def test_containers_per_host_are_capped(backend, engine, make_spec, settings):
    # A host name of its own: other test sessions may share the engine, and the cap counts one host's containers.
    backend.hostname = f"cap-test-{os.getpid()}-{time.monotonic_ns()}"
    backend.max_containers = 1
    first = _connect(backend, make_spec())
    try:
        with pytest.raises(SandboxError) as info:
            backend.spawn(make_spec())
        assert info.value.reason == "capacity" and "SANDBOX_DOCKER_MAX_CONTAINERS" in info.value.message
    finally:
        first.close()
    again = _connect(backend, make_spec())  # room again once the first is gone
    again.close()


def test_containers_of_a_crashed_host_process_are_reaped_at_start_up(backend, engine, make_spec, docker_sandbox):
    spec = make_spec()
    script = textwrap.dedent(f"""
        import os, sys, time, django
        sys.path.insert(0, {str(ROOT)!r})
        os.environ["DJANGO_SETTINGS_MODULE"] = "aisquare_plugins.settings"
        django.setup()
        from pathlib import Path
        from runtime.sandbox.base import Limits, WorkerSpec
        from runtime.sandbox.docker import DockerBackend
        from runtime.sandbox.protocol import WorkerConnection
        spec = WorkerSpec(key={spec.key!r}, code_dir=Path({str(spec.code_dir)!r}),
                          data_dir=Path({str(spec.data_dir)!r}), main="plugin.py", limits=Limits())
        backend = DockerBackend(base_url={docker_sandbox.engine_url!r})
        connection = WorkerConnection(backend.spawn(spec), spec)
        connection.wait_ready()
        connection._send({{"type": "call", "id": 1, "kind": "function", "name": "spin", "args": [], "kwargs": {{}}}},
                         time.monotonic() + 5)
        print("spinning", flush=True)
        time.sleep(600)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("SANDBOX_DOCKER_HOST", "DOCKER_HOST")}
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert host.stdout.readline().strip() == b"spinning"
    finally:
        host.send_signal(signal.SIGKILL)  # the host process crashes with its worker busy
        host.wait()
    [orphan] = _ours(engine, spec.key)
    assert orphan["State"] == "running"  # a busy worker outlives its host: nothing else would stop it

    mine = _connect(backend, make_spec())  # a live owner's container must survive the reaping
    try:
        docker_backend.DockerBackend._reaped.clear()
        fresh = docker_backend.DockerBackend(base_url=docker_sandbox.engine_url)
        fresh.check_available()  # start-up of a new process: reaps
        assert _ours(engine, spec.key) == []
        assert mine.call("function", "add", [1, 2], {}, host=_host, timeout=5).value == 3
    finally:
        mine.close()


def test_a_missing_engine_is_a_clear_error_at_start_up(settings, docker_sandbox):
    settings.SANDBOX_DOCKER_HOST = "unix:///nonexistent/docker.sock"
    with pytest.raises(SandboxUnavailable) as info:
        get_backend()
    assert "not reachable" in info.value.message and "unix:///nonexistent/docker.sock" in info.value.message
    from runtime import api

    assert api.sandbox_available() is False


def test_a_missing_or_stale_image_is_a_clear_error(docker_sandbox, engine):
    docker_backend.DockerBackend._image_ok.clear()
    missing = docker_backend.DockerBackend(base_url=docker_sandbox.engine_url, image="aisquare/no-such:image")
    with pytest.raises(SandboxUnavailable) as info:
        missing.check_available()
    assert "build_sandbox_image" in info.value.message
    engine.tag(docker_image.BASE_TAG, "aisquare/plugin-sandbox", "stale-test")
    try:
        with pytest.raises(SandboxUnavailable) as info:
            docker_backend.DockerBackend(base_url=docker_sandbox.engine_url,
                                         image="aisquare/plugin-sandbox:stale-test").check_available()
        assert "another version" in info.value.message
    finally:
        engine.remove_image("aisquare/plugin-sandbox:stale-test")
        docker_backend.DockerBackend._image_ok.clear()


def test_the_image_build_is_skipped_when_current(docker_sandbox, engine, settings):
    started = time.monotonic()
    assert docker_image.build_image(engine, tag=settings.SANDBOX_DOCKER_IMAGE, log=lambda _: None) is False
    assert time.monotonic() - started < 5
    labels = docker_image.image_labels(engine, settings.SANDBOX_DOCKER_IMAGE)
    assert labels[docker_image.LABEL_CONTENT] == docker_image.content_hash()


def test_sandbox_check_reports_the_engine_or_the_reason(docker_sandbox, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("sandbox_check", stdout=out)
    assert out.getvalue().startswith("sandbox ok: docker on " + docker_sandbox.engine_url)
    settings.SANDBOX_DOCKER_HOST = "unix:///nonexistent/docker.sock"
    with pytest.raises(CommandError) as info:
        call_command("sandbox_check")
    assert "not reachable" in str(info.value) and "DockerBackend" in str(info.value)


def test_a_flooding_worker_is_stopped_and_removed_promptly(backend, engine, make_spec):
    """64 MB without a newline on the protocol pipe: the host stops reading at the message limit and the container
    is gone at once, not after the engine's stdio copy times out."""
    from runtime.sandbox.base import LimitExceeded

    source = PLUGIN + textwrap.dedent('''
        def flood():
            for _ in range(64):
                for fd in range(3, 64):
                    try:
                        if os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                            os.write(fd, b"A" * (1024 * 1024))
                    except OSError:
                        pass
            time.sleep(30)
    ''')
    spec = make_spec(source=source)
    connection = _connect(backend, spec)
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        connection.call("function", "flood", [], {}, host=_host, timeout=20)
    assert info.value.reason in ("output_flood", "message_size")
    assert time.monotonic() - started < 8
    assert _ours(engine, spec.key) == []
