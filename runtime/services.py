"""Installation lifecycle: install → activate → deactivate → update / rollback → uninstall, and invoking functions.

The state machine is persisted in `installed_plugins.status`. A lifecycle hook that fails or times out leaves the
installation in its previous state with the error in `last_error` — except deactivation and uninstallation, which a
plugin must not be able to veto: their hook's failure is recorded and the transition happens anyway.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from aisquare_plugin_sdk.manifest import version_satisfies
from aisquare_plugins.exceptions import Conflict, Forbidden, NotFound, ServiceError
from host import api as host_api
from runtime import invocation, plugin_files
from runtime.models import Installation, PluginStorageItem
from runtime.package import PackageError, read_package
from runtime.plugin_api import admission
from runtime.plugin_api import cache as plugin_cache
from runtime.plugin_api import limits as api_limits
from runtime.plugin_api.ui import ui_extensions_remove
from runtime.sandbox.base import CallTimeout, LimitExceeded, PluginCallError, SandboxError, SandboxUnavailable
from runtime.sandbox.pool import get_pool

logger = logging.getLogger(__name__)

S = Installation.Status
APPROVED = "approved"


class InvocationFailed(ServiceError):
    """The sandbox or the host stopped a call (limit, violation, timeout) or the plugin's code raised."""

    status_code = 422
    code = "invocation_failed"


class SandboxMissing(ServiceError):
    status_code = 503
    code = "sandbox_unavailable"


# -- helpers ------------------------------------------------------------------------------------------------------

def _manifest(plugin_version) -> dict[str, Any]:
    """The manifest subset the runtime uses (id, version, permissions, main, dependencies, limits), through the
    metadata cache (runtime/plugin_api/cache.py)."""
    return plugin_cache.plugin_metadata(plugin_version)


def _permissions(manifest: dict[str, Any]) -> tuple[set[str], set[str]]:
    required, optional = set(), set()
    for permission in manifest.get("permissions") or []:
        if isinstance(permission, dict) and isinstance(permission.get("scope"), str):
            (optional if permission.get("optional") else required).add(permission["scope"])
    return required, optional


def _check_consent(manifest: dict[str, Any], granted_scopes) -> list[str]:
    required, optional = _permissions(manifest)
    granted = set(granted_scopes or [])
    missing = sorted(required - granted)
    if missing:
        raise ServiceError(
            f"Installing needs your consent to: {', '.join(missing)}.", code="consent_required",
            fields={"scopes": missing},
        )
    unknown = sorted(granted - required - optional)
    if unknown:
        raise ServiceError(f"The plugin does not ask for: {', '.join(unknown)}.", code="invalid_scopes",
                           fields={"scopes": unknown})
    return sorted(granted)


def _owner_installations(*, user, org):
    base = Installation.objects.exclude(status=S.UNINSTALLED)
    return base.filter(org=org) if org is not None else base.filter(user=user, org__isnull=True)


def _missing_dependencies(manifest: dict[str, Any], *, user, org) -> list[dict[str, str]]:
    """The manifest's dependencies that the owner has no active installation of (in a satisfying version). The rows
    found are locked until the transaction ends, so that they cannot be deactivated or uninstalled meanwhile (their
    services lock them and then look for dependants, see `_refuse_if_depended_on`)."""
    missing = []
    for dep in manifest.get("dependencies") or []:
        if not isinstance(dep, dict) or not isinstance(dep.get("id"), str):
            continue
        spec = dep.get("version") or "*"
        candidates = _owner_installations(user=user, org=org).filter(plugin_id=dep["id"], status=S.ACTIVE)
        candidates = candidates.select_for_update()
        ok = False
        for installed in candidates:
            try:
                ok = ok or version_satisfies(installed.version, spec)
            except ValueError:
                pass
        if not ok:
            missing.append({"id": dep["id"], "version": spec})
    return missing


def _require_dependencies(plugin_version, *, user, org) -> None:
    missing = _missing_dependencies(_manifest(plugin_version), user=user, org=org)
    if missing:
        names = ", ".join(f"{d['id']} {d['version']}" for d in missing)
        raise ServiceError(f"Install and activate these plugins first: {names}.", code="missing_dependencies",
                           fields={"dependencies": missing})


def _admits(dependant: Installation, plugin_id: str, version: str) -> bool:
    """Every range the dependant's manifest gives for `plugin_id` admits `version`."""
    for dep in _manifest(dependant.plugin_version).get("dependencies") or []:
        if isinstance(dep, dict) and dep.get("id") == plugin_id:
            try:
                if not version_satisfies(version, dep.get("version") or "*"):
                    return False
            except ValueError:
                return False
    return True


