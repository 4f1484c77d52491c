"""The publishing pipeline's write services: developer accounts and tokens, upload, scan, review decisions,
notices and the blocklist. Views, admin actions, commands and tasks call these and nothing else writes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from aisquare_plugins.exceptions import Conflict, Forbidden, NotFound, ServiceError
from developers import selectors
from developers.authentication import TOKEN_PREFIX, token_hash
from developers.models import (
    BlockedHash,
    Developer,
    DeveloperNotice,
    DeveloperToken,
    ReviewAudit,
    Submission,
)
from developers.scanner import ScanContext, scan_safely
from marketplace import api as marketplace_api
from runtime import api as runtime_api

logger = logging.getLogger(__name__)

TOKEN_SCOPES = ("publish", "read")
# PackageError codes answered with 413 rather than 400.
_TOO_LARGE = {"too_large", "too_large_unpacked"}


# --- developer accounts -------------------------------------------------------------------------------------------


def developer_register(*, user, company_name: str, website: str = "", support_email: str = "") -> Developer:
    """Make a user a developer. One account per user."""
    with transaction.atomic():
        if Developer.objects.select_for_update().filter(user=user).exists():
            raise Conflict("You already have a developer account.", code="already_developer")
        developer = Developer(
            user=user, company_name=(company_name or "").strip(), website=website or "",
            support_email=support_email or user.email or "",
        )
        developer.full_clean()
        developer.save(force_insert=True)
        return developer


def developer_profile_update(*, developer: Developer, company_name: str, website: str, support_email: str,
                             payment_account_id: str | None = None) -> Developer:
    with transaction.atomic():
        developer = Developer.objects.select_for_update().get(pk=developer.pk)
        developer.company_name = (company_name or "").strip()
        developer.website = website or ""
        developer.support_email = support_email or ""
        fields = ["company_name", "website", "support_email", "updated_at"]
        if payment_account_id is not None:
            developer.payment_account_id = payment_account_id.strip()
            fields.append("payment_account_id")
        developer.full_clean()
        developer.save(update_fields=fields)
        return developer


def developer_verified_set(*, developer: Developer, actor, verified: bool, reason: str = "") -> Developer:
    """Staff: verify (or un-verify) a developer; their listings show the badge."""
    with transaction.atomic():
        developer = Developer.objects.select_for_update().get(pk=developer.pk)
        developer.verified = verified
        developer.save(update_fields=["verified", "updated_at"])
        marketplace_api.plugins_verified_set(developer=developer, verified=verified)
        _audit(actor=actor, action=ReviewAudit.Action.VERIFY_DEVELOPER if verified
               else ReviewAudit.Action.UNVERIFY_DEVELOPER, developer=developer, reason=reason)
        return developer


# --- tokens -------------------------------------------------------------------------------------------------------


def developer_token_create(
    *, developer: Developer, name: str, scopes: list[str], expires_in_days: int | None = 90
) -> tuple[DeveloperToken, str]:
    """Create an API token. Returns the row and the token itself, which is shown this once and never stored."""
    scopes = sorted(set(scopes or []))
    if not scopes or any(scope not in TOKEN_SCOPES for scope in scopes):
        raise ServiceError(f"scopes: choose from {', '.join(TOKEN_SCOPES)}.", code="invalid",
                           fields={"scopes": [f"choose from {', '.join(TOKEN_SCOPES)}"]})
    if expires_in_days is not None and not 1 <= int(expires_in_days) <= 366:
        raise ServiceError("expires_in_days: between 1 and 366 days.", code="invalid",
                           fields={"expires_in_days": ["between 1 and 366"]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = DeveloperToken(
            developer=developer, name=(name or "").strip()[:100] or "token", token_hash=token_hash(raw),
            last_four=raw[-4:], scopes=scopes,
            expires_at=timezone.now() + timedelta(days=int(expires_in_days)) if expires_in_days else None,
        )
        token.full_clean()
        token.save(force_insert=True)
    return token, raw


def developer_token_revoke(*, developer: Developer, token_id) -> DeveloperToken:
    with transaction.atomic():
        token = DeveloperToken.objects.select_for_update().filter(pk=token_id, developer=developer).first()
        if token is None:
            raise NotFound("No such token.")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
        return token


def developer_token_touch(*, token: DeveloperToken) -> None:
    """Record use, at most once a minute per token (an UPDATE per request would be wasteful)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        DeveloperToken.objects.filter(pk=token.pk).update(last_used_at=now)


