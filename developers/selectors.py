"""Reads of the publishing pipeline: one gate per object for developers, the review queue, and what a reviewer
sees of a version (manifest, scopes and what changed, file tree, code diff)."""

from __future__ import annotations

import difflib
import io
import zipfile
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils import timezone

from aisquare_plugins.exceptions import NotFound
from developers.models import Developer, DeveloperNotice, DeveloperToken, Submission
from marketplace import api as marketplace_api

# Review diff limits: a reviewer's page stays readable and bounded whatever the package holds.
MAX_DIFF_FILES = 50
MAX_DIFF_LINES = 4000


def developer_for_user(*, user) -> Developer | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Developer.objects.filter(user=user).first()


def package_already_uploaded(*, sha256: str) -> bool:
    return marketplace_api.plugin_version_sha256_exists(sha256=sha256)


def access_plugin_by_id(*, developer: Developer | None, plugin_id: str):
    """The developer's own plugin, or NotFound (for a missing plugin and for someone else's alike)."""
    try:
        plugin = marketplace_api.plugin_get(plugin_id=str(plugin_id))
    except NotFound:
        plugin = None
    if plugin is None or developer is None or plugin.developer_id != developer.pk:
        raise NotFound("No such plugin.")
    return plugin


def access_submission_by_version_id(*, developer: Developer | None, version_id) -> Submission:
    """The developer's own version's submission, or NotFound (missing and forbidden alike)."""
    if developer is None:
        raise NotFound("No such version.")
    try:
        return Submission.objects.select_related("version__plugin").get(
            version_id=version_id, developer=developer, version__plugin__developer=developer)
    except (Submission.DoesNotExist, ValueError, TypeError, DjangoValidationError):
        raise NotFound("No such version.") from None


def developer_tokens(*, developer: Developer) -> QuerySet[DeveloperToken]:
    return DeveloperToken.objects.filter(developer=developer)


def developer_notices(*, developer: Developer) -> QuerySet[DeveloperNotice]:
    return DeveloperNotice.objects.filter(developer=developer)


def version_summary(version, submission: Submission | None) -> dict[str, Any]:
    return {
        "id": str(version.pk),
        "version": version.version,
        "status": version.status,
        "status_label": version.get_status_display(),
        "uploaded_at": version.created_at,
        "published_at": version.published_at,
        "sha256": version.sha256,
        "size": version.size,
        "quality_score": version.quality_score,
        "quality": submission.quality if submission else {},
        "findings": submission.findings if submission else [],
        "scan_error": submission.scan_error if submission else "",
        "reviewer_note": submission.reviewer_note if submission else "",
        "yank_reason": version.yank_reason,
    }


def developer_plugins_overview(*, developer: Developer) -> list[dict[str, Any]]:
    """The developer's plugins, each with every version's status, findings, quality and reviewer note."""
    plugins = marketplace_api.plugins_of_developer(developer=developer)
    versions = marketplace_api.plugin_versions_of(plugin_ids=[p.pk for p in plugins])
    submissions = {s.version_id: s for s in Submission.objects.filter(version_id__in=[v.pk for v in versions])}
    by_plugin: dict[str, list] = {}
    for version in versions:
        by_plugin.setdefault(version.plugin_id, []).append(version_summary(version, submissions.get(version.pk)))
    return [
        {
            "id": plugin.pk,
            "name": plugin.name,
            "category": plugin.category,
            "version": plugin.version,
            "published_at": plugin.published_at,
            "description": plugin.description,
            "tags": plugin.tags,
            "documentation_url": plugin.documentation_url,
            "support_url": plugin.support_url,
            "verified": plugin.verified,
            "featured": plugin.featured,
            "versions": by_plugin.get(plugin.pk, []),
        }
        for plugin in plugins
    ]


def review_queue() -> QuerySet[Submission]:
    """Versions that passed their scan and wait for a reviewer, oldest first."""
    return Submission.objects.filter(version__status="passed").select_related(
        "version__plugin", "developer", "claimed_by").order_by("created_at")


def pending_review_count() -> int:
    return review_queue().count()


def _read_zip(field_file) -> dict[str, bytes]:
    """The files of a stored package (it passed validation on upload; read it with the same reader)."""
    from runtime import api as runtime_api

    with field_file.open("rb") as handle:
        data = handle.read()
    try:
        return runtime_api.read_package(data).files
    except runtime_api.PackageError:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {i.filename: b"" for i in zf.infolist() if not i.is_dir()}


def _text(content: bytes) -> list[str] | None:
    try:
        return content.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None


def version_review_context(*, submission: Submission) -> dict[str, Any]:
    """What the review console shows: manifest, scopes asked (new ones marked), file tree and a code diff against
    the previous approved version."""
    version = submission.version
    manifest = version.manifest or {}
    previous = marketplace_api.plugin_version_previous_approved(version=version)
    old_scopes = {p["scope"] for p in (previous.manifest or {}).get("permissions", [])} if previous else set()
    scopes = [
        {**p, "new": previous is not None and p["scope"] not in old_scopes}
        for p in manifest.get("permissions", [])
    ]
    removed_scopes = sorted(old_scopes - {p["scope"] for p in scopes})
    files = _read_zip(version.package)
    old_files = _read_zip(previous.package) if previous else {}
    tree = [{"path": path, "size": len(content), "status": (
        "added" if previous and path not in old_files else
        "changed" if previous and old_files.get(path) != content else "unchanged" if previous else "")}
        for path, content in sorted(files.items())]
    removed_files = sorted(set(old_files) - set(files)) if previous else []
    diff_lines: list[str] = []
    truncated = False
    changed = [p for p in sorted(set(files) | set(old_files)) if files.get(p) != old_files.get(p)]
    for path in changed[:MAX_DIFF_FILES]:
        new, old = _text(files.get(path, b"")), _text(old_files.get(path, b""))
        if new is None or old is None:
            diff_lines.append(f"Binary file {path} differs")
            continue
        diff_lines.extend(difflib.unified_diff(old, new, f"a/{path}" if path in old_files else "/dev/null",
                                               f"b/{path}" if path in files else "/dev/null", lineterm=""))
        if len(diff_lines) > MAX_DIFF_LINES:
            truncated = True
            break
    if len(changed) > MAX_DIFF_FILES:
        truncated = True
    manifest_changes = []
    if previous:
        old_manifest = previous.manifest or {}
        for key in sorted(set(manifest) | set(old_manifest)):
            if manifest.get(key) != old_manifest.get(key) and key not in ("version", "changelog"):
                manifest_changes.append(key)
    return {
        "version": version,
        "previous": previous,
        "manifest": manifest,
        "scopes": scopes,
        "new_scopes": [s["scope"] for s in scopes if s["new"]],
        "removed_scopes": removed_scopes,
        "manifest_changes": manifest_changes,
        "tree": tree,
        "removed_files": removed_files,
        "diff": "\n".join(diff_lines[:MAX_DIFF_LINES]),
        "diff_truncated": truncated,
        "age": timezone.now() - submission.created_at,
    }
