"""The container backend: each warm worker is a container on a Docker engine, started through the docker SDK.

Same Protocol, same boot script, same worker protocol as the bubblewrap backend; only the walls differ. A container:
- runs settings.SANDBOX_DOCKER_IMAGE (runtime/sandbox/image/Dockerfile: Debian + Python + the SDK + boot.py), whose
  content label must match this code (else SandboxUnavailable: rebuild with `manage.py build_sandbox_image`);
- has no network (network_mode none), memory = memory+swap limit, a pids limit, a CPU quota (50% of one core),
  a read-only root, a size-limited noexec tmpfs on /tmp, the package read-only on /plugin and the installation's
  data directory on /data, all capabilities dropped, no-new-privileges, a non-root user, an init process (`--init`:
  Python as pid 1 would ignore SIGXCPU), ulimits, no log driver (a plugin cannot fill the engine's disk through
  stderr), and a seccomp profile generated from the boot script's own rule list (seccomp_rules);
- is attached (stdin + stdout) before it starts: the worker protocol runs over that hijacked connection, its frames
  demultiplexed into a pipe so protocol.WorkerConnection reads it as it reads a bwrap worker's stdout;
- is killed and removed through the API (killing a CLI client would leave it running), when the host's wall timeout
  fires or the pool lets it go;
- is labelled (aisquare.sandbox=1, installation, plugin, owner host/pid/start time): at start-up each process reaps
  the containers of owners on its host that no longer exist (a crashed host process), and spawning refuses past
  settings.SANDBOX_DOCKER_MAX_CONTAINERS per host.
Inside, the boot script still sets rlimits and loads its own in-process seccomp filter, so the policy is identical.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import platform
import select
import socket
import threading
from pathlib import Path
from typing import Any

from django.conf import settings

from runtime.sandbox import boot
from runtime.sandbox.base import SandboxError, SandboxUnavailable, WorkerSpec

logger = logging.getLogger(__name__)

MB = 1024 * 1024
LABEL = "aisquare.sandbox"
LABEL_INSTALLATION = "aisquare.sandbox.installation"
LABEL_PLUGIN = "aisquare.sandbox.plugin"
LABEL_OWNER_HOST = "aisquare.sandbox.owner-host"
LABEL_OWNER = "aisquare.sandbox.owner"  # "<pid>:<process start time in clock ticks>"
SANDBOX_UID = 10001  # the image's `plugin` user (runtime/sandbox/image/Dockerfile)
_counter = itertools.count()

# The container's own start needs these: runc execs docker-init, which forks and execs Python. The engine-level
# profile therefore leaves them to the boot script's in-process filter, which kills them before plugin code runs.
STARTUP_SYSCALLS = frozenset({"execve", "execveat", "fork", "vfork", "clone"})

MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys"]

READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", "/dev"]

_ACTIONS = {boot.SCMP_ACT_KILL_PROCESS: "SCMP_ACT_KILL_PROCESS", boot.SCMP_ACT_ALLOW: "SCMP_ACT_ALLOW"}
_OPS = {boot.SCMP_CMP_NE: "SCMP_CMP_NE", boot.SCMP_CMP_MASKED_EQ: "SCMP_CMP_MASKED_EQ"}
_ARCHES = {"x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
           "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]}


def seccomp_profile(*, for_engine: bool = True) -> dict[str, Any]:
    """The engine's JSON seccomp profile, translated rule by rule from boot.seccomp_rules() (one definition).

    With for_engine, the syscalls the container's init needs to start (STARTUP_SYSCALLS) are left out; the boot
    script's identical filter, loaded inside before any plugin code, covers them.
    """
    entries = []
    for action, name, cmps in boot.seccomp_rules():
        if for_engine and name in STARTUP_SYSCALLS:
            continue
        entry: dict[str, Any] = {"names": [name]}
        if action in _ACTIONS:
            entry["action"] = _ACTIONS[action]
        elif action & 0xFFFF0000 == 0x00050000:
            entry["action"], entry["errnoRet"] = "SCMP_ACT_ERRNO", action & 0xFFFF
        else:
            raise ValueError(f"no JSON form for seccomp action {action:#x}")
        if cmps:
            entry["args"] = [{"index": index, "op": _OPS[op], "value": value, "valueTwo": second}
                             for index, op, value, second in cmps]
        entries.append(entry)
    profile: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": entries}
    arches = _ARCHES.get(platform.machine())
    if arches:
        profile["architectures"] = arches
    return profile


def _process_start(pid: int) -> str | None:
    """A process's start time (clock ticks since boot): with the pid it names one process, whatever pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner() -> str:
    return f"{os.getpid()}:{_process_start(os.getpid())}"