# --- notices ------------------------------------------------------------------------------------------------------


def developer_notify(*, developer: Developer, subject: str, body: str, link: str = "") -> DeveloperNotice:
    """A notice in the developer's portal, and the same by e-mail (Celery, on commit)."""
    from developers import tasks

    with transaction.atomic():
        notice = DeveloperNotice(developer=developer, subject=subject[:255], body=body, link=link[:500])
        notice.full_clean()
        notice.save(force_insert=True)
        notice_id = str(notice.pk)
        transaction.on_commit(lambda: tasks.send_notice_email.delay(notice_id))
        return notice


def notice_email_send(*, notice_id) -> bool:
    """Send a notice's e-mail once (the task may run twice)."""
    from django.core.mail import send_mail

    with transaction.atomic():
        notice = DeveloperNotice.objects.select_for_update().select_related("developer__user").filter(
            pk=notice_id).first()
        if notice is None or notice.emailed_at is not None:
            return False
        to = notice.developer.support_email or notice.developer.user.email
        if to:
            link = f"\n\n{notice.link}" if notice.link else ""
            send_mail(notice.subject, notice.body + link, settings.DEFAULT_FROM_EMAIL, [to])
        notice.emailed_at = timezone.now()
        notice.save(update_fields=["emailed_at"])
        return bool(to)


def review_team_notify(*, version_id) -> int:
    """E-mail the review team (settings.REVIEW_TEAM_GROUP) that a version waits for review."""
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mail

    submission = Submission.objects.select_related("version__plugin").filter(version_id=version_id).first()
    if submission is None:
        return 0
    users = get_user_model().objects.filter(
        groups__name=settings.REVIEW_TEAM_GROUP, is_active=True).exclude(email="").distinct()
    recipients = sorted({u.email for u in users})
    if not recipients:
        return 0
    version = submission.version
    pending = selectors.review_queue().count()
    send_mail(
        f"[review] {version.plugin_id} {version.version} awaits review",
        f"{version.plugin.name} {version.version} passed its scan and waits for review "
        f"({pending} in the queue).\n\n/admin/developers/submission/{submission.pk}/change/",
        settings.DEFAULT_FROM_EMAIL, recipients,
    )
    return len(recipients)


# --- upload -------------------------------------------------------------------------------------------------------


def _package_error(exc) -> ServiceError:
    fields = {"plugin_package": getattr(exc, "errors", None) or [exc.message]}
    status_code = 413 if exc.code in _TOO_LARGE else 400
    return ServiceError(exc.message, code=exc.code, status_code=status_code, fields=fields)


def _check_metadata(metadata: Any, manifest) -> dict[str, Any]:
    """The optional `metadata` JSON of the upload: a changelog, and id/version that must agree with plugin.json."""
    if metadata in (None, "", b""):
        return {}
    if isinstance(metadata, (str, bytes)):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            raise ServiceError("metadata: not valid JSON.", code="invalid",
                               fields={"metadata": ["not valid JSON"]}) from None
    if not isinstance(metadata, dict):
        raise ServiceError("metadata: must be a JSON object.", code="invalid", fields={"metadata": ["an object"]})
    unknown = sorted(set(metadata) - {"id", "version", "changelog"})
    if unknown:
        raise ServiceError(f"metadata: unknown fields {', '.join(unknown)}; the listing comes from plugin.json.",
                           code="invalid", fields={"metadata": [f"unknown fields: {', '.join(unknown)}"]})
    for key, actual in (("id", manifest.id), ("version", str(manifest.data["version"]))):
        if key in metadata and metadata[key] != actual:
            raise ServiceError(f"metadata.{key} ({metadata[key]!r}) does not match plugin.json ({actual!r}).",
                               code="metadata_mismatch", fields={"metadata": [f"{key} differs from plugin.json"]})
    changelog = metadata.get("changelog", "")
    if not isinstance(changelog, str) or len(changelog) > 20000:
        raise ServiceError("metadata.changelog: a string of at most 20000 characters.", code="invalid")
    return metadata


