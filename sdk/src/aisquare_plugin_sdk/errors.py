"""Typed errors of Plugin API calls, so a plugin can catch exactly what it can handle (standard library only).

The worker's channel raises `context.HostError(code, message)`; the typed context turns it into the subclass below
that matches the code. Every class here IS a HostError, so `except HostError` still catches them all.
"""

from __future__ import annotations

from aisquare_plugin_sdk.context import HostError


class PluginAPIError(HostError):
    """A Plugin API call was refused or failed. `code` is machine-readable, `message` says why."""

    code_name = "error"


class PermissionDenied(PluginAPIError):
    """The installation was not granted the scope the call needs (or it was revoked)."""

    code_name = "permission_denied"


class RateLimited(PluginAPIError):
    """Too many calls: 100 a minute or 10,000 a day per installation (spec §Sandboxing)."""

    code_name = "rate_limited"


class QuotaExceeded(PluginAPIError):
    """A quota is used up: AI characters, storage size, or the daily execution time."""

    code_name = "quota_exceeded"


class NotFound(PluginAPIError):
    """The object does not exist, or the installation may not see it (the two are not told apart)."""

    code_name = "not_found"


class InvalidRequest(PluginAPIError):
    """The call's parameters are wrong (missing, wrong type, not JSON)."""

    code_name = "invalid"


_BY_CODE = {
    cls.code_name: cls for cls in (PermissionDenied, RateLimited, QuotaExceeded, NotFound, InvalidRequest)
}
# Aliases a host may use for the same refusal.
_BY_CODE.update({
    "forbidden": PermissionDenied, "scope_missing": PermissionDenied, "rate_limit": RateLimited,
    "limit": RateLimited, "quota": QuotaExceeded, "invalid_request": InvalidRequest, "bad_request": InvalidRequest,
    "validation_error": InvalidRequest,
})


def api_error(code: str, message: str) -> PluginAPIError:
    """The typed error for a host error code (PluginAPIError for codes it does not know)."""
    cls = _BY_CODE.get(code, PluginAPIError)
    return cls(code, message)


def typed(error: HostError) -> PluginAPIError:
    """`error` as its typed subclass (itself when it already is one)."""
    if isinstance(error, PluginAPIError):
        return error
    return api_error(error.code, error.message)
