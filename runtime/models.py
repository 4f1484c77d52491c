"""Installations of plugins (the spec's `installed_plugins`) and the audit of what they do (`plugin_usage`)."""

import uuid

from django.conf import settings
from django.db import models


class Installation(models.Model):
    """A plugin installed for one user, or by an organization admin for an organization.

    The spec declares `plugin_id VARCHAR(255) UNIQUE`, which would allow one installation of a plugin in the whole
    platform. That is a bug: the key is per plugin and per user (personal installs) or per organization. Uninstalled
    rows stay as history (install/uninstall rates, review eligibility) and do not count against uniqueness.
    """

    class Status(models.TextChoices):
        INSTALLING = "installing", "Installing"
        INSTALLED = "installed", "Installed (inactive)"
        ACTIVE = "active", "Active"
        UPDATING = "updating", "Updating"
        UNINSTALLING = "uninstalling", "Uninstalling"
        UNINSTALLED = "uninstalled", "Uninstalled"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey(
        "marketplace.Plugin", on_delete=models.PROTECT, related_name="installations", db_column="plugin_id"
    )
    # Who installed it; for an organization install, the admin who did.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="installations")
    org = models.ForeignKey(
        "host.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="installations"
    )
    version = models.CharField(max_length=50)
    plugin_version = models.ForeignKey(
        "marketplace.PluginVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="installations"
    )
    previous_version = models.ForeignKey(
        "marketplace.PluginVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=50, choices=Status.choices, default=Status.INSTALLING, db_index=True)
    # Granted scopes, e.g. ["content:read", "ai:use"]: required ones at consent, optional ones as the user chose.
    permissions = models.JSONField(default=list, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    installed_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "installed_plugins"
        ordering = ["-installed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plugin", "user"],
                condition=models.Q(org__isnull=True) & ~models.Q(status="uninstalled"),
                name="installation_unique_per_user",
            ),
            models.UniqueConstraint(
                fields=["plugin", "org"],
                condition=models.Q(org__isnull=False) & ~models.Q(status="uninstalled"),
                name="installation_unique_per_org",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "status"], name="installation_user_idx"),
            models.Index(fields=["org", "status"], name="installation_org_idx"),
            models.Index(fields=["plugin", "status"], name="installation_plugin_idx"),
        ]

    def __str__(self) -> str:
        owner = self.org_id or self.user_id
        return f"{self.plugin_id} {self.version} for {owner} ({self.status})"


class PluginUsage(models.Model):
    """One audited action of a plugin: every Plugin API call, allowed or refused, and every hook or function run.

    `plugin_id` stays a plain string as in the spec, so the audit outlives the listing.
    """

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        DENIED = "denied", "Permission denied"
        LIMITED = "limited", "Rate limit or quota"
        ERROR = "error", "Error"
        VIOLATION = "violation", "Sandbox violation"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin_id = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="plugin_usage"
    )
    installation_id = models.UUIDField(null=True, blank=True)
    version = models.CharField(max_length=50, blank=True)
    action = models.CharField(max_length=100)
    resource_type = models.CharField(max_length=50, blank=True)
    resource_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.OK)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "plugin_usage"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["plugin_id", "created_at"], name="usage_plugin_time_idx"),
            models.Index(fields=["user", "plugin_id"], name="usage_user_plugin_idx"),
            models.Index(fields=["installation_id", "created_at"], name="usage_installation_idx"),
            # The daily roll-up and the metrics endpoint read one day of rows across all plugins (monitoring).
            models.Index(fields=["created_at"], name="usage_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.plugin_id} {self.action} {self.outcome}"


# Daily roll-ups of usage and installations, error-rate alerts (monitoring and developer analytics).
from runtime.analytics.models import (  # noqa: E402,F401
    PluginDailyError,
    PluginDailyStats,
    RollupDay,
    VersionErrorAlert,
)

# The Plugin API's per-installation tables (UI extensions, event subscriptions and deliveries, collections, files).
from runtime.plugin_api.models import (  # noqa: E402,F401
    EventDelivery,
    EventSubscription,
    StorageDocument,
    StorageFile,
    UIExtension,
)


class PluginStorageItem(models.Model):
    """One key of an installation's own key-value storage (the Plugin API's `storage.*`), with a JSON value.

    `size` is the encoded length of key + value, kept so the per-installation quota is one indexed SUM.
    """

    installation = models.ForeignKey(Installation, on_delete=models.CASCADE, related_name="storage_items")
    key = models.CharField(max_length=255)
    value = models.JSONField(null=True)
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plugin_storage"
        ordering = ["installation", "key"]
        constraints = [
            models.UniqueConstraint(fields=["installation", "key"], name="storage_key_unique_per_installation"),
        ]

    def __str__(self) -> str:
        return f"{self.installation_id}:{self.key}"
