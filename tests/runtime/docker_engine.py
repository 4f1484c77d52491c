"""A private Docker engine for the container-backend tests, CI and the benchmark, that leaves the host as it found it.

dockerd normally adds a docker0 bridge, iptables rules and turns on ip_forward. Sandbox containers have no network
(network_mode none), so this engine runs with --bridge=none --iptables=false --ip-forward=false --ip-masq=false:
`start` checks that the host's network state is unchanged afterwards (and repairs it if not), `stop` kills the
engine by its pid and checks again. Its data root (images: the cached worker image) persists between runs.

    python -m tests.runtime.docker_engine start|stop [--force]|status|build
`start` prints the engine's URL (for SANDBOX_DOCKER_HOST) on its last line; it exits 3 with the reason when no
engine can run here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("AISQUARE_DOCKER_STATE", "/var/cache/aisquare-sandbox"))
RUN = Path(os.environ.get("AISQUARE_DOCKER_RUN", "/run/aisquare-sandbox"))
SOCKET = RUN / "docker.sock"
PIDFILE = RUN / "dockerd.pid"
LOG = STATE / "dockerd.log"
URL = f"unix://{SOCKET}"


class EngineUnavailable(Exception):
    """No private engine can run here; the message says why, plainly."""


def _ping(url: str = URL, timeout: float = 2) -> bool:
    import docker

    try:
        return bool(docker.APIClient(base_url=url, timeout=timeout, version="auto").ping())
    except Exception:  # noqa: BLE001 - any failure means "not up"
        return False


def network_state() -> dict:
    """What dockerd could change on the host: ip_forward, a docker0 link, DOCKER chains in iptables."""
    state = {"ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
             "docker0": Path("/sys/class/net/docker0").exists()}
    iptables = shutil.which("iptables")
    if iptables:
        rules = subprocess.run([iptables, "-S"], capture_output=True, text=True).stdout
        nat = subprocess.run([iptables, "-t", "nat", "-S"], capture_output=True, text=True).stdout
        state["iptables_docker"] = "DOCKER" in rules or "DOCKER" in nat
    return state


def _restore(before: dict, log) -> None:
    after = network_state()
    if after == before:
        return
    log(f"dockerd changed the host network state {before} -> {after}: restoring")
    if after["ip_forward"] != before["ip_forward"]:
        Path("/proc/sys/net/ipv4/ip_forward").write_text(before["ip_forward"])
    if after["docker0"] and not before["docker0"]:
        subprocess.run(["ip", "link", "delete", "docker0"], capture_output=True)


def _pid() -> int | None:
    try:
        return int(PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked():
    """One start/stop/register at a time across processes: test sessions and CI share the engine."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "engine.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start(log=print, timeout: float = 30, *, register: bool = False) -> tuple[str, bool]:
    """Start the private engine (or find it running). Returns (url, started_here).

    register: also count this process as a user (see acquire), in the same locked step, so that no `stop` can fall
    between finding the engine up and registering.
    """
    with _locked():
        url, started = _start(log, timeout)
        if register:
            _acquire(started)
        return url, started


