"""Running one hook or function of an installation in its sandboxed worker, with the Plugin API wired back in.

Every run records its wall time, CPU time and peak memory in `plugin_usage` (one row per hook or function run,
next to the rows of the Plugin API calls it made), and flushes the buffered audit when it ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime import kv_storage  # noqa: F401 - registers storage.get/set/delete with the gateway
from runtime.models import Installation, PluginUsage
from runtime.plugin_api import admission, audit, gateway
from runtime.plugin_files import data_dir_for, data_volume_for
from runtime.sandbox.base import LimitExceeded, Limits, PluginCallError, SandboxError, WorkerSpec
from runtime.sandbox.pool import get_pool
from runtime.sandbox.protocol import CallResult, HostAbort, HostCallRefused, HostHandler


@dataclass
class RunOutcome:
    value: Any
    wall_ms: float
    cpu_ms: float
    peak_memory_kb: int
    cold: bool
    host_calls: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "wall_ms": round(self.wall_ms, 3), "cpu_ms": round(self.cpu_ms, 3),
                "peak_memory_kb": self.peak_memory_kb, "cold_start": self.cold, "api_calls": self.host_calls}


def revoke_api(installation_id) -> None:
    """Cut the Plugin API off for function calls in flight, in every process (deactivation)."""
    admission.revoke(installation_id)


def restore_api(installation_id) -> None:
    admission.restore(installation_id)


def limits_for(installation: Installation) -> Limits:
    """Settings' limits, tightened (never loosened) by the installation's own `settings["limits"]`, if any."""
    overrides = (installation.settings or {}).get("limits") if isinstance(installation.settings, dict) else None
    try:
        return Limits.from_settings().tighten(overrides if isinstance(overrides, dict) else None)
    except ValueError:
        return Limits.from_settings()


def worker_spec(installation: Installation, code_dir: Path, main: str, *, limits: Limits | None = None) -> WorkerSpec:
    return WorkerSpec(
        key=str(installation.pk),
        code_dir=code_dir,
        data_dir=data_dir_for(installation.pk),
        main=main,
        limits=limits or limits_for(installation),
        data_volume=data_volume_for(installation.pk),
        info={"plugin_id": installation.plugin_id, "installation_id": str(installation.pk),
              "version": installation.version, "settings": installation.settings or {}},
    )


def generation_of(code_dir: Path, main: str) -> str:
    """Identifies the code a worker runs: a new version or a changed main module gets a fresh worker."""
    try:
        stamp = (code_dir / main).stat().st_mtime_ns
    except OSError:
        stamp = 0
    return f"{code_dir}:{stamp}"


# A plugin that keeps calling after being told it is over its rate limit is stopped: every refused call still
# costs the host a check and an audit row.
MAX_RATE_LIMITED_PER_RUN = 20


def gateway_handler(installation_id: str, *, function_call: bool) -> HostHandler:
    rate_limited = 0

    def handle(method: str, params: dict[str, Any]) -> Any:
        nonlocal rate_limited
        try:
            # A function call loses the API the moment deactivation starts (the gateway reads the revocation flag
            # in the same round trip as the rate-limit counters); a lifecycle hook keeps it.
            return gateway.call(installation_id=installation_id, method=method, params=params,
                                revocable=function_call)
        except gateway.APIRefusal as exc:
            if exc.code == "rate_limited":
                rate_limited += 1
                if rate_limited > MAX_RATE_LIMITED_PER_RUN:
                    raise HostAbort("api_flood", "the plugin kept calling the Plugin API past its rate limit "
                                                 "and was stopped") from None
            raise HostCallRefused(exc.code, exc.message) from None

    return handle


def run(
    installation: Installation, *, code_dir: Path, main: str, kind: str, name: str, args: list | None = None,
    kwargs: dict | None = None, limits: Limits | None = None, host: HostHandler | None = None,
) -> RunOutcome:
    """Run a hook or a function; raises PluginCallError (the plugin's own error) or SandboxError (stopped)."""
    spec = worker_spec(installation, code_dir, main, limits=limits)
    handler = host or gateway_handler(str(installation.pk), function_call=kind == "function")
    started = time.monotonic()
    outcome, reason, result = PluginUsage.Outcome.OK, "", None
    message = ""  # the plugin's own error message, for the analytics' table of most frequent errors
    usage = (0.0, 0.0, 0)
    try:
        result = get_pool().call(spec, generation_of(code_dir, main), kind, name, list(args or []),
                                 dict(kwargs or {}), host=handler)
        return RunOutcome(result.value, result.wall_ms, result.cpu_ms, result.peak_memory_kb, result.cold,
                          result.host_calls)
    except PluginCallError as exc:
        outcome, reason, message = PluginUsage.Outcome.ERROR, exc.error_type, exc.message
        usage = getattr(exc, "usage", usage)
        raise
    except LimitExceeded as exc:
        outcome, reason = PluginUsage.Outcome.LIMITED, exc.reason
        usage = getattr(exc, "usage", usage)
        raise
    except SandboxError as exc:
        outcome = PluginUsage.Outcome.VIOLATION if exc.reason not in ("timeout",) else PluginUsage.Outcome.LIMITED
        reason = exc.reason
        raise
    finally:
        _audit_run(installation, kind, name, outcome, reason, result, usage, started, message=message)
        audit.flush()


def _audit_run(installation, kind, name, outcome, reason, result: CallResult | None, usage, started,
               message: str = "") -> None:
    if result is not None:
        wall_ms, cpu_ms, peak = result.wall_ms, result.cpu_ms, result.peak_memory_kb
    else:
        wall_ms = usage[0] or (time.monotonic() - started) * 1000
        cpu_ms, peak = usage[1], usage[2]
    metadata = {"wall_ms": round(wall_ms, 3), "cpu_ms": round(cpu_ms, 3), "peak_memory_kb": peak}
    if result is not None:
        metadata["cold_start"] = result.cold
        metadata["api_calls"] = result.host_calls
    if reason:
        metadata["reason"] = str(reason)[:100]
    if message:
        metadata["message"] = str(message)[:200]
    audit.record(
        plugin_id=installation.plugin_id, installation_id=str(installation.pk), user_id=installation.user_id,
        version=installation.version, action=f"{kind}:{name}"[:100], resource_type="plugin",
        resource_id=str(installation.plugin_id), outcome=outcome, metadata=metadata,
    )
