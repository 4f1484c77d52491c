"""Running an installation's event handler or widget function in its sandbox, for the Plugin API.

Like `runtime.services.installation_invoke`, but for the kinds the platform starts itself (an event delivery, a
dashboard widget) and with the user the call acts for (the viewer of the dashboard), so that `users.getCurrent`
and the tenant checks answer for that user. The daily execution budget is checked before and counted after.
"""

from __future__ import annotations

from typing import Any

from runtime import invocation
from runtime.models import Installation
from runtime.plugin_api import gateway, limits
from runtime.sandbox.protocol import HostCallRefused


class ExecutionRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _handler(installation_id: str, acting_user_id: str | None):
    def handle(method: str, params: dict[str, Any]) -> Any:
        try:
            # Revocable: a deactivation cuts an event handler or a widget off at its next call.
            return gateway.call(installation_id=installation_id, method=method, params=params,
                                acting_user_id=acting_user_id, revocable=True)
        except gateway.APIRefusal as exc:
            raise HostCallRefused(exc.code, exc.message) from None

    return handle


def run(*, installation: Installation, kind: str, name: str, args: list, acting_user_id=None,
        timeout: float | None = None) -> Any:
    """Run and return the plugin's value. Raises ExecutionRefused, PluginCallError or SandboxError."""
    from runtime.services import _code_for  # the runtime's one place that unpacks a version's code

    if installation.status != Installation.Status.ACTIVE:
        raise ExecutionRefused("not_active", f"The installation is {installation.status}.")
    try:
        limits.execution_budget_check(installation_id=str(installation.pk))
    except limits.ExecutionBudgetExceeded as exc:
        raise ExecutionRefused("daily_time", str(exc))
    code_dir, main = _code_for(installation.plugin_version)
    base = invocation.limits_for(installation)
    run_limits = base.tighten({"function_timeout": timeout}) if timeout else base
    spent = 0.0
    try:
        outcome = invocation.run(installation, code_dir=code_dir, main=main, kind=kind, name=name, args=args,
                                 limits=run_limits, host=_handler(str(installation.pk),
                                                                  str(acting_user_id) if acting_user_id else None))
        spent = outcome.wall_ms
        return outcome.value
    except Exception as exc:
        usage = getattr(exc, "usage", None)
        spent = usage[0] if usage else 0.0
        raise
    finally:
        limits.execution_seconds_add(installation_id=str(installation.pk), seconds=spent / 1000)