def submission_upload(
    *, developer: Developer, user, data: bytes, metadata: Any = None, plugin_id: str | None = None
):
    """Validate an uploaded package (ordered checks, cheapest first) and store it as a new version, then queue its
    scan. Each refusal is a ServiceError with its own code and a 4xx; nothing is stored when one is raised.

    Order: size, zip validity, entries and compression ratio (bombs), paths (absolute, `..`, links, devices,
    duplicate and case-colliding names), duplicate upload (sha256), manifest schema (known scopes and category,
    coherent pricing, min ≤ max platform version: the SDK's validator), id ownership, version greater than every
    earlier one, pricing coherent with the developer's account. Ownership is checked before the version so that a
    stranger learns nothing about another developer's versions.
    """
    from developers import tasks

    try:
        runtime_api.check_size(data)
        zf = runtime_api.open_zip(data)
        with zf:
            runtime_api.check_entries(zf)
            entries = runtime_api.check_paths(zf)
            files = runtime_api.read_files(zf, entries)
    except runtime_api.PackageError as exc:
        raise _package_error(exc) from None
    sha256 = hashlib.sha256(data).hexdigest()
    if selectors.package_already_uploaded(sha256=sha256):
        raise Conflict("This exact package (same sha256) was already uploaded; change the version and rebuild.",
                       code="duplicate_package")
    try:
        manifest = runtime_api.load_manifest(files)
        runtime_api.check_main(manifest, files)
    except runtime_api.PackageError as exc:
        raise _package_error(exc) from None
    if plugin_id is not None and manifest.id != plugin_id:
        raise ServiceError(f"This package is for {manifest.id!r}, not {plugin_id!r}.", code="plugin_id_mismatch",
                           fields={"plugin_package": ["id in plugin.json differs from the URL"]})
    meta = _check_metadata(metadata, manifest)
    pricing = manifest.pricing
    if pricing.get("model", "free") != "free" and not developer.payment_account_id:
        raise ServiceError(
            "A paid plugin needs a connected payout account: connect one in the developer portal first.",
            code="pricing_incoherent", fields={"pricing": ["paid pricing needs a payout account"]},
        )

    stored = []
    try:
        with transaction.atomic():
            plugin = marketplace_api.plugin_register(plugin_id=manifest.id, developer=developer,
                                                     manifest=manifest.data)
            version = marketplace_api.plugin_version_create(
                plugin=plugin, manifest=manifest.data, data=data, sha256=sha256, uploaded_by=user,
                changelog=meta.get("changelog", ""),
            )
            stored.append(version.package)
            submission = Submission(version=version, developer=developer)
            submission.full_clean()
            submission.save(force_insert=True)
            version_id, generation = str(version.pk), submission.scan_count
            transaction.on_commit(lambda: tasks.scan_version.delay(version_id, generation))
    except Exception:
        for field_file in stored:
            field_file.delete(save=False)
        raise
    return version


def listing_update(*, developer: Developer, plugin_id: str, changes: dict[str, Any]):
    plugin = selectors.access_plugin_by_id(developer=developer, plugin_id=plugin_id)
    return marketplace_api.plugin_listing_update(plugin=plugin, changes=changes)


# --- scan ---------------------------------------------------------------------------------------------------------


def scan_context_for(*, developer: Developer | None) -> ScanContext:
    return ScanContext(
        existing_plugins=marketplace_api.plugin_identities(exclude_developer=developer),
        blocked_hashes=set(BlockedHash.objects.values_list("sha256", flat=True)),
        monitor_only=set(getattr(settings, "SCAN_MONITOR_ONLY_RULES", [])),
        quality_minimum=settings.QUALITY_MIN_SCORE,
        timeout=float(getattr(settings, "SCAN_TIMEOUT_SECONDS", 120)),
        cache=caches["default"],
    )


_SCANNABLE = ("uploaded", "validating", "scanning")


