"""The Plugin API gateway: every host function a plugin calls passes here, in this order:

1. one round trip to the cache (Redis in production, `admission.py`) counts the call against the rate limits (100 a
   minute, 10,000 a day per installation) and reads the installation's state token and, for a function, event
   handler or widget run, its revocation flag;
2. the installation (status, granted scopes, version, tenant) is the one this process read before if the state token
   is unchanged, else it is read afresh: every service that changes status, scopes or version replaces the token,
   so a revoked scope, a deactivation or an uninstall takes effect on the very next call, in every process,
   mid-session (see docs/runtime-caching.md);
3. the scope the function needs (the SDK's `api_scopes` table, the same one the publishing scanner reads) must be
   granted: no inheritance, no wildcard;
4. the function runs against the host platform within the installation's tenant (its organization or its user);
5. the call, allowed or refused, is audited in `plugin_usage`, in batches (see `audit.py`).

Refusals are `APIRefusal(code, message)`; the worker channel sends `{"code", "message"}` back and the SDK raises the
matching typed error (`PermissionDenied`, `RateLimited`, `QuotaExceeded`, `NotFound`, `InvalidRequest`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from aisquare_plugin_sdk.api_scopes import API_SCOPES
from aisquare_plugins.exceptions import NotFound, ServiceError
from host.api import AIQuotaExceeded, Tenant
from runtime.models import Installation, PluginUsage
from runtime.plugin_api import admission, audit, limits

logger = logging.getLogger(__name__)


class APIRefusal(Exception):
    """A host function refused or failed. `code` maps to the SDK's typed errors."""

    outcome = PluginUsage.Outcome.ERROR

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def as_error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class PermissionRefused(APIRefusal):
    outcome = PluginUsage.Outcome.DENIED

    def __init__(self, message: str):
        super().__init__("permission_denied", message)


class LimitRefused(APIRefusal):
    outcome = PluginUsage.Outcome.LIMITED


@dataclass
class CallContext:
    """Who is calling: one installation (and the user it acts for), as read at the start of this call."""

    installation_id: str
    plugin_id: str
    version: str
    user_id: str  # the user the call acts for: the installer, or the viewer of a page the plugin renders
    installer_id: str
    org_id: str | None
    scopes: frozenset[str]
    status: str
    # Set by host functions for the audit row.
    resource_type: str = ""
    resource_id: str = ""
    audit_metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self) -> Tenant:
        return Tenant(user_id=self.user_id, org_id=self.org_id)

    def touched(self, resource_type: str, resource_id: Any = "") -> None:
        self.resource_type = resource_type
        self.resource_id = str(resource_id or "")[:255]


HostFunction = Callable[[CallContext, dict[str, Any]], Any]


@dataclass(frozen=True)
class Registration:
    name: str
    scope: str | None
    function: HostFunction
    counted: bool = True  # counted against the API rate limit (UI registration at init is counted too)


HOST_FUNCTIONS: dict[str, Registration] = {}


def host_function(name: str, *, scope: str | None = "from-table") -> Callable[[HostFunction], HostFunction]:
    """Register a host function. Its scope comes from the SDK's API_SCOPES table unless given (None: no scope, for
    the installation's own storage, events and UI)."""

    def register(function: HostFunction) -> HostFunction:
        required = API_SCOPES.get(name) if scope == "from-table" else scope
        if scope == "from-table" and name not in API_SCOPES:
            raise LookupError(f"{name} has no scope in aisquare_plugin_sdk.api_scopes.API_SCOPES")
        HOST_FUNCTIONS[name] = Registration(name=name, scope=required, function=function)
        return function

    return register


_CONTEXT_FIELDS = ("id", "plugin_id", "version", "user_id", "org_id", "permissions", "status")
# Installations read by this process: {installation id: (state token, read at (monotonic), row)}. An entry serves only
# while the installation's state token is unchanged, and at most CONTEXT_MAX_AGE seconds: changes made through the
# services replace the token at once; the age bounds what only a cascade (a deleted user or organization) changes.
CONTEXT_MAX_AGE = 10.0
CONTEXT_CACHE_SIZE = 10_000
_contexts: dict[str, tuple[str, float, dict[str, Any]]] = {}
_contexts_lock = threading.Lock()


def _installation_row(installation_id, state: str | None) -> dict[str, Any] | None:
    key = str(installation_id)
    now = time.monotonic()
    if state:
        cached = _contexts.get(key)
        if cached is not None and cached[0] == state and now - cached[1] < CONTEXT_MAX_AGE:
            return cached[2]
    row = Installation.objects.filter(pk=installation_id).values(*_CONTEXT_FIELDS).first()
    if row is not None and state:
        with _contexts_lock:
            if len(_contexts) >= CONTEXT_CACHE_SIZE:
                _contexts.clear()
            _contexts[key] = (state, now, row)
    return row


