"""The host side of the worker protocol (line-delimited JSON over the worker's stdin/stdout), for every backend.

The host never trusts the worker: every message is size-capped, parsed defensively and checked for its type; a
malformed or oversized message, output flooding, an early exit or a missed deadline ends the WORKER (its whole
process group is killed) and raises a SandboxError with a machine reason. The host itself carries on.
"""

from __future__ import annotations

import json
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.sandbox.base import (
    CallTimeout,
    LimitExceeded,
    PluginCallError,
    SandboxError,
    SandboxUnavailable,
    SandboxViolation,
    WorkerProcess,
    WorkerSpec,
)

READY_TIMEOUT = 10.0
SIGSYS, SIGXCPU, SIGKILL, SIGXFSZ = 31, 24, 9, 25


class HostCallRefused(Exception):
    """A host function refused a plugin's request. Sent back to the plugin as an error; the call goes on."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class HostAbort(Exception):
    """A host function decided the worker must stop (e.g. it keeps hammering a refused API): the worker is killed
    and the call ends with LimitExceeded(reason)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


HostHandler = Callable[[str, dict[str, Any]], Any]


@dataclass
class CallResult:
    value: Any
    wall_ms: float
    cpu_ms: float
    peak_memory_kb: int
    host_calls: int = 0
    cold: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class WorkerConnection:
    """One live worker and the pipe to it. Not thread-safe: the pool serializes calls per worker."""

    def __init__(self, process: WorkerProcess, spec: WorkerSpec):
        self.process = process
        self.spec = spec
        self.max_bytes = spec.limits.max_message_bytes
        self.out_fd = process.stdout.fileno()
        self.in_fd = process.stdin.fileno()
        os.set_blocking(self.in_fd, False)
        self.buffer = bytearray()
        self.next_id = 0
        self.calls = 0
        self.cpu_ms_total = 0.0
        self.closed = False
        self.violation: dict[str, Any] | None = None
        self.started = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        message = self._read(time.monotonic() + timeout)
        kind = message.get("type")
        if kind == "fatal":
            self.close()
            raise SandboxUnavailable(str(message.get("message", "the sandbox could not start"))[:500])
        if kind != "ready":
            self._fail(SandboxViolation("the worker did not start the protocol properly", reason="protocol"))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.process.kill_all()

    @property
    def alive(self) -> bool:
        return not self.closed and self.process.poll() is None

    # -- a call ----------------------------------------------------------------------------------------------------

    def call(self, kind: str, name: str, args: list, kwargs: dict, *, host: HostHandler, timeout: float) -> CallResult:
        if self.closed:
            raise SandboxError("the worker is closed", reason="closed")
        self.next_id += 1
        call_id = self.next_id
        start = time.monotonic()
        deadline = start + timeout
        self.calls += 1
        self._send({"type": "call", "id": call_id, "kind": kind, "name": name, "args": args, "kwargs": kwargs},
                   deadline)
        host_calls = 0
        while True:
            message = self._read(deadline)
            kind_ = message.get("type")
            if kind_ == "request":
                host_calls += 1
                self._answer(message, host, deadline)
                continue
            if kind_ != "result" or message.get("id") != call_id:
                self._fail(SandboxViolation(f"unexpected {str(kind_)[:40]!r} message from the worker",
                                            reason="protocol"))
            break
        wall_ms = (time.monotonic() - start) * 1000
        usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
        cpu_ms = _number(usage.get("cpu_ms"))
        self.cpu_ms_total += cpu_ms
        peak = int(_number(usage.get("maxrss_kb")))
        if message.get("ok") is True:
            return CallResult(message.get("value"), wall_ms, cpu_ms, peak, host_calls)
        error = message.get("error") if isinstance(message.get("error"), dict) else {}
        error_type = str(error.get("type", "Error"))[:100]
        text = str(error.get("message", ""))[:2000]
        limit = error.get("limit")
        if limit in ("memory", "disk", "recursion", "threads"):
            # The worker survives a MemoryError, but its heap may be in a poor state: start afresh next time.
            if limit == "memory":
                self.close()
            exc = LimitExceeded(f"{limit} limit reached: {error_type}: {text}"[:500], reason=limit)
            exc.usage = (wall_ms, cpu_ms, peak)  # type: ignore[attr-defined]
            raise exc
        exc = PluginCallError(error_type, text, str(error.get("traceback", ""))[:4000])
        exc.usage = (wall_ms, cpu_ms, peak)  # type: ignore[attr-defined]
        raise exc

    def _answer(self, message: dict, host: HostHandler, deadline: float) -> None:
        request_id = message.get("id")
        method = message.get("method")
        params = message.get("params")
        if not isinstance(method, str) or not isinstance(params, dict):
            response = {"type": "response", "id": request_id,
                        "error": {"code": "invalid", "message": "a request needs a method and params"}}
        else:
            try:
                response = {"type": "response", "id": request_id, "result": host(method, params)}
            except HostCallRefused as exc:
                response = {"type": "response", "id": request_id, "error": {"code": exc.code, "message": exc.message}}
            except HostAbort as exc:
                self._fail(LimitExceeded(exc.message, reason=exc.reason))
        self._send(response, deadline)

    # -- the pipe --------------------------------------------------------------------------------------------------

    def _send(self, message: dict, deadline: float) -> None:
        try:
            data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        except (TypeError, ValueError) as exc:
            raise SandboxError(f"cannot encode a message for the worker: {exc}", reason="invalid_arguments")
        if len(data) > self.max_bytes:
            raise LimitExceeded(f"a message of {len(data)} bytes exceeds the {self.max_bytes}-byte limit",
                                reason="message_size")
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(CallTimeout("the call ran past its time limit (the worker stopped reading)"))
            try:
                written = os.write(self.in_fd, view)
                view = view[written:]
            except BlockingIOError:
                select.select([], [self.in_fd], [], remaining)
            except (BrokenPipeError, OSError):
                self._fail(self._death())

    def _read(self, deadline: float) -> dict:
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                if len(line) > self.max_bytes:
                    self._fail(LimitExceeded("the worker sent an oversized message", reason="message_size"))
                if not line.strip():
                    continue
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError):
                    self._fail(SandboxViolation("the worker sent a malformed message (not JSON)", reason="protocol"))
                if not isinstance(message, dict):
                    self._fail(SandboxViolation("the worker sent a malformed message", reason="protocol"))
                if message.get("type") == "violation":
                    self.violation = message
                    self._fail(self._violation_error(message))
                return message
            if len(self.buffer) > self.max_bytes:
                self._fail(LimitExceeded("the worker flooded its output past the message size limit",
                                         reason="output_flood"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(CallTimeout("the call ran past its time limit and was stopped"))
            ready, _, _ = select.select([self.out_fd], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(self.out_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._fail(self._death())
            self.buffer += chunk

    @staticmethod
    def _violation_error(message: dict) -> SandboxError:
        reason = str(message.get("reason", "violation"))[:40]
        names = {"exec": "running another program", "fork": "creating a process", "network": "network access",
                 "signal": "signalling another process"}
        return SandboxViolation(f"forbidden: {names.get(reason, reason)} ({str(message.get('detail', ''))[:120]})",
                                reason=reason)

    def _death(self) -> SandboxError:
        """Why did the worker go away? Read its exit status (bwrap reports 128+signal for a signalled child)."""
        try:
            code = self.process.wait(timeout=2)
        except Exception:  # noqa: BLE001
            code = None
        diagnosed = getattr(self.process, "diagnose", lambda: None)()
        if diagnosed == "memory":
            return LimitExceeded("the worker ran out of memory and was killed", reason="memory")
        signal_number = -code if code is not None and code < 0 else (code - 128 if code and code > 128 else None)
        if signal_number == SIGSYS:
            return SandboxViolation("the plugin made a forbidden system call and was killed "
                                    "(process creation, exec, network socket, ptrace, mount, namespaces, bpf, "
                                    "anonymous memory files, ...)",
                                    reason="forbidden_syscall")
        if signal_number == SIGXCPU:
            return LimitExceeded("the worker used up its CPU time", reason="cpu")
        if signal_number == SIGXFSZ:
            return LimitExceeded("the worker wrote a file past the size limit", reason="disk")
        if code == 70:
            return SandboxViolation("the plugin attempted a forbidden action", reason="violation")
        if code == 71:
            return SandboxUnavailable("the sandbox could not be set up")
        return SandboxViolation(f"the worker exited unexpectedly (status {code})", reason="worker_exited")

    def _fail(self, error: SandboxError):
        self.close()
        raise error


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
