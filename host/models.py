"""The host platform that plugins extend: its users, organizations and memberships.

Content, assessments, analytics and the rest of the platform live here too; plugins reach them only through
the runtime's Plugin API, never by importing this module.
"""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from aisquare_plugins.models import TimestampedModel


class User(AbstractUser):
    """A learner, teacher, developer or reviewer. The spec's `users(id)` is a UUID."""

    class Role(models.TextChoices):
        LEARNER = "learner", "Learner"
        TEACHER = "teacher", "Teacher"
        ORG_ADMIN = "org_admin", "Organization admin"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.LEARNER)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]


class Organization(TimestampedModel):
    """A school, company or team whose admins install plugins for all of its members."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="organizations")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TimestampedModel):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        TEACHER = "teacher", "Teacher"
        ADMIN = "admin", "Admin"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["organization", "user"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Content(TimestampedModel):
    """A lesson, article, course or other learning material of an organization (or of one author)."""

    class Kind(models.TextChoices):
        LESSON = "lesson", "Lesson"
        ARTICLE = "article", "Article"
        COURSE = "course", "Course"
        QUIZ = "quiz", "Quiz"
        RESOURCE = "resource", "Resource"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="contents")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="contents"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.LESSON)
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # The plugin id that created it through the Plugin API (spec: `content_data["created_by_plugin"]`); empty for
    # content people wrote.
    created_by_plugin = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "kind"], name="content_org_kind_idx")]

    def __str__(self) -> str:
        return self.title


class Enrollment(TimestampedModel):
    """A learner enrolled in a piece of content (usually a course), with how far they got."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments")
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="enrollments")
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "content"], name="enrollment_unique_user_content"),
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="enrollment_progress_max_100"),
        ]


class Assessment(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="assessments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="assessments"
    )
    content = models.ForeignKey(Content, on_delete=models.SET_NULL, null=True, blank=True, related_name="assessments")
    title = models.CharField(max_length=255)
    instructions = models.TextField(blank=True)
    questions = models.JSONField(default=list, blank=True)
    max_score = models.DecimalField(max_digits=7, decimal_places=2, default=100)
    created_by_plugin = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(max_score__gt=0), name="assessment_max_score_pos")]

    def __str__(self) -> str:
        return self.title


class Submission(TimestampedModel):
    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        GRADED = "graded", "Graded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="submissions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions")
    content = models.TextField(blank=True)
    answers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED, db_index=True)

    class Meta:
        ordering = ["-created_at"]


class Grade(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="grade")
    score = models.DecimalField(max_digits=7, decimal_places=2)
    feedback = models.TextField(blank=True)
    rubric_scores = models.JSONField(default=dict, blank=True)
    graded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_plugin = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(score__gte=0), name="grade_score_non_negative")]


class AnalyticsEvent(models.Model):
    """One tracked event (page view, quiz started, a plugin's custom event)."""

    id = models.BigAutoField(primary_key=True)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    event = models.CharField(max_length=100)
    properties = models.JSONField(default=dict, blank=True)
    created_by_plugin = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["org", "event", "created_at"], name="analytics_org_event_idx"),
            models.Index(fields=["user", "event", "created_at"], name="analytics_user_event_idx"),
        ]

    def __str__(self) -> str:
        return self.event


class Dashboard(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="dashboards")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboards")
    title = models.CharField(max_length=255)
    config = models.JSONField(default=dict, blank=True)
    created_by_plugin = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["title"]


class Notification(TimestampedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_by_plugin = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_user_unread_idx")]


class Channel(TimestampedModel):
    """A discussion or announcement channel of an organization (or a personal one)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="channels")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="member_channels", blank=True)
    created_by_plugin = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["org", "name"], condition=models.Q(org__isnull=False),
                                    name="channel_unique_name_per_org"),
        ]


class Chatbot(TimestampedModel):
    """A configured assistant (spec `ai.createChatbot`): a name and a system prompt run by the AI provider."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="chatbots")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chatbots")
    name = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True)
    created_by_plugin = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["name"]
