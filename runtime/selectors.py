"""Reads of installations and their usage. `installation_get_for_user` is the one gate to an installation."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from aisquare_plugins.exceptions import NotFound
from host import api as host_api
from runtime.models import Installation, PluginUsage


def installations_for_user(*, user, include_uninstalled: bool = False) -> QuerySet[Installation]:
    """The user's own installations and those of organizations they administer."""
    if not getattr(user, "is_authenticated", False):
        return Installation.objects.none()
    administered = host_api.organizations_administered(user=user)
    qs = Installation.objects.filter(Q(user=user, org__isnull=True) | Q(org__in=administered))
    if not include_uninstalled:
        qs = qs.exclude(status=Installation.Status.UNINSTALLED)
    return qs.select_related("plugin", "plugin_version", "org")


def installation_get_for_user(*, user, installation_id) -> Installation:
    """The installation if `user` owns it (or administers its organization); NotFound otherwise, missing or not."""
    try:
        return installations_for_user(user=user).get(pk=installation_id)
    except (Installation.DoesNotExist, ValueError, TypeError, ValidationError):  # an invalid UUID is "not found"
        raise NotFound("No such installation.") from None


def installed_plugin_ids(*, user) -> set[str]:
    return set(installations_for_user(user=user).values_list("plugin_id", flat=True))


def user_has_used_plugin(*, user, plugin_id: str) -> bool:
    """True when the user ran something of the plugin successfully (review eligibility)."""
    return PluginUsage.objects.filter(user=user, plugin_id=plugin_id, outcome=PluginUsage.Outcome.OK).exists()