def _owner_alive(owner: str) -> bool:
    pid, _, start = owner.partition(":")
    try:
        return _process_start(int(pid)) == start
    except ValueError:
        return False


class _SocketStdin:
    """The write side of the attached connection, as the `stdin` the worker protocol writes to."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class DockerWorker:
    """One container: the Protocol's WorkerProcess (stdin, stdout, poll, wait, kill_all, diagnose)."""

    def __init__(self, api, container_id: str, attach, sock: socket.socket):
        self.api = api
        self.container_id = container_id
        self.pid = 0  # the worker's pid lives in the container's namespace; the API names it by container id
        self._attach = attach  # keeps the hijacked HTTP response alive
        self._sock = sock
        self.stdin = _SocketStdin(sock)
        read_fd, self._pipe_w = os.pipe()
        self.stdout = os.fdopen(read_fd, "rb", buffering=0)
        self._ended = threading.Event()
        self._status: int | None = None
        self._killed = False
        self._pump = threading.Thread(target=self._demultiplex, name=f"sandbox-{container_id[:12]}", daemon=True)
        self._pump.start()

    def _demultiplex(self) -> None:
        """Copy the container's stdout frames (8-byte header: stream, 0, 0, 0, big-endian size) into the pipe."""
        buffer = bytearray()
        try:
            while True:
                try:
                    chunk = self._sock.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    # The protocol set the shared socket non-blocking for its writes: wait for data here.
                    select.select([self._sock], [], [], 1.0)
                    continue
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= 8:
                    size = int.from_bytes(buffer[4:8], "big")
                    if len(buffer) < 8 + size:
                        break
                    stream, payload = buffer[0], bytes(buffer[8:8 + size])
                    del buffer[:8 + size]
                    if stream == 1:
                        view = memoryview(payload)
                        while view:  # a blocking write: a host that stops reading holds the container back
                            view = view[os.write(self._pipe_w, view):]
        except OSError:
            pass
        finally:
            self._ended.set()
            try:
                os.close(self._pipe_w)
            except OSError:
                pass

    def poll(self) -> int | None:
        if not self._ended.is_set() and not self._killed:
            return None
        return self.wait(timeout=2)

    def wait(self, timeout: float | None = None) -> int:
        if self._status is None:
            try:
                result = self.api.wait(self.container_id, timeout=timeout or 60)
                self._status = int(result.get("StatusCode", -1))
            except Exception as exc:  # noqa: BLE001 - the engine's errors vary; the status is then unknown
                logger.warning("sandbox container %s: no exit status (%s)", self.container_id[:12], exc)
                return -1
        return self._status

    def diagnose(self) -> str | None:
        try:
            state = self.api.inspect_container(self.container_id).get("State") or {}
        except Exception:  # noqa: BLE001
            return None
        return "memory" if state.get("OOMKilled") else None

    def kill_all(self) -> None:
        """Kill and remove the container through the API, then release the connection and the pipe."""
        import docker.errors

        self._killed = True
        # Unblock the stream first: a flooding worker may have filled the pipe (the pump then waits to write) and the
        # engine's copy to us; with both ends closed the engine's kill is not held up by its stdio streams.
        for closing in (self.stdout.close, self.stdin.close):
            try:
                closing()
            except OSError:
                pass
        try:
            self.api.remove_container(self.container_id, force=True)
        except docker.errors.NotFound:
            pass
        except Exception as exc:  # noqa: BLE001
            logger.error("sandbox container %s could not be removed: %s", self.container_id[:12], exc)
        self._pump.join(timeout=5)
        for closing in (self._sock.close, getattr(self._attach, "close", lambda: None)):
            try:
                closing()
            except OSError:
                pass