# A dependant being updated counts: its update ends in its previous status, which may be active.
DEPENDANT_STATUSES = (S.ACTIVE, S.UPDATING)


def _dependants(installation: Installation) -> list[Installation]:
    """The owner's other active installations whose manifest names this plugin among its dependencies."""
    candidates = (
        _owner_installations(user=installation.user_id, org=installation.org_id)
        .filter(status__in=DEPENDANT_STATUSES).exclude(pk=installation.pk).exclude(plugin_version__isnull=True)
        .select_related("plugin", "plugin_version").defer("plugin_version__manifest").order_by("plugin_id")
    )
    return [
        candidate for candidate in candidates
        if any(isinstance(dep, dict) and dep.get("id") == installation.plugin_id
               for dep in _manifest(candidate.plugin_version).get("dependencies") or [])
    ]


def _refuse_if_depended_on(installation: Installation, action: str, *, new_version: str | None = None) -> None:
    """Conflict (409) naming the owner's active installations that depend on this one (when it changes to
    `new_version`: those whose version range does not admit it). Called with the installation locked: an install or
    activation that relies on it locks it too, so the two cannot cross."""
    dependants = _dependants(installation)
    if new_version is not None:
        dependants = [d for d in dependants if not _admits(d, installation.plugin_id, new_version)]
    if not dependants:
        return
    names = ", ".join(f"{d.plugin.name} ({d.plugin_id})" for d in dependants)
    raise Conflict(
        f"{installation.plugin.name} cannot be {action}: {names} depend{'s' if len(dependants) == 1 else ''} on it. "
        f"Deactivate or uninstall {'it' if len(dependants) == 1 else 'them'} first.",
        code="has_dependants",
        fields={"dependants": [{"installation_id": str(d.pk), "plugin_id": d.plugin_id, "name": d.plugin.name,
                                "status": d.status} for d in dependants]},
    )


def _package_bytes(plugin_version) -> bytes:
    def read() -> bytes:
        with plugin_version.package.open("rb") as handle:
            return handle.read(settings.PACKAGE_MAX_BYTES + 1)

    return plugin_cache.package_bytes(plugin_version, read)


def _code_for(plugin_version):
    """The version's unpacked, precompiled code directory (made once per version) and its main module."""
    dest = plugin_files.code_dir_for(plugin_id=plugin_version.plugin_id, version=plugin_version.version,
                                     sha256=plugin_version.sha256)
    marker = dest / plugin_files.COMPLETE_MARKER
    if marker.exists():
        return dest, _manifest(plugin_version).get("main") or _main_of(dest)
    package = read_package(_package_bytes(plugin_version))
    if package.manifest.id != plugin_version.plugin_id or str(package.manifest.version) != plugin_version.version:
        raise PackageError("manifest_mismatch", "The package's manifest does not match its catalogue entry.")
    plugin_files.install_code(package, dest)
    return dest, package.manifest.main


def _main_of(code_dir) -> str:
    import json

    try:
        return json.loads((code_dir / "plugin.json").read_text()).get("main") or "plugin.py"
    except (OSError, ValueError):
        return "plugin.py"


def _run_hook(installation: Installation, plugin_version, hook: str, args: list | None = None):
    code_dir, main = _code_for(plugin_version)
    return invocation.run(installation, code_dir=code_dir, main=main, kind="hook", name=hook, args=args or [])


def _describe(exc: Exception) -> str:
    if isinstance(exc, PluginCallError):
        return f"{exc.error_type}: {exc.message}"[:2000]
    if isinstance(exc, SandboxError):
        return f"{exc.reason}: {exc.message}"[:2000]
    return f"{type(exc).__name__}: {exc}"[:2000]


# What the Plugin API gateway keeps of an installation per process (runtime/plugin_api/gateway.py): a write to any
# of these columns replaces the installation's state token, so every process re-reads it on its next call.
GATEWAY_COLUMNS = frozenset({"status", "permissions", "version", "plugin_version", "plugin", "user", "org"})


def _save(installation: Installation, fields: list[str]) -> None:
    installation.save(update_fields=fields)
    if GATEWAY_COLUMNS.intersection(fields):
        admission.installation_changed(installation.pk)


