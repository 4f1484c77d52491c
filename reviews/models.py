"""User ratings and reviews (the spec's `plugin_reviews`)."""

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
