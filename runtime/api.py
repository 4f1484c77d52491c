"""The runtime app's public surface: the only module of it that other apps may import.

- Package reading (the publishing pipeline): `read_package(data) -> Package`, or the ordered steps one by one
  (`check_size`, `open_zip`, `check_entries`, `check_paths`, `read_files`, `load_manifest`, `check_main`), each
  raising `PackageError(code, message)`; `extract_package(package, dest)`.
- Lifecycle services (keyword-only): `installation_install(*, plugin_version, user, org=None, granted_scopes)`,
  `installation_activate(*, installation)`, `installation_deactivate(*, installation)`,
  `installation_update(*, installation, plugin_version, granted_scopes=None)`, `installation_rollback(*,
  installation)`, `installation_uninstall(*, installation)`, `installation_invoke(*, installation, function, args,
  kwargs) -> {"value", "wall_ms", "cpu_ms", "peak_memory_kb", "cold_start", "api_calls"}`. Deactivating or
  uninstalling a plugin that the owner's other active installations depend on raises Conflict `has_dependants`.
- Selectors: `installations_for_user(*, user)`, `installation_get_for_user(*, user, installation_id)` (NotFound for
  missing or foreign), `installed_plugin_ids(*, user)`, `user_has_used_plugin(*, user, plugin_id)`.
- The sandbox: `sandbox_available()`, and its errors.
"""

from runtime.package import (
    Package,
    PackageError,
    check_entries,
    check_main,
    check_paths,
    check_size,
    extract_package,
    load_manifest,
    open_zip,
    read_files,
    read_package,
)
from runtime.sandbox.base import (
    CallTimeout,
    LimitExceeded,
    PluginCallError,
    SandboxError,
    SandboxUnavailable,
    SandboxViolation,
)
from runtime.selectors import (
    installation_get_for_user,
    installations_for_user,
    installed_plugin_ids,
    user_has_used_plugin,
)
from runtime.services import (
    InvocationFailed,
    installation_activate,
    installation_deactivate,
    installation_install,
    installation_invoke,
    installation_provision,
    installation_rollback,
    installation_uninstall,
    installation_update,
)


def sandbox_available() -> bool:
    """True when plugin code can run here (a sandbox backend is configured and works)."""
    from runtime.sandbox.pool import get_backend

    try:
        get_backend()
    except SandboxUnavailable:
        return False
    return True


__all__ = [
    "CallTimeout", "InvocationFailed", "LimitExceeded", "Package", "PackageError", "PluginCallError", "SandboxError",
    "SandboxUnavailable", "SandboxViolation", "check_entries", "check_main", "check_paths", "check_size",
    "extract_package", "installation_activate", "installation_deactivate", "installation_get_for_user",
    "installation_install", "installation_invoke",
    "installation_provision", "installation_rollback", "installation_uninstall",
    "installation_update", "installations_for_user", "installed_plugin_ids", "load_manifest", "open_zip",
    "read_files", "read_package", "sandbox_available", "user_has_used_plugin",
]


def usage_counts(*, plugin_id: str, start, end) -> dict:
    """Billable uses of a plugin in [start, end) for usage-based pricing (added by the revenue app, issue 8).

    A use is a successful run of one of its hooks, functions or event handlers (`plugin_usage` rows with
    resource_type "plugin" and outcome ok). Counted per owner: ("org", org_id) for an organization's installation,
    ("user", user_id) for a personal one.
    """
    from django.db.models import Count

    from runtime.models import Installation, PluginUsage

    rows = list(
        PluginUsage.objects.filter(
            plugin_id=plugin_id, created_at__gte=start, created_at__lt=end, resource_type="plugin",
            outcome=PluginUsage.Outcome.OK,
        ).values("installation_id", "user_id").annotate(uses=Count("id")).order_by()
    )
    orgs = dict(
        Installation.objects.filter(pk__in={r["installation_id"] for r in rows if r["installation_id"]})
        .values_list("pk", "org_id")
    )
    counts: dict = {}
    for row in rows:
        org_id = orgs.get(row["installation_id"])
        owner = ("org", org_id) if org_id else ("user", row["user_id"])
        counts[owner] = counts.get(owner, 0) + row["uses"]
    return counts


# --- The Plugin API (issue 4): UI extensions rendered by the platform ----------------------------------------------

def ui_extensions_for_user(*, user) -> dict:
    """What the user's dashboard shows of their active plugins (theirs and their organizations'): menu_items,
    widgets (each with `html` sanitized by nh3 and marked safe), toolbar_actions, settings_pages, routes,
    notifications and theme colours."""
    from runtime.plugin_api.ui import ui_extensions_for_user as _for_user

    return _for_user(user=user)



def installation_scopes_set(*, installation, user, granted_scopes: list[str]):
    """Grant or revoke optional scopes of an installation (its user, or an admin of its organization). Required
    scopes cannot be revoked; the change applies to the plugin's very next Plugin API call."""
    from runtime.plugin_api.permissions import installation_scopes_set as _set

    return _set(installation=installation, user=user, granted_scopes=granted_scopes)


def plugin_caches_invalidate(*, plugin_id: str, version: str | None = None) -> None:
    """Forget the runtime's cached metadata of a plugin and the cached code of `version` (of every version when
    None). The catalogue calls this on commit whenever a version is published or yanked (through its catalogue-cache
    invalidation hook); the publishing pipeline also calls it for a yanked version."""
    from runtime.models import Installation
    from runtime.plugin_api.cache import plugin_caches_invalidate as _invalidate

    if version is not None:
        versions = [version]
    else:
        versions = list(Installation._meta.get_field("plugin_version").related_model.objects.filter(
            plugin_id=plugin_id).values_list("version", flat=True))
    _invalidate(plugin_id=plugin_id, versions=versions)