class DockerBackend:
    name = "docker"
    _reaped: set[str] = set()
    _image_ok: dict[str, str] = {}
    _lock = threading.Lock()

    def __init__(self, *, base_url: str | None = None, image: str | None = None):
        self.base_url = base_url or settings.SANDBOX_DOCKER_HOST or "unix:///var/run/docker.sock"
        self.image = image or settings.SANDBOX_DOCKER_IMAGE
        self.max_containers = settings.SANDBOX_DOCKER_MAX_CONTAINERS
        self.hostname = socket.gethostname()
        self._api = None

    # -- the engine ------------------------------------------------------------------------------------------------

    @property
    def api(self):
        if self._api is None:
            try:
                import docker
            except ImportError:
                raise SandboxUnavailable("the docker SDK is not installed (pip install docker)") from None
            self._api = docker.APIClient(base_url=self.base_url, timeout=30, version="auto")
        return self._api

    def check_available(self) -> None:
        """Engine reachable, image present and current; on the first check of a process, reap crash leftovers."""
        import docker.errors
        import requests.exceptions

        from runtime.sandbox import docker_image

        try:
            self.api.ping()
        except SandboxUnavailable:
            raise
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise SandboxUnavailable(f"the Docker engine at {self.base_url} is not reachable ({exc}); plugin code "
                                     "will not run (start dockerd, or set SANDBOX_DOCKER_HOST)") from None
        with self._lock:
            known = self._image_ok.get(self.base_url)
        if known != self.image:
            expected = docker_image.content_hash()
            labels = docker_image.image_labels(self.api, self.image)
            if labels is None:
                raise SandboxUnavailable(f"the sandbox image {self.image} is not on the engine at {self.base_url}: "
                                         "build it with `python manage.py build_sandbox_image`")
            if labels.get(docker_image.LABEL_CONTENT) != expected:
                raise SandboxUnavailable(f"the sandbox image {self.image} was built from another version of the "
                                         "boot script or SDK: rebuild it with `python manage.py build_sandbox_image`")
            with self._lock:
                self._image_ok[self.base_url] = self.image
        # Once per process (a pid: a forked Celery child replacing a crashed one reaps its predecessor's containers).
        marker = f"{os.getpid()}@{self.base_url}"
        with self._lock:
            first = marker not in self._reaped
            self._reaped.add(marker)
        if first:
            self.reap()

    def _ours(self, *, running_only: bool = False) -> list[dict]:
        filters = {"label": [f"{LABEL}=1", f"{LABEL_OWNER_HOST}={self.hostname}"]}
        if running_only:
            filters["status"] = ["created", "running"]
        return self.api.containers(all=not running_only, filters=filters)

    def reap(self) -> int:
        """Remove this host's sandbox containers whose owner process is gone (the host crashed or was killed)."""
        removed = 0
        for container in self._ours():
            owner = (container.get("Labels") or {}).get(LABEL_OWNER, "")
            if _owner_alive(owner):
                continue
            try:
                self.api.remove_container(container["Id"], force=True)
                removed += 1
            except Exception as exc:  # noqa: BLE001
                logger.warning("could not reap sandbox container %s: %s", container["Id"][:12], exc)
        if removed:
            logger.warning("reaped %d sandbox container(s) left by a crashed host process", removed)
        return removed

    # -- a worker --------------------------------------------------------------------------------------------------

    def _host_config(self, spec: WorkerSpec) -> dict:
        from docker.types import LogConfig, Ulimit

        limits = spec.limits
        memory = (limits.memory_mb + 64) * MB  # the interpreter and docker-init need a little above RLIMIT_AS
        nofile = limits.max_open_files + 8  # boot.py lowers it to max_open_files before any plugin code
        config = self.api.create_host_config(
            binds={str(spec.code_dir): {"bind": "/plugin", "mode": "ro"},
                   str(spec.data_dir): {"bind": "/data", "mode": "rw"}},
            tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmp_mb}m,mode=1777"},  # noqa: S108 - inside
            read_only=True,
            network_mode="none",
            ipc_mode="none",  # no /dev/shm, no /dev/mqueue: no memory outside the rlimits' view
            mem_limit=memory,
            memswap_limit=memory,
            pids_limit=limits.max_threads + 4,
            cpu_period=100_000,
            cpu_quota=limits.cpu_quota,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true", "seccomp=" + json.dumps(seccomp_profile())],
            init=True,
            ulimits=[
                Ulimit(name="nofile", soft=nofile, hard=nofile),
                Ulimit(name="fsize", soft=limits.disk_mb * MB, hard=limits.disk_mb * MB),
                Ulimit(name="cpu", soft=limits.worker_cpu_seconds + 2, hard=limits.worker_cpu_seconds + 2),
                Ulimit(name="core", soft=0, hard=0),
                Ulimit(name="memlock", soft=0, hard=0),
                Ulimit(name="msgqueue", soft=0, hard=0),
                Ulimit(name="sigpending", soft=64, hard=64),
            ],
            log_config=LogConfig(type="none"),
        )
        # The engine's default masked paths, plus all of /sys (cgroup files, devices: nothing a plugin needs), and its
        # default read-only paths plus /dev (a tmpfs: writable, it would be memory no rlimit counts).
        config["MaskedPaths"] = MASKED_PATHS
        config["ReadonlyPaths"] = READONLY_PATHS
        return config

    def _share_code_dir(self, code_dir: Path) -> None:
        """Let the sandbox's group read the package (installed root-owned and owner-only): group SANDBOX_UID, r-x."""
        if os.geteuid() != 0 or code_dir.stat().st_gid == SANDBOX_UID:
            return
        for root, dirs, files in os.walk(code_dir):
            for name in dirs:
                path = os.path.join(root, name)
                os.lchown(path, -1, SANDBOX_UID)
                os.chmod(path, (os.stat(path).st_mode & 0o7777) | 0o050)
            for name in files:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    os.lchown(path, -1, SANDBOX_UID)
                    os.chmod(path, (os.stat(path).st_mode & 0o7777 & ~0o020) | 0o040)
        os.chown(code_dir, -1, SANDBOX_UID)
        os.chmod(code_dir, (code_dir.stat().st_mode & 0o7777) | 0o050)

    def _prepare_data_dir(self, data_dir: Path) -> None:
        """The worker runs as SANDBOX_UID: give it this installation's data directory (and nothing else)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or data_dir.stat().st_uid == SANDBOX_UID:
            if os.geteuid() != 0:
                os.chmod(data_dir, 0o777)  # noqa: S103 - unprivileged dev host: the container uid must write here
            return
        for root, dirs, files in os.walk(data_dir):
            for name in (*dirs, *files):
                os.lchown(os.path.join(root, name), SANDBOX_UID, SANDBOX_UID)
        os.chown(data_dir, SANDBOX_UID, SANDBOX_UID)

    def spawn(self, spec: WorkerSpec) -> DockerWorker:
        import docker.errors

        self.check_available()
        if self.max_containers and len(self._ours(running_only=True)) >= self.max_containers:
            raise SandboxError(f"this host already runs {self.max_containers} sandbox containers "
                               "(SANDBOX_DOCKER_MAX_CONTAINERS); try again shortly", reason="capacity")
        limits = spec.limits
        config = {
            "main": spec.main,
            "limits": {
                "memory_mb": limits.memory_mb, "disk_mb": limits.disk_mb, "max_open_files": limits.max_open_files,
                "max_threads": limits.max_threads, "worker_cpu_seconds": limits.worker_cpu_seconds,
                "max_message_bytes": limits.max_message_bytes,
                "nproc": False,  # per-uid across the host: the container's pids limit bounds it instead
            },
            "info": spec.info,
        }
        self._share_code_dir(Path(spec.code_dir))
        self._prepare_data_dir(Path(spec.data_dir))
        labels = {
            LABEL: "1", LABEL_INSTALLATION: str(spec.key)[:200],
            LABEL_PLUGIN: str(spec.info.get("plugin_id", ""))[:200],
            LABEL_OWNER_HOST: self.hostname, LABEL_OWNER: _owner(),
        }
        name = f"aisq-sbx-{str(spec.key)[:12]}-{os.getpid()}-{next(_counter)}"
        container_id = None
        try:
            container = self.api.create_container(
                self.image, command=[json.dumps(config)], name=name, labels=labels,
                user=f"{SANDBOX_UID}:{SANDBOX_UID}", hostname="sandbox", working_dir="/data",
                environment={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/data"},
                stdin_open=True, detach=False, tty=False, network_disabled=True,  # detach=False: StdinOnce
                host_config=self._host_config(spec),
            )
            container_id = container["Id"]
            # Attach before start, so not a byte of the protocol is missed.
            attach = self.api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stream": 1})
            sock = getattr(attach, "_sock", attach)
            worker = DockerWorker(self.api, container_id, attach, sock)
            try:
                self.api.start(container_id)
            except Exception:
                worker.kill_all()
                container_id = None
                raise
            return worker
        except docker.errors.ImageNotFound:
            self._forget_image()
            raise SandboxUnavailable(f"the sandbox image {self.image} is missing: build it with "
                                     "`python manage.py build_sandbox_image`") from None
        except docker.errors.DockerException as exc:
            if container_id:
                try:
                    self.api.remove_container(container_id, force=True)
                except docker.errors.DockerException:
                    pass
            raise SandboxUnavailable(f"the Docker engine could not start a sandbox container: {exc}") from None

    def _forget_image(self) -> None:
        with self._lock:
            self._image_ok.pop(self.base_url, None)