def _record_error(installation: Installation, error: str, *, status: str | None = None) -> None:
    installation.last_error = error
    fields = ["last_error", "updated_at"]
    if status:
        installation.status = status
        fields.append("status")
    _save(installation, fields)


def _lock(installation: Installation) -> Installation:
    return Installation.objects.select_for_update().get(pk=installation.pk)


def _hook_failed(exc: Exception) -> ServiceError:
    if isinstance(exc, SandboxUnavailable):
        return SandboxMissing(exc.message)
    if isinstance(exc, PackageError):
        return ServiceError(exc.message, code=f"package_{exc.code}")
    return ServiceError(f"The plugin's hook failed: {_describe(exc)}", code="hook_failed", status_code=422)


HOOK_ERRORS = (PluginCallError, SandboxError, PackageError)


# -- install ------------------------------------------------------------------------------------------------------

@transaction.atomic
def installation_install(*, plugin_version, user, org=None, granted_scopes=None) -> Installation:
    """Record the installation as `installing` and queue its provisioning (unpack, data dir, on_install)."""
    if getattr(plugin_version, "status", APPROVED) != APPROVED:
        raise NotFound("This plugin version is not available for installation.")
    if org is not None and not host_api.is_org_admin(user=user, org=org):
        raise Forbidden("Only an administrator of the organization can install plugins for it.")
    manifest = _manifest(plugin_version)
    granted = _check_consent(manifest, granted_scopes)
    _require_dependencies(plugin_version, user=user, org=org)
    if _owner_installations(user=user, org=org).filter(plugin_id=plugin_version.plugin_id).exists():
        raise Conflict("This plugin is already installed.", code="already_installed")
    installation = Installation(
        plugin_id=plugin_version.plugin_id, user=user, org=org, version=plugin_version.version,
        plugin_version=plugin_version, status=S.INSTALLING, permissions=granted,
    )
    installation.full_clean()
    installation.save()
    from runtime.tasks import installation_provision_task

    transaction.on_commit(lambda: installation_provision_task.delay(str(installation.pk)))
    return installation


def installation_provision(*, installation_id) -> Installation:
    """Unpack the package, prepare the data directory, warm a worker and run on_install. Idempotent."""
    with transaction.atomic():
        try:
            installation = Installation.objects.select_for_update(of=("self",)).select_related(
                "plugin_version").get(pk=installation_id)
        except Installation.DoesNotExist:
            raise NotFound("No such installation.") from None
        if installation.status != S.INSTALLING:
            return installation
    try:
        plugin_files.create_data_dir(installation.pk, quota_mb=invocation.limits_for(installation).disk_mb)
        _run_hook(installation, installation.plugin_version, "on_install")
    except HOOK_ERRORS as exc:
        logger.info("installation %s failed: %s", installation.pk, _describe(exc))
        get_pool().discard(str(installation.pk)) if not isinstance(exc, SandboxUnavailable) else None
        plugin_files.remove_data_dir(installation.pk)
        PluginStorageItem.objects.filter(installation=installation).delete()
        _record_error(installation, f"on_install: {_describe(exc)}", status=S.FAILED)
        return installation
    with transaction.atomic():
        installation = _lock(installation)
        if installation.status == S.INSTALLING:
            installation.status = S.INSTALLED
            installation.last_error = ""
            _save(installation, ["status", "last_error", "updated_at"])
    return installation


# -- activate / deactivate ------------------------------------------------------------------------------------------

def installation_activate(*, installation: Installation) -> Installation:
    """Its dependencies must be active (as at install: one of them may have been uninstalled since); they are checked
    before on_activate runs and again, locked, when the installation becomes active."""
    with transaction.atomic():
        installation = _lock(installation)
        if installation.status == S.ACTIVE:
            return installation
        if installation.status != S.INSTALLED:
            raise Conflict(f"An installation that is {installation.status} cannot be activated.",
                           code="invalid_state")
        if installation.plugin_version_id:
            _require_dependencies(installation.plugin_version, user=installation.user_id, org=installation.org_id)
    try:
        _run_hook(installation, installation.plugin_version, "on_activate")
    except HOOK_ERRORS as exc:
        _record_error(installation, f"on_activate: {_describe(exc)}")
        raise _hook_failed(exc) from None
    with transaction.atomic():
        installation = _lock(installation)
        if installation.status == S.ACTIVE:
            return installation
        if installation.status != S.INSTALLED:  # uninstalled or updated while on_activate ran
            raise Conflict(f"An installation that is {installation.status} cannot be activated.",
                           code="invalid_state")
        if installation.plugin_version_id:
            _require_dependencies(installation.plugin_version, user=installation.user_id, org=installation.org_id)
        installation.status = S.ACTIVE
        installation.activated_at = timezone.now()
        installation.last_error = ""
        installation.full_clean()
        _save(installation, ["status", "activated_at", "last_error", "updated_at"])
        invocation.restore_api(installation.pk)
    return installation


