"""User ratings and reviews (the spec's `plugin_reviews`), helpful votes, developer replies and moderation."""

import uuid

from django.conf import settings
from django.db import models


class Review(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey(
        "marketplace.Plugin", on_delete=models.CASCADE, related_name="reviews", db_column="plugin_id"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plugin_reviews")
    rating = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=255)
    review = models.TextField()
    # Decided by the server from purchase records, never taken from the client.
    verified_purchase = models.BooleanField(default=False)
    helpful_count = models.PositiveIntegerField(default=0)
    # The plugin version the reviewer was using when they wrote it.
    version = models.CharField(max_length=50, blank=True)
    is_hidden = models.BooleanField(default=False, db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    # Set once the developer has been told about this review: the notification task is idempotent on it.
    developer_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plugin_reviews"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"),
            models.CheckConstraint(condition=models.Q(helpful_count__gte=0), name="review_helpful_non_negative"),
            models.UniqueConstraint(fields=["plugin", "user"], name="review_one_per_user_and_plugin"),
        ]
        indexes = [models.Index(fields=["plugin", "is_hidden", "-created_at"], name="review_plugin_idx")]

    def __str__(self) -> str:
        return f"{self.rating}★ {self.title}"

    @property
    def is_edited(self) -> bool:
        return self.edited_at is not None


class FlaggedReview(Review):
    """The moderation queue in the admin: reviews with at least one open flag."""

    class Meta:
        proxy = True
        verbose_name = "flagged review (moderation queue)"
        verbose_name_plural = "flagged reviews (moderation queue)"


class HelpfulVote(models.Model):
    """One user found one review helpful; `Review.helpful_count` counts these rows."""

    id = models.BigAutoField(primary_key=True)
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="helpful_votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["review", "user"], name="helpful_vote_one_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id} found {self.review_id} helpful"


class DeveloperReply(models.Model):
    """The plugin developer's public answer to a review: one per review, editable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="developer_reply")
    developer = models.ForeignKey("developers.Developer", on_delete=models.CASCADE, related_name="review_replies")
    body = models.TextField()
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "developer replies"

    def __str__(self) -> str:
        return f"Reply to {self.review_id}"


class Flag(models.Model):
    """A user's report that a review breaks the rules. Open flags put the review in the moderation queue."""

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam or advertising"
        OFFENSIVE = "offensive", "Offensive or abusive"
        OFF_TOPIC = "off_topic", "Not about this plugin"
        CONFLICT = "conflict_of_interest", "Conflict of interest (written by a competitor or the developer)"
        PERSONAL_DATA = "personal_data", "Contains personal data"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UPHELD = "upheld", "Upheld (review hidden)"
        DISMISSED = "dismissed", "Dismissed (review kept)"

    id = models.BigAutoField(primary_key=True)
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="flags")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=30, choices=Reason.choices)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="flag_one_per_user_and_review"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} on {self.review_id} ({self.status})"


class ModerationAction(models.Model):
    """The audit of every hide and restore: who, when, why. Rows are never edited or deleted."""

    class Action(models.TextChoices):
        HIDE = "hide", "Hidden"
        RESTORE = "restore", "Restored / kept visible"

    id = models.BigAutoField(primary_key=True)
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="moderation_actions")
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="moderation_reason_required"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.review_id}"
