"""Writes of the marketplace's own flows: installing a plugin from its listing (spec §3 `install_plugin`)."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

import revenue.api as revenue_api
import runtime.api as runtime_api
from aisquare_plugins.exceptions import Conflict, PaymentRequired, ServiceError
from marketplace import catalogue, selectors
from marketplace.models import Plugin, PricingModel


def plugin_check_entitlement(*, plugin: Plugin, user, org=None) -> None:
    """Free plugins need nothing; a paid one needs a purchase or subscription recorded by the revenue app."""
    if plugin.pricing_model == PricingModel.FREE:
        return
    entitlement_exists = getattr(revenue_api, "entitlement_exists", None)
    if entitlement_exists is not None and entitlement_exists(plugin_id=plugin.pk, user=user, org=org):
        return
    raise PaymentRequired(
        f"{plugin.name} is a paid plugin ({plugin.get_pricing_model_display().lower()}): "
        "payment is required before it can be installed.",
    )


def consented_scopes(*, permissions: list[dict], granted_scopes: list[str]) -> list[str]:
    """The scopes to grant: every required one must be consented to; optional ones only as chosen."""
    asked = {p["scope"] for p in permissions}
    unknown = sorted(set(granted_scopes) - asked)
    if unknown:
        raise ServiceError(
            f"This plugin does not ask for {', '.join(unknown)}.",
            code="unknown_scope",
            fields={"granted_scopes": unknown},
        )
    missing = [p["scope"] for p in permissions if not p["optional"] and p["scope"] not in granted_scopes]
    if missing:
        raise ServiceError(
            f"Installing needs your consent to the required permissions: {', '.join(missing)}.",
            code="consent_required",
            fields={"granted_scopes": missing},
        )
    return [p["scope"] for p in permissions if p["scope"] in granted_scopes]


@transaction.atomic
def plugin_install(*, plugin_id: str, user, granted_scopes: list[str], org=None):
    """Install the newest approved version that runs on this platform, for `user` (or for `org`, which the user
    administers: see host.api.access_administered_org_by_id), with the consented scopes.

    Refusals: 404 for an unlisted plugin, 409 when it is already installed or has no compatible version, 400 when
    a required scope is not consented, 402 when payment is required. The download counter moves with F() on success.
    """
    plugin = selectors.access_plugin_by_id(plugin_id=plugin_id)
    # For an organization the runtime makes the same check against the organization's installations.
    if org is None and plugin.pk in selectors.personal_installed_plugin_ids(user=user):
        raise Conflict(f"{plugin.name} is already installed.", code="already_installed")
    version = selectors.installable_version(plugin=plugin)
    if version is None:
        latest = selectors.latest_version(plugin=plugin)
        raise Conflict(
            f"{plugin.name} {latest.version if latest else ''} does not run on platform {settings.PLATFORM_VERSION}: "
            f"it needs {selectors.platform_range(latest)}.",
            code="incompatible",
        )
    scopes = consented_scopes(permissions=selectors.version_permissions(version), granted_scopes=list(granted_scopes))
    plugin_check_entitlement(plugin=plugin, user=user, org=org)
    try:
        with transaction.atomic():  # a savepoint: a concurrent install of the same plugin loses cleanly
            installation = runtime_api.installation_install(
                plugin_version=version, user=user, org=org, granted_scopes=scopes
            )
    except IntegrityError:
        raise Conflict(f"{plugin.name} is already installed.", code="already_installed") from None
    catalogue.plugin_downloads_increment(plugin_id=plugin.pk)
    return installation


def installation_update_to_newest(*, installation):
    """Update an installation to the newest approved version that runs here, keeping the scopes it still asks for.

    A new required scope needs consent: the runtime refuses with `consent_required`, naming it.
    """
    newest = selectors.newest_installable_versions(plugin_ids=[installation.plugin_id]).get(installation.plugin_id)
    if newest is None or not selectors.is_newer(newest, installation.plugin_version):
        raise Conflict(f"{installation.plugin.name} {installation.version} is the newest version for this platform.",
                       code="up_to_date")
    asked = {p["scope"] for p in selectors.version_permissions(newest)}
    scopes = [scope for scope in installation.permissions if scope in asked]
    return runtime_api.installation_update(installation=installation, plugin_version=newest, granted_scopes=scopes)
