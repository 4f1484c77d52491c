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