def _start(log, timeout: float) -> tuple[str, bool]:
    if _ping():
        return URL, False
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not os.path.exists(dockerd):
        raise EngineUnavailable("dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise EngineUnavailable("dockerd needs root here, and this process is not root")
    STATE.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    stale = _pid()
    if stale:
        try:
            os.kill(stale, 0)
            raise EngineUnavailable(f"a dockerd (pid {stale}) holds {PIDFILE} but does not answer on {SOCKET}")
        except ProcessLookupError:
            PIDFILE.unlink(missing_ok=True)
    before = network_state()
    started = time.monotonic()
    with LOG.open("ab") as output:
        proc = subprocess.Popen(
            [dockerd, "--data-root", str(STATE / "docker-data"), "--exec-root", str(RUN / "exec"),
             "-H", URL, "--pidfile", str(PIDFILE), "--bridge=none", "--iptables=false", "--ip-forward=false",
             "--ip-masq=false", "--userland-proxy=false", "--log-level=warn"],
            stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True,
        )
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            tail = LOG.read_text(errors="replace")[-1500:]
            _restore(before, log)
            raise EngineUnavailable(f"dockerd exited at start-up with status {proc.returncode}:\n{tail}")
        if _ping():
            break
        time.sleep(0.1)
    else:
        os.kill(proc.pid, signal.SIGKILL)
        _restore(before, log)
        raise EngineUnavailable(f"dockerd did not answer within {timeout:.0f} s (log: {LOG})")
    _restore(before, log)
    log(f"private dockerd (pid {proc.pid}) ready on {URL} in {time.monotonic() - started:.2f} s")
    return URL, True


USERS = RUN / "users"
STOP_WHEN_IDLE = RUN / "stop-when-idle"


def acquire(*, started: bool) -> None:
    """Register this process as a user of the engine (several test sessions may share it)."""
    with _locked():
        _acquire(started)


def _acquire(started: bool) -> None:
    USERS.mkdir(parents=True, exist_ok=True)
    (USERS / str(os.getpid())).touch()
    if started:
        STOP_WHEN_IDLE.touch()  # started for tests: stopped when its last user is done


def release(log=print) -> bool:
    """Unregister; stop the engine if a test session started it and no other live process uses it."""
    with _locked():
        return _release(log)


def _release(log) -> bool:
    (USERS / str(os.getpid())).unlink(missing_ok=True)
    for user in USERS.glob("*") if USERS.exists() else ():
        try:
            os.kill(int(user.name), 0)
            return False  # still in use
        except (ProcessLookupError, ValueError):
            user.unlink(missing_ok=True)
    if STOP_WHEN_IDLE.exists():
        STOP_WHEN_IDLE.unlink(missing_ok=True)
        _stop(log)
        return True
    return False


def stop(log=print, *, force: bool = False) -> bool:
    """Stop the engine unless a live test session uses it (force: regardless). True if stopped."""
    with _locked():
        users = [u.name for u in USERS.glob("*") if _alive(u.name)] if USERS.exists() else []
        if users and not force:
            log(f"the private dockerd is in use by pid(s) {', '.join(users)}: not stopped (--force to stop anyway)")
            return False
        _stop(log)
        return True


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (ProcessLookupError, ValueError):
        return False


def _stop(log) -> None:
    pid = _pid()
    if pid is None:
        return
    before = network_state()
    try:  # sandbox containers first: a quicker, cleaner shutdown
        import docker

        api = docker.APIClient(base_url=URL, timeout=20, version="auto")
        for container in api.containers(all=True, filters={"label": ["aisquare.sandbox=1"]}):
            api.remove_container(container["Id"], force=True)
    except Exception:  # noqa: BLE001, S110 - the engine may already be gone
        pass
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PIDFILE.unlink(missing_ok=True)
    _kill_orphan_shims(log)
    shutil.rmtree(RUN / "exec", ignore_errors=True)
    _restore(before, log)
    log(f"private dockerd (pid {pid}) stopped")


def _kill_orphan_shims(log) -> None:
    """containerd shims of THIS engine (their command line names its exec root) that outlived it."""
    marker = str(RUN / "exec" / "containerd").encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"/usr/bin/containerd-shim") and marker in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                log(f"killed an orphaned containerd shim of the private engine (pid {entry.name})")
            except ProcessLookupError:
                pass


def build(url: str = URL, log=print) -> bool:
    """Build (or find current) the worker image on the engine; see runtime.sandbox.docker_image."""
    import docker

    from runtime.sandbox import docker_image

    api = docker.APIClient(base_url=url, timeout=600, version="auto")
    tag = os.environ.get("SANDBOX_DOCKER_IMAGE", "aisquare/plugin-sandbox:latest")
    return docker_image.build_image(api, tag=tag, log=log)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        try:
            url, _ = start()
        except EngineUnavailable as exc:
            print(f"no Docker engine: {exc}", file=sys.stderr)
            return 3
        print(url)
        return 0
    if command == "stop":
        return 0 if stop(force="--force" in argv) else 4
    if command == "build":
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aisquare_plugins.settings")
        import django

        django.setup()
        build(os.environ.get("SANDBOX_DOCKER_HOST", URL))
        return 0
    print(f"{URL} {'up' if _ping() else 'down'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
