"""Listed plugins for marketplace tests: a plugin row plus the versions that make it visible (or not)."""

from datetime import timedelta

from django.utils import timezone

from aisquare_plugin_sdk.manifest import Version
from marketplace.models import PluginVersion
from tests.factories import PluginFactory, PluginVersionFactory

DEFAULT_PERMISSIONS = [
    {"scope": "content:read", "reason": "Reads the course to build quizzes.", "optional": False},
    {"scope": "ai:use", "reason": "Suggests questions.", "optional": True},
]


def add_version(plugin, version="1.0.0", *, status=PluginVersion.Status.APPROVED, min_platform="2.0.0",
                max_platform="", permissions=None, changelog=""):
    parsed = Version.parse(version)
    return PluginVersionFactory(
        plugin=plugin,
        version=version,
        version_major=parsed.major,
        version_minor=parsed.minor,
        version_patch=parsed.patch,
        status=status,
        min_platform_version=min_platform,
        min_platform_key=Version.parse(min_platform).as_int(),
        max_platform_version=max_platform,
        max_platform_key=Version.parse(max_platform).as_int() if max_platform else None,
        changelog=changelog,
        published_at=timezone.now() if status == PluginVersion.Status.APPROVED else None,
        manifest={
            "id": plugin.pk,
            "name": plugin.name,
            "version": version,
            "permissions": DEFAULT_PERMISSIONS if permissions is None else permissions,
        },
    )


def listed(*, age_days: float = 10, version="1.0.0", min_platform="2.0.0", max_platform="", permissions=None,
           **fields):
    """A published plugin with one approved version."""
    fields.setdefault("published_at", timezone.now() - timedelta(days=age_days))
    fields.setdefault("verified", True)
    plugin = PluginFactory(**fields)
    add_version(plugin, version, min_platform=min_platform, max_platform=max_platform, permissions=permissions)
    return plugin
