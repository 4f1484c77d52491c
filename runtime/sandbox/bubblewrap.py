"""The bubblewrap backend: every worker in fresh user/pid/net/ipc/uts/cgroup namespaces, no network, read-only code.

Layout inside: /usr (read-only, the system Python and libseccomp), /plugin (the package, read-only), /data (this
installation's data directory), /tmp (a size-limited tmpfs), /sandbox (the boot script and the SDK, read-only),
a fresh /proc and a minimal /dev. uid/gid 65534 inside, which is an unprivileged host user outside (never root): the
host does the privileged set-up (cgroups, the data volume's mount, ownership, the mount slot that presents code and
data to bwrap: runtime.sandbox.slots) and then starts bwrap through `setpriv` as that user. bwrap itself starts with
an empty environment (its pid-1 helper would otherwise expose the host's environment in /proc/1/environ). The boot
script then sets rlimits and loads the seccomp filter before any plugin code runs. Where the host allows it (cgroup
v1 controllers writable), each worker also gets its own memory, pids and cpu (50% of one core) cgroup.

`spawn_spare` boots the same sandbox for no installation yet and `assign` later gives it to one (see pool.SparePool).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import pwd
import select
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from django.conf import settings

from runtime.sandbox import slots
from runtime.sandbox.base import Limits, SandboxUnavailable, WorkerSpec
from runtime.sandbox.protocol import READY_TIMEOUT

logger = logging.getLogger(__name__)

BWRAP = "/usr/bin/bwrap"
PYTHON = "/usr/bin/python3"
SETPRIV = "/usr/bin/setpriv"
BOOT = Path(__file__).with_name("boot.py")
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("memory", "pids", "cpu")
MB = 1024 * 1024
_counter = itertools.count()


BOOT_COMMAND = "import sys; sys.path.insert(0, '/sandbox'); import boot; del sys.path[0]; boot.main()"


@functools.cache
def _ensure_bytecode(sdk_dir: Path) -> Path | None:
    """Compile the boot script and the SDK once per host process: the sandbox (read-only, -B) must never compile
    them at each cold start. Same interpreter minor version inside and out (the pyc magic is per minor version)."""
    import compileall
    import py_compile
    import sys

    if sys.version_info[:2] != (3, 11):
        return None
    try:
        compileall.compile_dir(str(sdk_dir), quiet=2, workers=1)
        return Path(py_compile.compile(str(BOOT), doraise=True))
    except (OSError, py_compile.PyCompileError) as exc:
        logger.warning("cannot precompile the sandbox's boot script and SDK: %s", exc)
        return None


def _sdk_dir() -> Path:
    import aisquare_plugin_sdk

    return Path(aisquare_plugin_sdk.__file__).parent


def host_identity() -> tuple[int, int]:
    """The unprivileged host uid/gid that bwrap and everything inside the sandbox run as.

    SANDBOX_HOST_UID/GID when set; a host that is not root runs sandboxes as itself; a root host uses the system user
    SANDBOX_HOST_USER, created on first use. Never root: a kernel escape must not land as root on the host.
    """
    uid, gid = settings.SANDBOX_HOST_UID, settings.SANDBOX_HOST_GID
    if not uid:
        if os.geteuid() != 0:
            uid, gid = os.getuid(), os.getgid()
        else:
            uid, gid = _system_user(settings.SANDBOX_HOST_USER)
    gid = gid or uid
    if uid == 0 or gid == 0:
        raise SandboxUnavailable("the sandbox's host user must not be root (SANDBOX_HOST_UID/GID)")
    return uid, gid


@functools.cache
def _system_user(name: str) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        # Another process may be creating it at the same moment: look again whatever useradd said.
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", name], capture_output=True, timeout=30,
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, check=False)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise SandboxUnavailable(f"the sandbox's host user {name!r} does not exist and could not be created "
                                     "(set SANDBOX_HOST_UID/GID)") from None
    return entry.pw_uid, entry.pw_gid


_shared_code: set[tuple[Path, int, int]] = set()


def share_code(code_dir: Path, main: str, gid: int) -> None:
    """Let the sandbox's group read a version's code (owner root, group read-only, nobody else). Once per process and
    code generation (code edited in development is shared again). The sandbox also mounts it read-only."""
    if os.geteuid() != 0:
        return
    try:
        generation = (code_dir, (code_dir / main).stat().st_mtime_ns, gid)
    except OSError:
        generation = (code_dir, 0, gid)
    if generation in _shared_code:
        return
    for root, _dirs, files in os.walk(code_dir):
        os.chown(root, 0, gid, follow_symlinks=False)
        os.chmod(root, 0o550)  # noqa: S103 - read and search for the sandbox's group only
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chown(path, 0, gid, follow_symlinks=False)
                os.chmod(path, 0o440)
    _shared_code.add(generation)


def own_data_dir(data_dir: Path, uid: int, gid: int) -> None:
    """Give the installation's data directory (or the root of its mounted volume) to the sandbox's host user, mode
    0700: writable by the sandbox, by no other host user, and reachable by no other sandbox (not in its mounts).
    Files written while sandboxes still ran as root are handed over the first time."""
    info = os.stat(data_dir)
    if (info.st_uid, info.st_gid) == (uid, gid) and info.st_mode & 0o777 == 0o700:
        return
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(data_dir):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
        os.chown(data_dir, uid, gid)
    os.chmod(data_dir, 0o700)


class CgroupSet:
    """One worker's cgroup in each v1 controller. Best effort: absent when the host does not allow it."""

    def __init__(self, name: str, paths: list[Path]):
        self.name = name
        self.paths = paths

    @classmethod
    def available(cls) -> bool:
        return all(os.access(CGROUP_ROOT / c, os.W_OK) for c in CGROUP_CONTROLLERS)

    @classmethod
    def create(cls, name: str, limits: Limits) -> CgroupSet | None:
        if not cls.available():
            return None
        cgroups = cls(name, [])
        try:
            for controller in CGROUP_CONTROLLERS:
                path = CGROUP_ROOT / controller / "aisquare-sandbox" / name
                path.mkdir(parents=True, exist_ok=True)
                cgroups.paths.append(path)
            cgroups.set_limits(limits)
        except OSError as exc:
            logger.warning("sandbox cgroups unavailable (%s); relying on rlimits and seccomp", exc)
            cgroups.remove()
            return None
        return cgroups

    def set_limits(self, limits: Limits) -> None:
        memory, pids, cpu = self.paths
        # The bwrap helper and the interpreter's own pages need a little room above the plugin's address space.
        (memory / "memory.limit_in_bytes").write_text(str((limits.memory_mb + 64) * MB))
        try:
            (memory / "memory.memsw.limit_in_bytes").write_text(str((limits.memory_mb + 64) * MB))
        except OSError:
            pass
        (pids / "pids.max").write_text(str(limits.max_threads + 4))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text(str(limits.cpu_quota))

    @staticmethod
    def reap_orphans() -> None:
        """Remove the cgroups of host processes that died without cleaning up (named "<owner pid>-<n>-<key>")."""
        for controller in CGROUP_CONTROLLERS:
            parent = CGROUP_ROOT / controller / "aisquare-sandbox"
            try:
                names = [p.name for p in parent.iterdir() if p.is_dir()]
            except OSError:
                continue
            for name in names:
                owner = name.split("-", 1)[0]
                if not owner.isdigit() or slots.process_alive(int(owner)):
                    continue
                CgroupSet(name, [parent / name]).remove()

    @contextlib.contextmanager
    def entered_by_this_thread(self):
        """Move the calling THREAD into the worker's cgroups while it starts the worker, then back.

        A child inherits the cgroups of the thread that forks it, so bwrap and everything it starts land in the
        worker's cgroups from their first instruction, with no race and without a preexec_fn (which would force a
        full fork() of this large process instead of vfork(): ~15 ms per cold start). cgroup v1 lets threads of one
        process live in different cgroups.

        The thread names itself "0" (the writing thread), not by its id: the kernel then skips the global
        threadgroup lock, whose write side waits for an RCU grace period (~8 ms per move on this machine).
        """
        tid = str(threading.get_native_id())
        original = {}
        for line in Path(f"/proc/self/task/{tid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                original[controller] = path
        moved = []
        try:
            for controller, path in zip(CGROUP_CONTROLLERS, self.paths, strict=True):
                (path / "tasks").write_text("0")
                moved.append(controller)
            yield
        finally:
            for controller in moved:
                home = CGROUP_ROOT / controller / original.get(controller, "/").lstrip("/")
                try:
                    (home / "tasks").write_text("0")
                except OSError:
                    (CGROUP_ROOT / controller / "tasks").write_text("0")

    def oom_killed(self) -> bool:
        try:
            text = (self.paths[0] / "memory.oom_control").read_text()
            for line in text.splitlines():
                if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                    return True
            return int((self.paths[0] / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError, IndexError):
            return False

    def peak_memory_kb(self) -> int | None:
        try:
            return int((self.paths[0] / "memory.max_usage_in_bytes").read_text()) // 1024
        except (OSError, ValueError, IndexError):
            return None

    def remove(self) -> None:
        for path in self.paths:
            try:
                for pid in (path / "cgroup.procs").read_text().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
            except OSError:
                pass
        for path in self.paths:
            for _ in range(200):  # the sandboxed processes may take a moment to be reaped after SIGKILL
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    threading.Event().wait(0.01)


class BubblewrapProcess(subprocess.Popen):
    """A bwrap worker: a Popen that also kills its process group and releases its cgroups and mount slot."""

    cgroups: CgroupSet | None = None
    slot: slots.MountSlot | None = None
    spare_limits: Limits | None = None  # a spare: booted with these limits, not yet given to an installation

    def started(self) -> None:
        """The worker is up (its mount namespace holds its own copies): detach the slot's mounts on the host."""
        if self.slot:
            self.slot.release()

    def kill_all(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.kill()
        except ProcessLookupError:
            pass
        try:
            self.wait(timeout=5)
        except subprocess.TimeoutExpired:
            logger.error("sandbox worker %s did not die", self.pid)
        for stream in (self.stdin, self.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
        if self.cgroups:
            self.cgroups.remove()
            self.cgroups = None
        if self.slot:
            self.slot.release()
            self.slot.remove()
            self.slot = None

    def diagnose(self) -> str | None:
        if self.cgroups and self.cgroups.oom_killed():
            return "memory"
        return None

    def peak_memory_kb(self) -> int | None:
        return self.cgroups.peak_memory_kb() if self.cgroups else None


class BubblewrapBackend:
    name = "bubblewrap"
    _probed: bool | None = None
    _probe_error: str = ""

    _reaped = False

    def __init__(self, *, bwrap: str = BWRAP, python: str = PYTHON):
        self.bwrap = bwrap
        self.python = python
        self.sdk_dir = _sdk_dir()
        self.boot_pyc = _ensure_bytecode(self.sdk_dir)
        if not BubblewrapBackend._reaped and CgroupSet.available():
            BubblewrapBackend._reaped = True
            CgroupSet.reap_orphans()

    def check_available(self) -> None:
        if not (os.path.isfile(self.bwrap) and os.access(self.bwrap, os.X_OK)):
            raise SandboxUnavailable(f"bubblewrap is not installed ({self.bwrap}); plugin code will not run "
                                     "without a sandbox (apt-get install bubblewrap)")
        if not os.access(self.python, os.X_OK):
            raise SandboxUnavailable(f"the sandbox interpreter {self.python} is missing")
        if not any(Path(d, "libseccomp.so.2").exists() for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib",
                                                                  "/usr/lib/aarch64-linux-gnu", "/usr/lib64")):
            raise SandboxUnavailable("libseccomp2 is missing; the sandbox cannot load its system-call filter")
        launcher = self.launcher()  # refuses to run bwrap as root
        cls = type(self)
        if cls._probed is None:
            try:
                proc = subprocess.run(launcher + self._bwrap_args(None, None, tmp_mb=1) + ["/usr/bin/true"],
                                      env={"PATH": "/usr/bin"}, capture_output=True, timeout=10)
                cls._probed = proc.returncode == 0
                cls._probe_error = proc.stderr.decode(errors="replace")[:300]
            except (OSError, subprocess.TimeoutExpired) as exc:
                cls._probed, cls._probe_error = False, str(exc)
        if not cls._probed:
            raise SandboxUnavailable(f"bubblewrap cannot create namespaces here: {cls._probe_error.strip()}")

    def launcher(self) -> list[str]:
        """What starts bwrap as the sandbox's host user. A root host drops to it through setpriv (an exec of ~1 ms,
        where Popen(user=...) would fork() this whole process instead of vfork()); any other host already is it."""
        uid, gid = host_identity()
        if os.geteuid() != 0:
            return []
        if not os.access(SETPRIV, os.X_OK):
            raise SandboxUnavailable(f"{SETPRIV} (util-linux) is missing: bubblewrap would run as root")
        return [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all"]

    def _bwrap_args(self, code_dir: Path | None, data_dir: Path | None, *, tmp_mb: int) -> list[str]:
        args = [
            self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
            "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/data", "--setenv", "LANG", "C.UTF-8",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(tmp_mb * MB), "--tmpfs", "/tmp",  # noqa: S108 - the sandbox's own tmpfs
        ]
        if code_dir is not None:
            args += ["--ro-bind", str(code_dir), "/plugin"]
        if data_dir is not None:
            args += ["--bind", str(data_dir), "/data"]
        else:
            args += ["--dir", "/data"]
        args += [
            "--ro-bind", str(BOOT), "/sandbox/boot.py",
            *(["--ro-bind", str(self.boot_pyc), f"/sandbox/__pycache__/{self.boot_pyc.name}"] if self.boot_pyc else []),
            "--ro-bind", str(self.sdk_dir), "/sandbox/lib/aisquare_plugin_sdk",
            "--remount-ro", "/",
            # /dev is a tmpfs without a size limit: read-only, so it cannot be used to hoard memory or "disk"
            # (its device nodes are bind mounts of their own and stay usable).
            "--remount-ro", "/dev",
            "--uid", "65534", "--gid", "65534",
            "--chdir", "/data",
        ]
        return args

    def spawn(self, spec: WorkerSpec) -> BubblewrapProcess:
        self.check_available()
        try:
            slot = self._prepare(spec)
        except OSError as exc:
            raise SandboxUnavailable(f"cannot prepare the sandbox's code and data: {exc}") from None
        try:
            code_dir, data_dir = (slot.plugin, slot.data) if slot else (spec.code_dir, spec.data_dir)
            config = {"main": spec.main, "limits": _boot_limits(spec.limits), "info": spec.info}
            return self._start(spec.key, spec.limits, code_dir, data_dir, config, slot)
        except BaseException:
            if slot:
                slot.release()
                slot.remove()
            raise

    def spares_supported(self) -> bool:
        return slots.supported()

    def spawn_spare(self) -> BubblewrapProcess:
        """Start a worker for no installation yet: bwrap, the interpreter, rlimits, seccomp and the worker's imports,
        all done ahead; its /plugin and /data are empty until `assign` gives it to exactly one installation. It has
        never run plugin code, so it carries nothing of anyone's. Blocks until the spare is booted."""
        self.check_available()
        if not slots.supported():
            raise SandboxUnavailable("spare workers need mount slots (a root host with the new mount API)")
        limits = Limits.from_settings()
        slot = slots.MountSlot.create("spare", shared=True)
        try:
            process = self._start("spare", limits, slot.plugin, slot.data,
                                  {"spare": True, "limits": _boot_limits(limits)}, slot)
        except BaseException:
            slot.release()
            slot.remove()
            raise
        try:
            message = _read_line(process.stdout.fileno(), READY_TIMEOUT)
        except OSError as exc:
            process.kill_all()
            raise SandboxUnavailable(f"a spare sandbox worker did not boot: {exc}") from None
        if message != b'{"type":"spare"}':
            process.kill_all()
            raise SandboxUnavailable(f"a spare sandbox worker did not boot: {message[:200]!r}")
        process.spare_limits = limits
        return process

    def assign(self, spare: BubblewrapProcess, spec: WorkerSpec) -> BubblewrapProcess | None:
        """Give a booted spare to one installation: its code and data reach the spare's /plugin and /data through the
        slot (then the slot is cut off from the host), its limits go to the cgroups and, through the first message,
        to the rlimits. None when the spare cannot take this spec (a limit fixed at boot would be looser)."""
        booted = spare.spare_limits
        if booted is None or spare.slot is None or spare.poll() is not None or not _fits(spec.limits, booted):
            return None
        uid, gid = host_identity()
        share_code(spec.code_dir, spec.main, gid)
        own_data_dir(spec.data_dir, uid, gid)
        try:
            spare.slot.attach(spec.code_dir, spec.data_dir)
        finally:
            spare.slot.release()
        spare.spare_limits = None
        if spare.cgroups:
            spare.cgroups.set_limits(spec.limits)
        config = {"main": spec.main, "limits": _boot_limits(spec.limits), "info": spec.info}
        _write_all(spare.stdin.fileno(), json.dumps({"type": "assign", "config": config}).encode() + b"\n")
        return spare

    def _prepare(self, spec: WorkerSpec) -> slots.MountSlot | None:
        """The privileged part, done by the host before bwrap starts as the sandbox user: ownership of the code and
        data directories and, on a root host, the slot that presents them to bwrap."""
        uid, gid = host_identity()
        share_code(spec.code_dir, spec.main, gid)
        own_data_dir(spec.data_dir, uid, gid)
        if not slots.supported():
            return None
        slot = slots.MountSlot.create(spec.key)
        try:
            slot.attach(spec.code_dir, spec.data_dir)
        except OSError:
            slot.release()
            slot.remove()
            raise
        return slot

    def _start(self, key: str, limits: Limits, code_dir: Path, data_dir: Path, config: dict,
               slot: slots.MountSlot | None) -> BubblewrapProcess:
        argv = self.launcher() + self._bwrap_args(code_dir, data_dir, tmp_mb=limits.tmp_mb) + [
            # Imported, not run as a script, so that its precompiled bytecode is used.
            self.python, "-I", "-S", "-B", "-c", BOOT_COMMAND, json.dumps(config),
        ]
        cgroups = CgroupSet.create(f"{os.getpid()}-{next(_counter)}-{key[:12]}", limits)
        stderr = None if os.environ.get("SANDBOX_DEBUG_STDERR") else subprocess.DEVNULL
        try:
            with cgroups.entered_by_this_thread() if cgroups else contextlib.nullcontext():
                proc = BubblewrapProcess(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                    env={"PATH": "/usr/bin"}, start_new_session=True, close_fds=True, bufsize=0,
                )
        except OSError as exc:
            if cgroups:
                cgroups.remove()
            raise SandboxUnavailable(f"cannot start bubblewrap: {exc}") from None
        proc.cgroups = cgroups
        proc.slot = slot
        return proc


# The limits a worker's boot script enforces itself (rlimits); the rest are the host's (cgroups, timeouts, API).
BOOT_LIMITS = ("memory_mb", "disk_mb", "max_open_files", "max_threads", "worker_cpu_seconds", "max_message_bytes")


def _boot_limits(limits: Limits) -> dict:
    return {name: getattr(limits, name) for name in BOOT_LIMITS}


def _fits(wanted: Limits, booted: Limits) -> bool:
    """Whether a spare booted with `booted` can be tightened to `wanted` (rlimits only go down; /tmp's size is fixed
    when bwrap mounts it)."""
    return wanted.tmp_mb == booted.tmp_mb and all(getattr(wanted, n) <= getattr(booted, n) for n in BOOT_LIMITS)


def _read_line(fd: int, timeout: float) -> bytes:
    """One short line from a worker that says nothing else until it is answered (so nothing is read past it)."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(data) > 4096:
            raise OSError("no answer")
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise OSError("the worker exited")
            data += chunk
    return data.rstrip(b"\n")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def bwrap_available() -> bool:
    return shutil.which("bwrap") is not None
