"""A private Docker engine for the container-backend tests, CI and the benchmark, that leaves the host as it found it.

dockerd normally adds a docker0 bridge, iptables rules and turns on ip_forward. Sandbox containers have no network
(network_mode none), so this engine runs with --bridge=none --iptables=false --ip-forward=false --ip-masq=false:
`start` checks that the host's network state is unchanged afterwards (and repairs it if not), `stop` kills the
engine by its pid and checks again. Its data root (images: the cached worker image) persists between runs.

    python -m tests.runtime.docker_engine start|stop|status|build
`start` prints the engine's URL (for SANDBOX_DOCKER_HOST) on its last line; it exits 3 with the reason when no
engine can run here.
"""

from __future__ import annotations

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


def start(log=print, timeout: float = 30) -> tuple[str, bool]:
    """Start the private engine (or find it running). Returns (url, started_here)."""
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


def stop(log=print) -> None:
    pid = _pid()
    if pid is None:
        return
    before = network_state()
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(150):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PIDFILE.unlink(missing_ok=True)
    shutil.rmtree(RUN / "exec", ignore_errors=True)
    _restore(before, log)
    log(f"private dockerd (pid {pid}) stopped")


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
        stop()
        return 0
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