def installation_deactivate(*, installation: Installation) -> Installation:
    """API access is revoked first (calls in flight lose it at once), then on_deactivate runs."""
    with transaction.atomic():
        installation = _lock(installation)
        if installation.status == S.INSTALLED:
            return installation
        if installation.status != S.ACTIVE:
            raise Conflict(f"An installation that is {installation.status} cannot be deactivated.",
                           code="invalid_state")
        _refuse_if_depended_on(installation, "deactivated")
        invocation.revoke_api(installation.pk)
        installation.status = S.INSTALLED
        _save(installation, ["status", "updated_at"])
    error = ""
    try:
        _run_hook(installation, installation.plugin_version, "on_deactivate")
    except HOOK_ERRORS as exc:
        error = f"on_deactivate: {_describe(exc)}"
    get_pool().discard(str(installation.pk))
    # After the hook (whose init may register again): the plugin's UI and event subscriptions go.
    ui_extensions_remove(installation_id=installation.pk)
    if error:
        _record_error(installation, error)
    return installation


# -- update / rollback ----------------------------------------------------------------------------------------------

def installation_update(*, installation: Installation, plugin_version, granted_scopes=None) -> Installation:
    """Move to another version of the same plugin: its on_update(previous_version) runs in the NEW code; on failure
    the installation stays on its version. Warm workers are replaced (hot reload) without dropping calls in flight."""
    if plugin_version.plugin_id != installation.plugin_id:
        raise ServiceError("That version belongs to another plugin.", code="wrong_plugin")
    if getattr(plugin_version, "status", APPROVED) != APPROVED and plugin_version != installation.previous_version:
        raise NotFound("This plugin version is not available for installation.")
    with transaction.atomic():
        installation = _lock(installation)
        if installation.status not in (S.INSTALLED, S.ACTIVE):
            raise Conflict(f"An installation that is {installation.status} cannot be updated.", code="invalid_state")
        if installation.plugin_version_id == plugin_version.pk:
            return installation
        scopes = installation.permissions if granted_scopes is None else granted_scopes
        granted = _check_consent(_manifest(plugin_version), scopes)
        # The new version's own dependencies must be active, and it must stay in the range of every dependant.
        _require_dependencies(plugin_version, user=installation.user_id, org=installation.org_id)
        _refuse_if_depended_on(installation, f"moved to version {plugin_version.version}",
                               new_version=plugin_version.version)
        previous_status = installation.status
        previous_version = installation.plugin_version
        installation.status = S.UPDATING
        _save(installation, ["status", "updated_at"])
    old_version_string = installation.version
    try:
        # The hook runs with the new version's code and identity.
        installation.version = plugin_version.version
        _run_hook(installation, plugin_version, "on_update", [old_version_string])
    except HOOK_ERRORS as exc:
        installation.version = old_version_string
        _record_error(installation, f"on_update: {_describe(exc)}", status=previous_status)
        raise _hook_failed(exc) from None
    try:
        with transaction.atomic():
            installation = _lock(installation)
            # Checked again, locked: a dependency may have gone, or a dependant come, while on_update ran.
            _require_dependencies(plugin_version, user=installation.user_id, org=installation.org_id)
            _refuse_if_depended_on(installation, f"moved to version {plugin_version.version}",
                                   new_version=plugin_version.version)
            installation.previous_version = previous_version
            installation.plugin_version = plugin_version
            installation.version = plugin_version.version
            installation.permissions = granted
            installation.status = previous_status
            installation.last_error = ""
            installation.full_clean()
            _save(installation, ["previous_version", "plugin_version", "version", "permissions", "status",
                                 "last_error", "updated_at"])
    except ServiceError as exc:
        installation.version = old_version_string
        _record_error(installation, f"update to {plugin_version.version}: {exc.message}", status=previous_status)
        raise
    return installation


def installation_rollback(*, installation: Installation) -> Installation:
    if installation.previous_version_id is None:
        raise Conflict("There is no previous version to roll back to.", code="no_previous_version")
    return installation_update(installation=installation, plugin_version=installation.previous_version)