def load_context(installation_id, *, acting_user_id=None, state: str | None = None) -> CallContext:
    """The calling installation: the copy this process holds if `state` (its current state token, from
    `admission.admit`) still matches it, else read from the database (and kept under that token)."""
    row = _installation_row(installation_id, state)
    if row is None:
        raise APIRefusal("not_found", "This installation no longer exists.")
    return CallContext(
        installation_id=str(row["id"]),
        plugin_id=row["plugin_id"],
        version=row["version"],
        user_id=str(acting_user_id or row["user_id"]),
        installer_id=str(row["user_id"]),
        org_id=str(row["org_id"]) if row["org_id"] else None,
        scopes=frozenset(s for s in (row["permissions"] or []) if isinstance(s, str)),
        status=row["status"],
    )


# Host functions may be called while an installation is being set up or torn down (its hooks run then).
CALLABLE_STATUSES = {Installation.Status.ACTIVE, Installation.Status.INSTALLING, Installation.Status.UPDATING,
                     Installation.Status.UNINSTALLING, Installation.Status.INSTALLED}


def call(*, installation_id, method: str, params: Any, acting_user_id=None, revocable: bool = False) -> Any:
    """Run one Plugin API request from a worker. Returns the JSON-able result or raises APIRefusal.

    `revocable`: the request comes from a function, event handler or widget run, which deactivation cuts off at
    once; lifecycle hooks (on_deactivate, on_uninstall, ...) keep the API while they run."""
    started = time.perf_counter()
    ctx = None
    outcome = PluginUsage.Outcome.OK
    error_code = ""
    try:
        admitted = admission.admit(str(installation_id), revocable=revocable)
        ctx = load_context(installation_id, acting_user_id=acting_user_id, state=admitted.state)
        if admitted.revoked:
            raise PermissionRefused("The installation was deactivated; its API access is revoked.")
        if ctx.status not in CALLABLE_STATUSES:
            raise PermissionRefused(f"The installation is {ctx.status}; it cannot call the Plugin API.")
        registration = HOST_FUNCTIONS.get(method) if isinstance(method, str) else None
        try:
            limits.rate_check(calls_this_minute=admitted.calls_this_minute, calls_today=admitted.calls_today)
        except limits.RateLimitExceeded as exc:
            raise LimitRefused("rate_limited", str(exc))
        if registration is None:
            raise APIRefusal("invalid", f"There is no Plugin API function {str(method)[:100]!r}.")
        if registration.scope and registration.scope not in ctx.scopes:
            raise PermissionRefused(
                f"{method} needs the permission {registration.scope!r}, which this installation was not granted."
            )
        if not isinstance(params, dict):
            raise APIRefusal("invalid", "params must be an object.")
        return registration.function(ctx, params)
    except APIRefusal as exc:
        outcome, error_code = exc.outcome, exc.code
        raise
    except AIQuotaExceeded as exc:
        outcome, error_code = PluginUsage.Outcome.LIMITED, "quota_exceeded"
        raise APIRefusal("quota_exceeded", exc.message)
    except NotFound as exc:
        outcome, error_code = PluginUsage.Outcome.ERROR, "not_found"
        raise APIRefusal("not_found", exc.message)
    except ServiceError as exc:
        outcome, error_code = PluginUsage.Outcome.ERROR, exc.code
        code = "quota_exceeded" if exc.status_code == 429 else "invalid" if exc.status_code < 500 else exc.code
        raise APIRefusal(code, exc.message)
    except ValidationError as exc:
        outcome, error_code = PluginUsage.Outcome.ERROR, "invalid"
        messages = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        text = "; ".join(f"{k}: {', '.join(v)}" if k else ", ".join(v) for k, v in messages.items())
        raise APIRefusal("invalid", text[:1000])
    except Exception:
        outcome, error_code = PluginUsage.Outcome.ERROR, "internal"
        logger.exception("host function %s failed", method)
        raise APIRefusal("internal", "The platform failed to run this call; it has been logged.")
    finally:
        audit.record(
            plugin_id=ctx.plugin_id if ctx else "",
            installation_id=ctx.installation_id if ctx else str(installation_id),
            user_id=ctx.user_id if ctx else None,
            version=ctx.version if ctx else "",
            action=str(method)[:100],
            resource_type=ctx.resource_type if ctx else "",
            resource_id=ctx.resource_id if ctx else "",
            outcome=outcome,
            metadata={**(ctx.audit_metadata if ctx else {}), **({"error": error_code} if error_code else {}),
                      "ms": round((time.perf_counter() - started) * 1000, 3)},
        )


# --- small helpers for host functions -------------------------------------------------------------------------

def require(params: dict[str, Any], name: str, kind: type | tuple = str) -> Any:
    value = params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise APIRefusal("invalid", f"{name} is required.")
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise APIRefusal("invalid", f"{name} must be a {names}.")
    return value


def optional(params: dict[str, Any], name: str, kind: type | tuple, default: Any = None) -> Any:
    if params.get(name) is None:
        return default
    return require(params, name, kind)


def iso(value) -> str | None:
    return value.isoformat() if value else None
