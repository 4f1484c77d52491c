"""A real plugin package in the catalogue: a widget plugin that the sandbox runs (install, activate, dashboard)."""

import hashlib

from django.core.files.base import ContentFile
from django.utils import timezone

from runtime.api import read_package
from tests.factories import PluginVersionFactory
from tests.runtime.packages import build_package

WIDGET_SOURCE = '''
context = None
VERSION = "{version}"


def init(ctx):
    global context
    context = ctx


def on_activate():
    context.call("ui.addMenuItem", item={{"id": "reports", "label": "Quiz reports", "route": "/plugins/quizmaster/"}})
    context.call("ui.addDashboardWidget", widget={{
        "id": "scores", "title": "Quiz scores",
        "html": "<p>Class average: <strong>87%</strong> (v" + VERSION + ")</p>",
    }})
'''

PERMISSIONS = [
    {"scope": "content:read", "reason": "Reads your lessons to build quizzes from them.", "optional": False},
    {"scope": "ai:use", "reason": "Suggests questions with the platform's AI.", "optional": True},
]


def packaged_version(plugin, version="1.0.0", *, min_platform="2.0.0", dependencies=()):
    """An approved version of `plugin` with a real package (manifest validated by the runtime's reader)."""
    data = build_package(
        WIDGET_SOURCE.format(version=version), plugin_id=plugin.pk, version=version,
        manifest_data={
            "id": plugin.pk, "name": plugin.name, "version": version, "description": plugin.description,
            "author": {"name": "Quiz Studio"}, "category": plugin.category, "tags": plugin.tags,
            "permissions": PERMISSIONS, "minPlatformVersion": min_platform, "dependencies": list(dependencies),
        },
    )
    manifest = read_package(data).manifest.data
    major, minor, patch = (int(part) for part in version.split("."))
    return PluginVersionFactory(
        plugin=plugin, version=version, version_major=major, version_minor=minor, version_patch=patch,
        package=ContentFile(data, name=f"{plugin.pk}-{version}.zip"), sha256=hashlib.sha256(data).hexdigest(),
        size=len(data), manifest=manifest, min_platform_version=min_platform,
        min_platform_key=int(min_platform.split(".")[0]) * 100_000_000 + int(min_platform.split(".")[1]) * 10_000,
        published_at=timezone.now(), changelog=f"Release {version}.",
    )