def submission_scan(*, version_id, generation: int) -> str | None:
    """Validate the stored package again, scan it and score it; record the verdict. Idempotent: a scan of an
    outdated generation, or of a version no longer waiting for a scan, does nothing. Anything that goes wrong while
    scanning records `errored`, which blocks publication."""
    Status = marketplace_api.plugin_version_statuses()
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related(
            "version__plugin", "developer").filter(version_id=version_id).first()
        if submission is None or submission.scan_count != generation or submission.version.status not in _SCANNABLE:
            return None
        version = submission.version
        marketplace_api.plugin_version_set_status(version=version, status=Status.VALIDATING)

    error = ""
    result = None
    try:
        with version.package.open("rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != version.sha256:
            raise ValueError("the stored package does not match the uploaded sha256")
        package = runtime_api.read_package(data)
    except Exception as exc:  # noqa: BLE001 - a package that cannot be read again must not pass
        error = f"validation: {type(exc).__name__}: {str(exc)[:300]}"
    else:
        with transaction.atomic():
            marketplace_api.plugin_version_set_status(version=version, status=Status.SCANNING,
                                                      allowed_from=(Status.VALIDATING,))
        context = scan_context_for(developer=submission.developer)
        result = scan_safely(package, context)

    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("version__plugin", "developer").get(
            pk=submission.pk)
        version = submission.version
        if submission.scan_count != generation or version.status not in _SCANNABLE:
            return None
        if result is None:
            verdict, findings, quality = "errored", [], {}
        else:
            verdict, findings, quality, error = (
                result.verdict, result.as_dict()["findings"], result.quality, result.error)
        submission.verdict = verdict
        submission.findings = findings
        submission.quality = quality
        submission.scan_error = error
        submission.scanned_at = timezone.now()
        submission.save(update_fields=["verdict", "findings", "quality", "scan_error", "scanned_at", "updated_at"])
        if quality.get("score") is not None:
            marketplace_api.plugin_version_set_quality(version=version, score=quality["score"])
        marketplace_api.plugin_version_set_status(version=version, status=verdict)
        _notify_verdict(submission, verdict)
        if verdict == Status.PASSED:
            from developers import tasks

            transaction.on_commit(lambda: tasks.notify_review_team.delay(str(version_id)))
    return verdict


def _notify_verdict(submission: Submission, verdict: str) -> None:
    version = submission.version
    link = f"/developer/versions/{version.pk}/"
    blocking = [f for f in submission.findings if f.get("enforced") and f.get("action") != "warn"]
    summary = "\n".join(f"- [{f['rule']}] {f['file']}{':' + str(f['line']) if f.get('line') else ''}: "
                        f"{f['message']}" for f in blocking[:20])
    messages = {
        "passed": ("passed its scan and waits for human review", ""),
        "rejected": ("was rejected by the automatic checks", summary),
        "quarantined": ("was quarantined by the security scan; a reviewer will look at it", summary),
        "errored": ("could not be scanned; it is blocked until a re-scan succeeds", submission.scan_error),
    }
    what, detail = messages[verdict]
    developer_notify(developer=submission.developer, subject=f"{version.plugin_id} {version.version} {what}",
                     body=f"{version.plugin_id} {version.version} {what}.\n\n{detail}".strip(), link=link)


def submission_rescan(*, submission: Submission, actor) -> Submission:
    """Scan a version again (rules or the blocklist changed). Published or yanked versions are not re-scanned."""
    from developers import tasks

    Status = marketplace_api.plugin_version_statuses()
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("version").get(pk=submission.pk)
        marketplace_api.plugin_version_set_status(
            version=submission.version, status=Status.UPLOADED,
            allowed_from=(Status.PASSED, Status.QUARANTINED, Status.REJECTED, Status.ERRORED,
                          Status.CHANGES_REQUESTED, Status.SCANNING, Status.VALIDATING, Status.UPLOADED),
        )
        submission.scan_count += 1
        submission.save(update_fields=["scan_count", "updated_at"])
        _audit(actor=actor, action=ReviewAudit.Action.RESCAN, submission=submission, reason="re-scan requested")
        version_id, generation = str(submission.version_id), submission.scan_count
        transaction.on_commit(lambda: tasks.scan_version.delay(version_id, generation))
        return submission


# --- review -------------------------------------------------------------------------------------------------------


def _audit(*, actor, action: str, submission: Submission | None = None, developer: Developer | None = None,
           plugin_id: str = "", version: str = "", reason: str = "") -> ReviewAudit:
    if submission is not None:
        plugin_id = plugin_id or submission.version.plugin_id
        version = version or submission.version.version
        developer = developer or submission.developer
    entry = ReviewAudit(actor=actor, action=action, submission=submission, developer=developer,
                        plugin_id=plugin_id, version=version, reason=reason)
    entry.full_clean()
    entry.save(force_insert=True)
    return entry


def _require_reviewer(user) -> None:
    if not (user and user.is_active and user.is_staff and (
            user.is_superuser or user.has_perm("developers.review_submission"))):
        raise Forbidden("Only the review team can do this.")


def submission_claim(*, submission: Submission, reviewer) -> Submission:
    _require_reviewer(reviewer)
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("version").get(pk=submission.pk)
        if submission.claimed_by_id and submission.claimed_by_id != reviewer.pk:
            raise Conflict(f"{submission.claimed_by} already claimed this submission.", code="already_claimed")
        if submission.claimed_by_id is None:
            submission.claimed_by = reviewer
            submission.claimed_at = timezone.now()
            submission.save(update_fields=["claimed_by", "claimed_at", "updated_at"])
            _audit(actor=reviewer, action=ReviewAudit.Action.CLAIM, submission=submission)
        return submission


def submission_release(*, submission: Submission, reviewer) -> Submission:
    _require_reviewer(reviewer)
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("version").get(pk=submission.pk)
        if submission.claimed_by_id not in (None, reviewer.pk) and not reviewer.is_superuser:
            raise Conflict("Only the reviewer who claimed it can release it.", code="already_claimed")
        submission.claimed_by = None
        submission.claimed_at = None
        submission.save(update_fields=["claimed_by", "claimed_at", "updated_at"])
        _audit(actor=reviewer, action=ReviewAudit.Action.RELEASE, submission=submission)
        return submission


DECISIONS = ("approve", "reject", "request_changes")


def submission_decide(*, submission: Submission, reviewer, decision: str, reason: str) -> Submission:
    """Approve (publish), reject or request changes. A reason is required; it reaches the developer."""
    _require_reviewer(reviewer)
    if decision not in DECISIONS:
        raise ServiceError(f"decision: one of {', '.join(DECISIONS)}.", code="invalid")
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("A reason is required; the developer will read it.", code="reason_required",
                           fields={"reason": ["required"]})
    Status = marketplace_api.plugin_version_statuses()
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related(
            "version__plugin", "developer").get(pk=submission.pk)
        if submission.claimed_by_id not in (None, reviewer.pk):
            raise Conflict(f"{submission.claimed_by} claimed this submission; ask them or release it first.",
                           code="already_claimed")
        version = submission.version
        if decision == "approve":
            marketplace_api.plugin_version_publish(version=version)
            action, what = ReviewAudit.Action.APPROVE, "was approved and published"
        elif decision == "reject":
            marketplace_api.plugin_version_set_status(
                version=version, status=Status.REJECTED,
                allowed_from=(Status.PASSED, Status.QUARANTINED, Status.ERRORED, Status.CHANGES_REQUESTED))
            action, what = ReviewAudit.Action.REJECT, "was rejected by a reviewer"
        else:
            marketplace_api.plugin_version_set_status(
                version=version, status=Status.CHANGES_REQUESTED,
                allowed_from=(Status.PASSED, Status.QUARANTINED, Status.ERRORED))
            action, what = ReviewAudit.Action.REQUEST_CHANGES, "needs changes before it can be published"
        submission.claimed_by = reviewer
        submission.claimed_at = submission.claimed_at or timezone.now()
        submission.reviewer_note = reason
        submission.decided_at = timezone.now()
        submission.save(update_fields=["claimed_by", "claimed_at", "reviewer_note", "decided_at", "updated_at"])
        _audit(actor=reviewer, action=action, submission=submission, reason=reason)
        developer_notify(
            developer=submission.developer, subject=f"{version.plugin_id} {version.version} {what}",
            body=f"{version.plugin_id} {version.version} {what}.\n\nReviewer's note:\n{reason}",
            link=f"/developer/versions/{version.pk}/",
        )
        return submission


def version_yank(*, submission: Submission, actor, reason: str) -> Submission:
    """Staff: withdraw a published version. It can no longer be installed; the developer and installations are told."""
    _require_reviewer(actor)
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related(
            "version__plugin", "developer").get(pk=submission.pk)
        version = marketplace_api.plugin_version_yank(version=submission.version, reason=reason)
        _audit(actor=actor, action=ReviewAudit.Action.YANK, submission=submission, reason=reason)
        developer_notify(
            developer=submission.developer, subject=f"{version.plugin_id} {version.version} was yanked",
            body=f"{version.plugin_id} {version.version} was withdrawn from the marketplace.\n\nReason:\n{reason}",
            link=f"/developer/versions/{version.pk}/",
        )
        from developers import tasks

        version_id = str(version.pk)
        transaction.on_commit(lambda: tasks.notify_yanked_installations.delay(version_id))
        return submission


def yanked_installations_notify(*, version_id) -> int:
    """Tell everyone whose installation runs a yanked version (a platform notification each), and drop the
    runtime's caches of that version. Idempotent: a user already told is not told twice."""
    from host import api as host_api

    submission = Submission.objects.select_related("version__plugin").filter(version_id=version_id).first()
    if submission is None or submission.version.status != "yanked":
        return 0
    version = submission.version
    refresh = getattr(runtime_api, "plugin_caches_invalidate", None)
    if refresh is not None:
        refresh(plugin_id=version.plugin_id, version=version.version)
    title = f"{version.plugin.name} {version.version} was withdrawn"
    link = f"/plugins/{version.plugin_id}/"
    users = {installation.user for installation in
             version.installations.exclude(status="uninstalled").select_related("user")}
    sent = 0
    for user in users:
        if user.notifications.filter(title=title[:255], link=link).exists():
            continue  # told already (the task ran before)
        with transaction.atomic():
            host_api.notification_send(
                user=user, title=title[:255], link=link,
                body=f"The marketplace withdrew this version: {version.yank_reason} Update or uninstall the plugin.")
        sent += 1
    return sent


def plugin_featured_set(*, plugin_id: str, actor, featured: bool, reason: str = "") -> None:
    _require_reviewer(actor)
    with transaction.atomic():
        plugin = marketplace_api.plugin_get(plugin_id=plugin_id)
        marketplace_api.plugin_featured_set(plugin=plugin, featured=featured)
        _audit(actor=actor, action=ReviewAudit.Action.FEATURE if featured else ReviewAudit.Action.UNFEATURE,
               plugin_id=plugin_id, developer=plugin.developer, reason=reason)


def blocklist_add(*, sha256: str, reason: str, actor) -> BlockedHash:
    """Reviewers: add a known-bad file's sha256. Later scans quarantine any package containing it."""
    _require_reviewer(actor)
    sha256 = (sha256 or "").strip().lower()
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("A reason is required.", code="reason_required")
    with transaction.atomic():
        entry = BlockedHash(sha256=sha256, reason=reason[:500], added_by=actor)
        entry.full_clean(validate_unique=False)
        if BlockedHash.objects.filter(pk=sha256).exists():
            raise Conflict("This hash is already blocklisted.", code="already_blocked")
        entry.save(force_insert=True)
        _audit(actor=actor, action=ReviewAudit.Action.BLOCKLIST, reason=f"{sha256}: {reason}")
        return entry


def submission_scan_errored(*, version_id, generation: int, error: str) -> None:
    """Record `errored` for a scan that could not finish (the task's time limit): publication stays blocked."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().select_related("version__plugin", "developer").filter(
            version_id=version_id).first()
        if submission is None or submission.scan_count != generation or submission.version.status not in _SCANNABLE:
            return
        submission.verdict = "errored"
        submission.scan_error = error
        submission.scanned_at = timezone.now()
        submission.save(update_fields=["verdict", "scan_error", "scanned_at", "updated_at"])
        marketplace_api.plugin_version_set_status(version=submission.version, status="errored")
        _notify_verdict(submission, "errored")
