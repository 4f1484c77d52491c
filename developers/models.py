"""Developer accounts (the spec's `plugin_developers`)."""

import uuid

from django.conf import settings
from django.db import models


class Developer(models.Model):
    """A person or company that publishes plugins and is paid 70% of their revenue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="developer")
    company_name = models.CharField(max_length=255)
    website = models.URLField(max_length=255, blank=True)
    support_email = models.EmailField(max_length=255, blank=True)
    # The payout account at the payment gateway (a Stripe Connect account id such as acct_...).
    payment_account_id = models.CharField(max_length=255, blank=True, db_index=True)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plugin_developers"
        ordering = ["company_name"]

    def __str__(self) -> str:
        return self.company_name


class DeveloperToken(models.Model):
    """An API token for CI and the CLI. Shown once; stored as its SHA-256 (tokens are 256-bit random, so a fast
    hash is enough), with the last four characters kept so the developer can tell tokens apart."""

    class Scope(models.TextChoices):
        PUBLISH = "publish", "Publish (upload versions, edit listings)"
        READ = "read", "Read (list plugins, versions and reports)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    developer = models.ForeignKey(Developer, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    last_four = models.CharField(max_length=4)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (…{self.last_four})"


class Submission(models.Model):
    """The publishing pipeline's record of one uploaded version: its latest scan, quality, claim and review note."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.OneToOneField("marketplace.PluginVersion", on_delete=models.CASCADE, related_name="submission")
    developer = models.ForeignKey(Developer, on_delete=models.CASCADE, related_name="submissions")
    findings = models.JSONField(default=list, blank=True)
    verdict = models.CharField(max_length=20, blank=True)
    quality = models.JSONField(default=dict, blank=True)
    scan_error = models.TextField(blank=True)
    scanned_at = models.DateTimeField(null=True, blank=True)
    scan_count = models.PositiveIntegerField(default=0)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The last reviewer decision's reason, shown to the developer.
    reviewer_note = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        permissions = [("review_submission", "Can review plugin submissions")]

    def __str__(self) -> str:
        return f"{self.version} submission"


class ReviewAudit(models.Model):
    """Every decision and staff action of the review console: who, when, why."""

    class Action(models.TextChoices):
        CLAIM = "claim", "Claimed"
        RELEASE = "release", "Released claim"
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"
        REQUEST_CHANGES = "request_changes", "Requested changes"
        YANK = "yank", "Yanked"
        RESCAN = "rescan", "Re-scanned"
        VERIFY_DEVELOPER = "verify_developer", "Verified developer"
        UNVERIFY_DEVELOPER = "unverify_developer", "Unverified developer"
        FEATURE = "feature", "Featured plugin"
        UNFEATURE = "unfeature", "Unfeatured plugin"
        BLOCKLIST = "blocklist", "Blocklisted hash"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=30, choices=Action.choices)
    submission = models.ForeignKey(
        Submission, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit"
    )
    plugin_id = models.CharField(max_length=255, blank=True, db_index=True)
    version = models.CharField(max_length=50, blank=True)
    developer = models.ForeignKey(Developer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.plugin_id} {self.version}".strip()


class DeveloperNotice(models.Model):
    """A message to a developer in the portal (each also goes out by e-mail)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    developer = models.ForeignKey(Developer, on_delete=models.CASCADE, related_name="notices")
    subject = models.CharField(max_length=255)
    body = models.TextField()
    link = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.subject


class BlockedHash(models.Model):
    """A SHA-256 of a known-bad file (a whole package or any file inside one). Reviewers add to it."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    reason = models.CharField(max_length=500)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="blocked_hash_hex"),
        ]

    def __str__(self) -> str:
        return self.sha256
