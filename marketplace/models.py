"""The catalogue: plugin listings (the spec's `marketplace_plugins`) and every uploaded version of them."""

import uuid

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from aisquare_plugins.models import TimestampedModel


class Category(models.TextChoices):
    """Spec §1 PluginCategory."""

    ASSESSMENT = "assessment", "Assessment"
    CONTENT = "content", "Content"
    ANALYTICS = "analytics", "Analytics"
    INTEGRATION = "integration", "Integration"
    UI_THEME = "ui_theme", "UI theme"
    LANGUAGE = "language", "Language"
    ACCESSIBILITY = "accessibility", "Accessibility"
    PRODUCTIVITY = "productivity", "Productivity"
    COMMUNICATION = "communication", "Communication"
    GAMIFICATION = "gamification", "Gamification"


class PricingModel(models.TextChoices):
    FREE = "free", "Free"
    ONE_TIME = "one_time", "One-time purchase"
    SUBSCRIPTION = "subscription", "Subscription"
    USAGE_BASED = "usage_based", "Usage-based"


class Plugin(models.Model):
    """A listing. Its id is the manifest id and belongs to the developer who first uploaded it.

    Columns follow the spec's `marketplace_plugins`. `tags` and `screenshots` are TEXT[] there; they are JSON lists
    here so the same schema works on SQLite. `pricing_model`, `price`, `rating_average` and `rating_count` mirror
    `pricing` and `ratings` as typed, indexed columns, because search filters and sorts on them.
    """

    id = models.CharField(primary_key=True, max_length=255)
    developer = models.ForeignKey("developers.Developer", on_delete=models.PROTECT, related_name="plugins")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    author = models.JSONField(default=dict, blank=True)
    category = models.CharField(max_length=50, choices=Category.choices, db_index=True)
    tags = models.JSONField(default=list, blank=True)
    # The latest published version string (the spec's column); empty until a version is approved.
    version = models.CharField(max_length=50, blank=True)
    pricing = models.JSONField(default=dict, blank=True)
    pricing_model = models.CharField(
        max_length=20, choices=PricingModel.choices, default=PricingModel.FREE, db_index=True
    )
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="USD")
    ratings = models.JSONField(default=dict, blank=True)
    rating_average = models.DecimalField(max_digits=3, decimal_places=2, default=0)
    rating_count = models.PositiveIntegerField(default=0)
    downloads = models.PositiveIntegerField(default=0)
    screenshots = models.JSONField(default=list, blank=True)
    icon = models.CharField(max_length=500, blank=True)
    documentation_url = models.URLField(max_length=500, blank=True)
    support_url = models.URLField(max_length=500, blank=True)
    verified = models.BooleanField(default=False)
    featured = models.BooleanField(default=False, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Denormalized from the plugin's APPROVED versions, so that search reads one table. Written ONLY by
    # marketplace.catalogue (listing_state_refresh) in the same transaction as every change of a version's status.
    # `listed`: it has at least one approved version. `listed_min_platform_key`/`listed_max_platform_key`: the
    # envelope of their platform ranges (max NULL: no upper bound); `listed_platform_gapless`: the union of those
    # ranges is that one interval, so the envelope answers `compatible_with` exactly (otherwise the versions decide).
    # Not indexed on its own: nearly every row is listed, and the planner would AND its bitmap into text searches
    # for nothing. It is a filter on the rows the other indexes find.
    listed = models.BooleanField(default=False)
    listed_min_platform_key = models.BigIntegerField(null=True, blank=True)
    listed_max_platform_key = models.BigIntegerField(null=True, blank=True)
    listed_platform_gapless = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "marketplace_plugins"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(downloads__gte=0), name="plugin_downloads_non_negative"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="plugin_price_non_negative"),
            models.CheckConstraint(
                condition=models.Q(rating_average__gte=0, rating_average__lte=5), name="plugin_rating_average_0_5"
            ),
            models.CheckConstraint(condition=models.Q(category__in=Category.values), name="plugin_category_known"),
        ]
        indexes = [
            models.Index(fields=["-downloads"], name="plugin_popular_idx"),
            models.Index(fields=["-rating_average"], name="plugin_rating_idx"),
            models.Index(fields=["developer", "name"], name="plugin_developer_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class PluginVersion(TimestampedModel):
    """One uploaded package. It moves through the publishing pipeline; only APPROVED versions are installable."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        VALIDATING = "validating", "Validating"
        SCANNING = "scanning", "Scanning"
        PASSED = "passed", "Passed scan, awaiting review"
        QUARANTINED = "quarantined", "Quarantined"
        REJECTED = "rejected", "Rejected"
        ERRORED = "errored", "Scan errored"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        APPROVED = "approved", "Approved and published"
        YANKED = "yanked", "Yanked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey(Plugin, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=50)
    # Numeric semver parts so versions order and compare in the database (2.10.0 > 2.9.0).
    version_major = models.PositiveIntegerField(default=0)
    version_minor = models.PositiveIntegerField(default=0)
    version_patch = models.PositiveIntegerField(default=0)
    package = models.FileField(upload_to="packages/%Y/%m/", max_length=500)
    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveIntegerField(default=0)
    manifest = models.JSONField(default=dict)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.UPLOADED, db_index=True)
    changelog = models.TextField(blank=True)
    min_platform_version = models.CharField(max_length=50)
    max_platform_version = models.CharField(max_length=50, blank=True)
    # min/max platform versions encoded as major*10^8 + minor*10^4 + patch, for `compatible_with` in SQL.
    min_platform_key = models.BigIntegerField(default=0)
    max_platform_key = models.BigIntegerField(null=True, blank=True)
    quality_score = models.PositiveSmallIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    yanked_at = models.DateTimeField(null=True, blank=True)
    yank_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["plugin", "-version_major", "-version_minor", "-version_patch"]
        constraints = [
            models.UniqueConstraint(fields=["plugin", "version"], name="version_unique_per_plugin"),
            models.CheckConstraint(
                condition=models.Q(max_platform_key__isnull=True)
                | models.Q(max_platform_key__gte=models.F("min_platform_key")),
                name="version_platform_range_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="version_queue_idx"),
            models.Index(fields=["plugin", "status"], name="version_plugin_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.plugin_id} {self.version}"


class SearchDocumentField(SearchVectorField):
    """The weighted full-text document: a tsvector on PostgreSQL; on other databases an unused, always empty text
    column (they search the name, tags and description with LIKE), so that one model serves both."""

    def db_type(self, connection):
        return "tsvector" if connection.vendor == "postgresql" else "text"


class TagListField(models.JSONField):
    """A list of tags: text[] on PostgreSQL, where expanding it for the tags facet costs half what expanding a jsonb
    array does; a JSON list elsewhere."""

    def db_type(self, connection):
        return "text[]" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor == "postgresql":
            return None if value is None else [str(tag) for tag in value]
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value, expression, connection):
        if isinstance(value, list):  # text[] from PostgreSQL
            return value
        return super().from_db_value(value, expression, connection)


class SearchEntry(models.Model):
    """The search's row of a listed plugin: only what search filters, sorts, ranks and counts, so that a broad query
    reads narrow rows (a listing row carries the description, JSON documents and URLs: five times as wide).

    One row per listed plugin, none for others. Written ONLY by marketplace.catalogue (search_entries_refresh) from
    the plugin row, in the same transaction as every change of a column below (publish, yank, status, listing edit,
    featured, verified, ratings, downloads). PostgreSQL's indexes (GIN on the document, trigram on the name, GIN on
    the tags) are made by migration 0007 and, for --nomigrations test databases, by tests/marketplace/conftest.py.
    """

    plugin = models.OneToOneField(Plugin, on_delete=models.CASCADE, primary_key=True, related_name="search_entry")
    # Name A, tags B, description C (PostgreSQL only; the catalogue writes it from the plugin row).
    document = SearchDocumentField(null=True, blank=True, editable=False)
    name = models.CharField(max_length=255)
    category = models.CharField(max_length=50, choices=Category.choices)
    tags = TagListField(default=list, blank=True)
    pricing_model = models.CharField(max_length=20, choices=PricingModel.choices)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    rating_average = models.DecimalField(max_digits=3, decimal_places=2)
    rating_count = models.PositiveIntegerField()
    # The rating facet's bucket ("4-5", "3-4", "2-3", "1-2", "unrated"): disjoint, so the counts add up.
    rating_bucket = models.CharField(max_length=8)
    downloads = models.PositiveIntegerField()
    verified = models.BooleanField()
    featured = models.BooleanField()
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    # published_at (created_at when never published) in seconds since 1970: the age that relevance's recency and
    # the trending sort read, as a float, so that no row converts a timestamp at query time.
    published_epoch = models.FloatField()
    # The part of relevance that does not change with the query or the clock: rating, downloads and verification
    # (marketplace.catalogue.search_static_boost).
    static_boost = models.FloatField()
    # The envelope of the approved versions' platform ranges (Plugin.listed_*).
    min_platform_key = models.BigIntegerField()
    max_platform_key = models.BigIntegerField(null=True, blank=True)
    platform_gapless = models.BooleanField()

    class Meta:
        db_table = "marketplace_search_entries"

    def __str__(self) -> str:
        return self.name