# -- uninstall ------------------------------------------------------------------------------------------------------

def installation_uninstall(*, installation: Installation) -> Installation:
    """on_uninstall runs (its failure cannot block the uninstall), then the worker, data and storage are removed."""
    with transaction.atomic():
        installation = _lock(installation)
        if installation.status == S.UNINSTALLED:
            return installation
        if installation.status in (S.INSTALLING, S.UPDATING, S.UNINSTALLING):
            raise Conflict(f"An installation that is {installation.status} cannot be uninstalled now.",
                           code="invalid_state")
        _refuse_if_depended_on(installation, "uninstalled")
        was = installation.status
        invocation.revoke_api(installation.pk)
        installation.status = S.UNINSTALLING
        _save(installation, ["status", "updated_at"])
    error = ""
    if was != S.FAILED:
        try:
            _run_hook(installation, installation.plugin_version, "on_uninstall")
        except HOOK_ERRORS as exc:
            error = f"on_uninstall: {_describe(exc)}"
    get_pool().discard(str(installation.pk))
    ui_extensions_remove(installation_id=installation.pk)
    plugin_files.remove_data_dir(installation.pk)
    with transaction.atomic():
        installation = _lock(installation)
        PluginStorageItem.objects.filter(installation=installation).delete()
        installation.status = S.UNINSTALLED
        installation.uninstalled_at = timezone.now()
        installation.last_error = error
        _save(installation, ["status", "uninstalled_at", "last_error", "updated_at"])
    invocation.restore_api(installation.pk)
    return installation


# -- invoke ---------------------------------------------------------------------------------------------------------

def installation_invoke(*, installation: Installation, function: str, args: list | None = None,
                        kwargs: dict | None = None) -> dict[str, Any]:
    """Call one of the plugin's functions in its sandbox. Returns {"value", "wall_ms", "cpu_ms", ...}."""
    if not isinstance(function, str) or not function or function.startswith("_") or len(function) > 100:
        raise ServiceError("function must name one of the plugin's public functions.", code="invalid_function")
    if not isinstance(args or [], list) or not isinstance(kwargs or {}, dict):
        raise ServiceError("args must be a list and kwargs an object.", code="invalid_arguments")
    # The manifest column is read only on a metadata cache miss (services._manifest).
    installation = (Installation.objects.select_related("plugin_version").defer("plugin_version__manifest")
                    .get(pk=installation.pk))
    if installation.status != S.ACTIVE:
        raise Conflict(f"The installation is {installation.status}; activate it first.", code="not_active")
    try:
        api_limits.execution_budget_check(installation_id=str(installation.pk))
    except api_limits.ExecutionBudgetExceeded as exc:
        raise InvocationFailed(str(exc), code="daily_time", status_code=429) from None
    try:
        code_dir, main = _code_for(installation.plugin_version)
        outcome = invocation.run(installation, code_dir=code_dir, main=main, kind="function", name=function,
                                 args=args or [], kwargs=kwargs or {})
    except SandboxUnavailable as exc:
        raise SandboxMissing(exc.message) from None
    except PluginCallError as exc:
        _spent(installation, getattr(exc, "usage", (0,))[0])
        raise InvocationFailed(f"{exc.error_type}: {exc.message}", code="plugin_error",
                               fields={"traceback": exc.traceback} if settings.DEBUG else None) from None
    except (CallTimeout, LimitExceeded) as exc:
        _spent(installation, getattr(exc, "usage", (installation_timeout(installation) * 1000,))[0])
        raise InvocationFailed(exc.message, code=exc.reason) from None
    except SandboxError as exc:
        raise InvocationFailed(exc.message, code=exc.reason) from None
    except PackageError as exc:
        raise InvocationFailed(exc.message, code=f"package_{exc.code}") from None
    _spent(installation, outcome.wall_ms)
    Installation.objects.filter(pk=installation.pk).update(last_used_at=timezone.now())
    return outcome.as_dict()


def installation_timeout(installation: Installation) -> float:
    return float(invocation.limits_for(installation).function_timeout)


def _spent(installation: Installation, wall_ms: float) -> None:
    try:
        api_limits.execution_seconds_add(installation_id=str(installation.pk), seconds=(wall_ms or 0) / 1000)
    except Exception:  # noqa: BLE001 - the budget counter must never fail a call that already ran
        logger.exception("could not count execution time")

