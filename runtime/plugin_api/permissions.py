"""Granting and revoking an installation's optional scopes after install (spec §Security Model: explicit grants,
revocable at once). A change replaces the installation's state token, so the gateway, in every process, reads the
grants afresh and the change bites on the plugin's next call, even inside a call already running in a warm worker."""

from __future__ import annotations

from django.db import transaction

from aisquare_plugins.exceptions import NotFound, ServiceError
from runtime.models import Installation, PluginUsage
from runtime.plugin_api import admission, audit


def _may_manage(installation: Installation, user) -> bool:
    from host.api import is_org_admin

    if installation.org_id:
        return is_org_admin(user=user, org=installation.org_id)
    return installation.user_id == user.pk


@transaction.atomic
def installation_scopes_set(*, installation: Installation, user, granted_scopes: list[str]) -> Installation:
    """Set the granted scopes: every required scope of the installed version must stay (uninstall to withdraw
    consent to those); optional scopes may be added or removed; anything the plugin does not ask for is refused."""
    from runtime.services import _check_consent, _manifest, _permissions

    installation = Installation.objects.select_for_update(of=("self",)).select_related("plugin_version").get(
        pk=installation.pk)
    if installation.status == Installation.Status.UNINSTALLED or not _may_manage(installation, user):
        raise NotFound("Installation not found.")
    if not isinstance(granted_scopes, list) or not all(isinstance(s, str) for s in granted_scopes):
        raise ServiceError("granted_scopes must be a list of scopes.", fields={"scopes": ["A list of scopes."]})
    manifest = _manifest(installation.plugin_version) if installation.plugin_version_id else {}
    required, _ = _permissions(manifest)
    dropped_required = sorted(required - set(granted_scopes))
    if dropped_required:
        raise ServiceError(
            f"These permissions are required by the plugin and cannot be revoked: {', '.join(dropped_required)}. "
            "Uninstall the plugin to withdraw them.", code="required_scope", fields={"scopes": dropped_required},
        )
    granted = _check_consent(manifest, granted_scopes)
    before = set(installation.permissions or [])
    installation.permissions = granted
    installation.full_clean()
    installation.save(update_fields=["permissions", "updated_at"])
    admission.installation_changed(installation.pk)
    for action, scopes in (("permissions.grant", set(granted) - before), ("permissions.revoke", before - set(granted))):
        if scopes:
            audit.record(plugin_id=installation.plugin_id, installation_id=str(installation.pk), user_id=user.pk,
                         version=installation.version, action=action, resource_type="scope",
                         resource_id=",".join(sorted(scopes))[:255], outcome=PluginUsage.Outcome.OK,
                         metadata={"scopes": sorted(scopes), "by": str(user.pk)})
    transaction.on_commit(audit.flush)
    return installation
