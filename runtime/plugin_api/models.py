"""What the Plugin API keeps per installation: UI extensions, event subscriptions and deliveries, document
collections and files. Plugins never touch these tables; host functions do, on their behalf.
"""

import uuid

from django.db import models


class UIExtension(models.Model):
    """A menu item, dashboard widget, toolbar action, settings page, route, component, theme or notification a
    plugin registered (usually at `init`). Rendered by the platform; removed when the installation is deactivated.
    """

    class Kind(models.TextChoices):
        COMPONENT = "component", "Component"
        MENU_ITEM = "menu_item", "Menu item"
        DASHBOARD_WIDGET = "dashboard_widget", "Dashboard widget"
        TOOLBAR_ACTION = "toolbar_action", "Toolbar action"
        SETTINGS_PAGE = "settings_page", "Settings page"
        ROUTE = "route", "Route"
        NOTIFICATION = "notification", "Notification"
        THEME = "theme", "Theme"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    installation = models.ForeignKey("runtime.Installation", on_delete=models.CASCADE, related_name="ui_extensions")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=100)  # the plugin's own id for it ("assessment-analytics")
    config = models.JSONField(default=dict)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["installation", "kind", "key"], name="ui_extension_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class EventSubscription(models.Model):
    """`context.events.on(event, handler)`: deliver `event` to the module-level function `handler`."""

    installation = models.ForeignKey("runtime.Installation", on_delete=models.CASCADE,
                                     related_name="event_subscriptions")
    event = models.CharField(max_length=150)
    handler = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["event", "handler"]
        constraints = [
            models.UniqueConstraint(fields=["installation", "event", "handler"], name="event_subscription_unique"),
        ]
        indexes = [models.Index(fields=["event"], name="event_subscription_event_idx")]

    def __str__(self) -> str:
        return f"{self.event} -> {self.handler}"


class EventDelivery(models.Model):
    """One event for one installation's handler: a row with attempts, so a failure is visible and retryable."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    installation = models.ForeignKey("runtime.Installation", on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=150)
    handler = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.event} to {self.installation_id} ({self.status})"


class StorageDocument(models.Model):
    """One document of a plugin's collection (`context.storage.collection(name)`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    installation = models.ForeignKey("runtime.Installation", on_delete=models.CASCADE, related_name="+")
    collection = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["installation", "collection", "created_at"], name="storage_doc_coll_idx")]

    def __str__(self) -> str:
        return f"{self.collection}/{self.id}"


class StorageFile(models.Model):
    """A file a plugin uploaded (`context.storage.files`), kept in Django's default storage."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    installation = models.ForeignKey("runtime.Installation", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    size = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="plugin-files/%Y/%m/", max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
