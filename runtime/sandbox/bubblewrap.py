"""The bubblewrap backend: every worker in fresh user/pid/net/ipc/uts/cgroup namespaces, no network, read-only code.

Layout inside: /usr (read-only, the system Python and libseccomp), /plugin (the package, read-only), /data (this
installation's data directory), /tmp (a size-limited tmpfs), /sandbox (the boot script and the SDK, read-only),
a fresh /proc and a minimal /dev. uid/gid 65534. bwrap itself starts with an empty environment (its pid-1 helper
would otherwise expose the host's environment in /proc/1/environ). The boot script then sets rlimits and loads the
seccomp filter before any plugin code runs. Where the host allows it (cgroup v1 controllers writable), each worker
also gets its own memory, pids and cpu (50% of one core) cgroup.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from runtime.sandbox.base import SandboxUnavailable, WorkerSpec

logger = logging.getLogger(__name__)

BWRAP = "/usr/bin/bwrap"
PYTHON = "/usr/bin/python3"
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


class CgroupSet:
    """One worker's cgroup in each v1 controller. Best effort: absent when the host does not allow it."""

    def __init__(self, name: str, paths: list[Path]):
        self.name = name
        self.paths = paths

    @classmethod
    def available(cls) -> bool:
        return all(os.access(CGROUP_ROOT / c, os.W_OK) for c in CGROUP_CONTROLLERS)

    @classmethod
    def create(cls, name: str, spec: WorkerSpec) -> CgroupSet | None:
        if not cls.available():
            return None
        paths = []
        try:
            for controller in CGROUP_CONTROLLERS:
                path = CGROUP_ROOT / controller / "aisquare-sandbox" / name
                path.mkdir(parents=True, exist_ok=True)
                paths.append(path)
            limits = spec.limits
            memory = paths[0]
            # The bwrap helper and the interpreter's own pages need a little room above the plugin's address space.
            (memory / "memory.limit_in_bytes").write_text(str((limits.memory_mb + 64) * MB))
            try:
                (memory / "memory.memsw.limit_in_bytes").write_text(str((limits.memory_mb + 64) * MB))
            except OSError:
                pass
            (paths[1] / "pids.max").write_text(str(limits.max_threads + 4))
            (paths[2] / "cpu.cfs_period_us").write_text("100000")
            (paths[2] / "cpu.cfs_quota_us").write_text(str(limits.cpu_quota))
        except OSError as exc:
            logger.warning("sandbox cgroups unavailable (%s); relying on rlimits and seccomp", exc)
            cls(name, paths).remove()
            return None
        return cls(name, paths)

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
                if not owner.isdigit() or _alive(int(owner)):
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BubblewrapProcess(subprocess.Popen):
    """A bwrap worker: a Popen that also kills its process group and releases its cgroups."""

    cgroups: CgroupSet | None = None

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
        cls = type(self)
        if cls._probed is None:
            try:
                proc = subprocess.run(self._bwrap_args(None, None, tmp_mb=1) + ["/usr/bin/true"],
                                      env={"PATH": "/usr/bin"}, capture_output=True, timeout=10)
                cls._probed = proc.returncode == 0
                cls._probe_error = proc.stderr.decode(errors="replace")[:300]
            except (OSError, subprocess.TimeoutExpired) as exc:
                cls._probed, cls._probe_error = False, str(exc)
        if not cls._probed:
            raise SandboxUnavailable(f"bubblewrap cannot create namespaces here: {cls._probe_error.strip()}")

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
        limits = spec.limits
        config = {
            "main": spec.main,
            "limits": {
                "memory_mb": limits.memory_mb, "disk_mb": limits.disk_mb, "max_open_files": limits.max_open_files,
                "max_threads": limits.max_threads, "worker_cpu_seconds": limits.worker_cpu_seconds,
                "max_message_bytes": limits.max_message_bytes,
            },
            "info": spec.info,
        }
        argv = self._bwrap_args(spec.code_dir, spec.data_dir, tmp_mb=limits.tmp_mb) + [
            # Imported, not run as a script, so that its precompiled bytecode is used.
            self.python, "-I", "-S", "-B", "-c", BOOT_COMMAND, json.dumps(config),
        ]
        cgroups = CgroupSet.create(f"{os.getpid()}-{next(_counter)}-{spec.key[:12]}", spec)
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
        return proc


def bwrap_available() -> bool:
    return shutil.which("bwrap") is not None
