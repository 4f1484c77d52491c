"""What every sandbox backend offers (a Protocol), the limits it enforces, and the errors that stop a call."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from django.conf import settings


class SandboxError(Exception):
    """The sandbox or the host stopped a call. `reason` is a machine code, the message says why for a human."""

    reason = "sandbox_error"

    def __init__(self, message: str, *, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if reason:
            self.reason = reason


class SandboxUnavailable(SandboxError):
    """No isolation is available: plugin code is not run at all (there is no unsandboxed fallback)."""

    reason = "sandbox_unavailable"


class SandboxViolation(SandboxError):
    """The plugin broke a rule of the sandbox or of the protocol (forbidden syscall, malformed message, ...)."""

    reason = "violation"


class LimitExceeded(SandboxError):
    """A resource limit was hit: memory, CPU, disk, output, message size, API rate or daily execution time."""

    reason = "limit"


class CallTimeout(SandboxError):
    """The call ran past its wall-clock limit; the worker's whole process group was killed."""

    reason = "timeout"


class PluginCallError(Exception):
    """The plugin's own code raised. The worker stays usable; this is the plugin's error, not the sandbox's."""

    def __init__(self, error_type: str, message: str, traceback: str = ""):
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.traceback = traceback


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker, from settings.SANDBOX_LIMITS (spec §Sandboxing)."""

    memory_mb: int = 512
    cpu_quota: int = 50000  # microseconds of CPU per 100 ms period
    disk_mb: int = 1024
    tmp_mb: int = 64
    function_timeout: float = 30
    total_execution_time: int = 3600
    api_calls_per_minute: int = 100
    api_calls_per_day: int = 10000
    max_open_files: int = 64
    max_message_bytes: int = 1024 * 1024
    max_threads: int = 32
    worker_cpu_seconds: int = 600  # RLIMIT_CPU over a worker's life; the pool recycles well before

    @classmethod
    def from_settings(cls) -> Limits:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in settings.SANDBOX_LIMITS.items() if k in known}
        return cls(**values)

    def tighten(self, overrides: dict[str, Any] | None) -> Limits:
        """Apply per-plugin or per-call overrides; they can only lower a limit, never raise it."""
        if not overrides:
            return self
        changes = {}
        for f in fields(self):
            value = overrides.get(f.name)
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"limit {f.name} must be a positive number")
            changes[f.name] = min(getattr(self, f.name), type(getattr(self, f.name))(value))
        return replace(self, **changes)


@dataclass(frozen=True)
class WorkerSpec:
    """What a backend needs to start one worker for one installation."""

    key: str  # installation id: tenants never share a worker
    code_dir: Path  # the unpacked, precompiled package (read-only inside)
    data_dir: Path  # this installation's own data directory (read-write inside)
    main: str  # the main module, e.g. "plugin.py"
    limits: Limits
    info: dict[str, Any] = field(default_factory=dict)  # given to the plugin's context (ids, version, settings)
    data_volume: Path | None = None  # the quota'd volume image mounted on data_dir while the worker starts


class WorkerProcess(Protocol):
    """A started worker: its pipes and how to stop it. `subprocess.Popen` fits, plus `kill_all()`."""

    pid: int
    stdin: Any
    stdout: Any

    def poll(self) -> int | None: ...

    def kill_all(self) -> None:
        """Kill the worker and everything it started, and release what the backend set up for it."""

    # Optional: started() -- the pool calls it once the worker said "ready", to release what only starting needed.


@runtime_checkable
class SandboxBackend(Protocol):
    name: str

    def check_available(self) -> None:
        """Raise SandboxUnavailable (with a clear message) when this backend cannot isolate plugin code here."""

    def spawn(self, spec: WorkerSpec) -> WorkerProcess:
        """Start a worker that speaks the worker protocol on its stdin/stdout."""

    # Optional, for spare workers (runtime.sandbox.pool.SparePool): spares_supported() -> bool; spawn_spare() ->
    # WorkerProcess boots a worker of no installation yet; assign(spare, spec) -> WorkerProcess | None gives it to one
    # installation, or None if it cannot.


def popen_kill_group(proc: subprocess.Popen) -> None:
    """Kill a process started with start_new_session=True, and its whole process group."""
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
