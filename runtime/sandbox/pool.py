"""Warm sandboxed workers, one per installation, in a bounded LRU pool; recycled after use and on new code.

A worker is keyed by installation id (tenants never share a process) and tagged with a `generation` (its code
directory and main module's mtime) and its spec (limits included). When a call arrives with another generation (a
new version, or code changed in development) or other limits, a fresh worker takes the new calls and the old one is
closed as soon as its call in flight returns: no call is dropped. Calls to one installation are serialized.

Where the backend can (bubblewrap on a root host), the pool also keeps SANDBOX_SPARES pre-booted workers that belong
to no installation yet; a cold start takes one (the backend mounts the installation's code and data into it) instead
of starting a sandbox from nothing, and a long-lived thread of the pool boots its replacement. A spare is given to one
installation only and is never given back: tenants still never share a process.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import OrderedDict, deque
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


class SparePool:
    """Pre-booted workers of no installation yet, kept at `count` by one thread that lives as long as the pool (bwrap
    dies with the THREAD that started it, --die-with-parent: a short-lived thread would take its spares along)."""

    RETRY_SECONDS = (1.0, 60.0)  # after a failed boot, wait this long, doubling up to the second figure

    def __init__(self, backend, count: int):
        self.backend = backend
        self.count = count
        self._ready: deque = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._keep_filled, name="sandbox-spares", daemon=True)
        self._thread.start()

    def take(self):
        """A booted spare, or None when none is ready (the caller then starts a worker from nothing)."""
        with self._cond:
            spare = self._ready.popleft() if self._ready else None
            self._cond.notify_all()
            return spare

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until all spares are booted (benchmarks and tests)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._ready) < self.count and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return len(self._ready) >= self.count

    def close(self) -> None:
        with self._cond:
            self._closed = True
            spares, self._ready = list(self._ready), deque()
            self._cond.notify_all()
        for spare in spares:
            spare.kill_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=15)  # a spare booting now is killed by the thread itself

    def _keep_filled(self) -> None:
        retry = self.RETRY_SECONDS[0]
        while True:
            with self._cond:
                while not self._closed and len(self._ready) >= self.count:
                    self._cond.wait()
                if self._closed:
                    return
            try:
                spare = self.backend.spawn_spare()
            except Exception as exc:  # noqa: BLE001 - keep the thread (and the workers it started) alive
                logger.warning("could not boot a spare sandbox worker (next try in %.0f s): %s", retry, exc)
                with self._cond:
                    self._cond.wait(retry)
                retry = min(retry * 2, self.RETRY_SECONDS[1])
                continue
            retry = self.RETRY_SECONDS[0]
            with self._cond:
                if self._closed:
                    spare.kill_all()
                    return
                self._ready.append(spare)
                self._cond.notify_all()


class WorkerPool:
    def __init__(self, backend: SandboxBackend, size: int, *, spares: int = 0):
        self.backend = backend
        self.size = max(1, size)
        self._workers: OrderedDict[str, PooledWorker] = OrderedDict()
        self._lock = threading.Lock()
        can_spare = getattr(backend, "spares_supported", lambda: False)
        self.spares = SparePool(backend, spares) if spares > 0 and can_spare() else None

    def _spawn(self, spec: WorkerSpec, generation: str) -> PooledWorker:
        # The data volume is mounted only until the worker is up: its mount namespace then holds it.
        with volumes.attached(spec.data_dir, spec.data_volume):
            process = self._from_spare(spec) or self.backend.spawn(spec)
            connection = WorkerConnection(process, spec)
            try:
                connection.wait_ready()
            except SandboxError:
                connection.close()
                raise
            finally:
                started = getattr(process, "started", None)
                if started:
                    started()
        return PooledWorker(connection, generation)

    def _from_spare(self, spec: WorkerSpec):
        spare = self.spares.take() if self.spares else None
        if spare is None:
            return None
        try:
            assigned = self.backend.assign(spare, spec)
        except (OSError, SandboxError) as exc:
            logger.warning("a spare sandbox worker could not be assigned (%s): starting one", exc)
            assigned = None
        if assigned is None:
            spare.kill_all()  # never handed to anyone else
        return assigned

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
        if self.spares:
            self.spares.close()
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
            _pool = WorkerPool(get_backend(), settings.SANDBOX_POOL_SIZE, spares=settings.SANDBOX_SPARES)
            atexit.register(_pool.close_all)
        return _pool


def reset_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close_all()
        _pool = None


def _forget_pool_in_child() -> None:
    """A forked child (a Celery or gunicorn worker forked after the pool was made) starts with no pool: the parent's
    workers and spares are the parent's (their pipes, the thread that keeps the spares, die with it), never shared."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)
