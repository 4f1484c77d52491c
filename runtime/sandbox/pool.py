"""Warm sandboxed workers, one per installation, in a bounded LRU pool; recycled after use and on new code.

A worker is keyed by installation id (tenants never share a process) and tagged with a `generation` (its code
directory and main module's mtime) and its spec (limits included). When a call arrives with another generation (a
new version, or code changed in development) or other limits, a fresh worker takes the new calls and the old one is
closed as soon as its call in flight returns: no call is dropped. Calls to one installation are serialized.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

from runtime.sandbox import volumes
from runtime.sandbox.base import SandboxBackend, SandboxError, SandboxUnavailable, WorkerSpec
from runtime.sandbox.protocol import CallResult, HostHandler, WorkerConnection

logger = logging.getLogger(__name__)

MAX_CALLS_PER_WORKER = 10_000
MAX_WORKER_AGE_SECONDS = 3600


@dataclass
class PooledWorker:
    connection: WorkerConnection
    generation: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    retired: bool = False
    busy: int = 0

    def worn_out(self) -> bool:
        c = self.connection
        return (
            not c.alive
            or c.calls >= MAX_CALLS_PER_WORKER
            or c.cpu_ms_total / 1000 > c.spec.limits.worker_cpu_seconds / 2
            or time.monotonic() - c.started > MAX_WORKER_AGE_SECONDS
        )


class WorkerPool:
    def __init__(self, backend: SandboxBackend, size: int):
        self.backend = backend
        self.size = max(1, size)
        self._workers: OrderedDict[str, PooledWorker] = OrderedDict()
        self._lock = threading.Lock()

    def _spawn(self, spec: WorkerSpec, generation: str) -> PooledWorker:
        # The data volume is mounted only until the worker is up: its mount namespace then holds it.
        with volumes.attached(spec.data_dir, spec.data_volume):
            process = self.backend.spawn(spec)
            connection = WorkerConnection(process, spec)
            try:
                connection.wait_ready()
            except SandboxError:
                connection.close()
                raise
        return PooledWorker(connection, generation)

    def _checkout(self, spec: WorkerSpec, generation: str) -> tuple[PooledWorker, bool]:
        with self._lock:
            worker = self._workers.get(spec.key)
            if worker and (worker.generation != generation or worker.connection.spec != spec or worker.worn_out()):
                self._retire_locked(spec.key)
                worker = None
            if worker:
                self._workers.move_to_end(spec.key)
                worker.busy += 1
                return worker, False
        fresh = self._spawn(spec, generation)  # outside the pool lock: a cold start must not block other tenants
        with self._lock:
            current = self._workers.get(spec.key)
            if current and current.generation == generation and current.connection.spec == spec \
                    and not current.worn_out():
                # Another thread warmed one meanwhile: use it, drop ours.
                fresh.connection.close()
                current.busy += 1
                self._workers.move_to_end(spec.key)
                return current, False
            if current:
                self._retire_locked(spec.key)
            fresh.busy += 1
            self._workers[spec.key] = fresh
            self._evict_locked()
            return fresh, True

    def _retire_locked(self, key: str) -> None:
        worker = self._workers.pop(key, None)
        if worker:
            worker.retired = True
            if worker.busy == 0:
                worker.connection.close()

    def _evict_locked(self) -> None:
        for key in list(self._workers):
            if len(self._workers) <= self.size:
                break
            if self._workers[key].busy == 0:
                self._retire_locked(key)

    def _release(self, spec: WorkerSpec, worker: PooledWorker) -> None:
        with self._lock:
            worker.busy -= 1
            if worker.connection.closed or worker.worn_out():
                if self._workers.get(spec.key) is worker:
                    self._workers.pop(spec.key)
                worker.retired = True
            if worker.retired and worker.busy == 0:
                worker.connection.close()
            self._evict_locked()

    def warm(self, spec: WorkerSpec, generation: str) -> bool:
        """Start the installation's worker ahead of its first call. Returns True when one was started."""
        worker, cold = self._checkout(spec, generation)
        self._release(spec, worker)
        return cold

    def call(self, spec: WorkerSpec, generation: str, kind: str, name: str, args: list, kwargs: dict, *,
             host: HostHandler, timeout: float | None = None) -> CallResult:
        worker, cold = self._checkout(spec, generation)
        try:
            with worker.lock:
                if worker.connection.closed:
                    raise SandboxError("the worker was closed", reason="closed")
                result = worker.connection.call(kind, name, args, kwargs, host=host,
                                                timeout=timeout or spec.limits.function_timeout)
            result.cold = cold
            return result
        finally:
            self._release(spec, worker)

    def discard(self, key: str) -> None:
        """Drop the installation's worker (deactivate, uninstall, update): closed now, or after its call in flight."""
        with self._lock:
            self._retire_locked(key)

    def close_all(self) -> None:
        with self._lock:
            for key in list(self._workers):
                self._retire_locked(key)

    def __len__(self) -> int:
        return len(self._workers)


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def get_backend() -> SandboxBackend:
    path = settings.SANDBOX_BACKEND
    if not path:
        raise SandboxUnavailable("no sandbox backend is configured (SANDBOX_BACKEND): plugin code will not run")
    try:
        backend = import_string(path)()
    except ImportError as exc:
        raise SandboxUnavailable(f"the sandbox backend {path} cannot be loaded: {exc}") from None
    backend.check_available()
    return backend


def get_pool() -> WorkerPool:
    """This process's pool (each web or Celery process keeps its own warm workers)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool(get_backend(), settings.SANDBOX_POOL_SIZE)
            atexit.register(_pool.close_all)
        return _pool


def reset_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close_all()
        _pool = None
