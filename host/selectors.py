"""Reads of the host platform."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncDay
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from aisquare_plugins.exceptions import ServiceError
from host.models import AnalyticsEvent, Content, Enrollment, Grade, Submission, User

MAX_RESULTS = 100


def content_find(*, base: QuerySet[Content], query: dict[str, Any] | None) -> list[Content]:
    """Filter content by kind, status, tag, title text and author; newest first; at most `limit` (≤ 100)."""
    query = query or {}
    if not isinstance(query, dict):
        raise ServiceError("query must be an object.")
    known = {"kind", "status", "tag", "search", "authorId", "createdByPlugin", "limit"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise ServiceError(f"Unknown query fields: {', '.join(unknown)}.", fields={k: ["Unknown."] for k in unknown})
    qs = base
    if query.get("kind"):
        qs = qs.filter(kind=str(query["kind"]))
    if query.get("status"):
        qs = qs.filter(status=str(query["status"]))
    if query.get("tag"):
        qs = qs.filter(tags__contains=[str(query["tag"])])
    if query.get("search"):
        qs = qs.filter(Q(title__icontains=str(query["search"])) | Q(body__icontains=str(query["search"])))
    if query.get("authorId"):
        qs = qs.filter(author_id=str(query["authorId"]))
    if query.get("createdByPlugin"):
        qs = qs.filter(created_by_plugin=str(query["createdByPlugin"]))
    limit = query.get("limit", 20)
    if not isinstance(limit, int) or not 0 < limit <= MAX_RESULTS:
        raise ServiceError(f"limit must be between 1 and {MAX_RESULTS}.", fields={"limit": ["Out of range."]})
    return list(qs.order_by("-created_at")[:limit])


def user_progress(*, user: User, org_id=None) -> dict[str, Any]:
    """What a learner has done: enrollments and completion, submissions and grades (within an organization)."""
    enrollments = Enrollment.objects.filter(user=user)
    submissions = Submission.objects.filter(user=user)
    grades = Grade.objects.filter(submission__user=user)
    if org_id:
        enrollments = enrollments.filter(content__org_id=org_id)
        submissions = submissions.filter(assessment__org_id=org_id)
        grades = grades.filter(submission__assessment__org_id=org_id)
    else:
        enrollments = enrollments.filter(content__org__isnull=True)
        submissions = submissions.filter(assessment__org__isnull=True)
        grades = grades.filter(submission__assessment__org__isnull=True)
    e = enrollments.aggregate(n=Count("id"), done=Count("id", filter=Q(completed_at__isnull=False)),
                              avg=Avg("progress"))
    g = grades.aggregate(n=Count("id"), avg=Avg("score"))
    return {
        "userId": str(user.id),
        "enrollments": e["n"],
        "completed": e["done"],
        "averageProgress": round(float(e["avg"] or 0), 1),
        "submissions": submissions.count(),
        "graded": g["n"],
        "averageScore": round(float(g["avg"] or 0), 2),
        "courses": [
            {"contentId": str(row.content_id), "title": row.content.title, "progress": row.progress,
             "completed": row.completed_at is not None}
            for row in enrollments.select_related("content").order_by("-created_at")[:MAX_RESULTS]
        ],
    }


def _when(value, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value)) if isinstance(value, str) else None
    if parsed is None:
        raise ServiceError(f"{name} must be an ISO 8601 date-time.", fields={name: ["Invalid date-time."]})
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.utc)


def analytics_query(*, org_id=None, user_id=None, query: dict[str, Any] | None) -> dict[str, Any]:
    """Counts of one event (or all) in a window, in total and per day. The window is at most 366 days."""
    query = query or {}
    if not isinstance(query, dict):
        raise ServiceError("query must be an object.")
    until = _when(query.get("until"), "until") or timezone.now()
    since = _when(query.get("since"), "since") or until - timedelta(days=30)
    if since > until or until - since > timedelta(days=366):
        raise ServiceError("The window must run forwards and span at most 366 days.")
    qs = AnalyticsEvent.objects.filter(created_at__gte=since, created_at__lt=until)
    qs = qs.filter(org_id=org_id) if org_id else qs.filter(org__isnull=True, user_id=user_id)
    if query.get("event"):
        qs = qs.filter(event=str(query["event"]))
    per_day = qs.annotate(day=TruncDay("created_at")).values("day").annotate(count=Count("id")).order_by("day")
    by_event = qs.values("event").annotate(count=Count("id")).order_by("-count", "event")[:MAX_RESULTS]
    return {
        "since": since.isoformat(), "until": until.isoformat(), "total": qs.count(),
        "perDay": [{"day": row["day"].date().isoformat(), "count": row["count"]} for row in per_day],
        "byEvent": list(by_event),
    }


# --- Tenancy: what an organization's or a user's installation may see --------------------------------------------
#
# An installation belongs to one organization (seeing its members and the objects of that organization) or to one
# user (seeing only that user and the objects the user owns outside any organization). These gates are the single
# path the Plugin API uses to reach an object: missing and out-of-tenant both answer NotFound.

from dataclasses import dataclass  # noqa: E402
from uuid import UUID  # noqa: E402

from aisquare_plugins.exceptions import NotFound  # noqa: E402
from host.models import Assessment, Channel, Chatbot, Dashboard, Organization  # noqa: E402,F401


@dataclass(frozen=True)
class Tenant:
    user_id: str
    org_id: str | None = None


def _uuid(value, what: str) -> UUID:
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"{what} {value!r} was not found.")


def tenant_users(*, tenant: Tenant) -> QuerySet[User]:
    if tenant.org_id:
        return User.objects.filter(memberships__organization_id=tenant.org_id, is_active=True)
    return User.objects.filter(pk=tenant.user_id, is_active=True)


def access_user_by_id(*, tenant: Tenant, user_id) -> User:
    user = tenant_users(tenant=tenant).filter(pk=_uuid(user_id, "User")).first()
    if user is None:
        raise NotFound(f"User {user_id!r} was not found.")
    return user


def tenant_contents(*, tenant: Tenant) -> QuerySet[Content]:
    if tenant.org_id:
        return Content.objects.filter(org_id=tenant.org_id)
    return Content.objects.filter(org__isnull=True, author_id=tenant.user_id)


def access_content_by_id(*, tenant: Tenant, content_id) -> Content:
    content = tenant_contents(tenant=tenant).filter(pk=_uuid(content_id, "Content")).first()
    if content is None:
        raise NotFound(f"Content {content_id!r} was not found.")
    return content


def tenant_assessments(*, tenant: Tenant) -> QuerySet[Assessment]:
    if tenant.org_id:
        return Assessment.objects.filter(org_id=tenant.org_id)
    return Assessment.objects.filter(org__isnull=True, author_id=tenant.user_id)


def access_assessment_by_id(*, tenant: Tenant, assessment_id) -> Assessment:
    assessment = tenant_assessments(tenant=tenant).filter(pk=_uuid(assessment_id, "Assessment")).first()
    if assessment is None:
        raise NotFound(f"Assessment {assessment_id!r} was not found.")
    return assessment


def access_submission_by_id(*, tenant: Tenant, submission_id) -> Submission:
    submission = (
        Submission.objects.filter(pk=_uuid(submission_id, "Submission"),
                                  assessment__in=tenant_assessments(tenant=tenant))
        .select_related("assessment").first()
    )
    if submission is None:
        raise NotFound(f"Submission {submission_id!r} was not found.")
    return submission


def submissions_for_assessment(*, assessment: Assessment) -> list[Submission]:
    return list(assessment.submissions.select_related("grade").order_by("-created_at")[:MAX_RESULTS])


def tenant_organization(*, tenant: Tenant) -> Organization | None:
    return Organization.objects.filter(pk=tenant.org_id).first() if tenant.org_id else None


# --- organization administration: the one place that knows what "admin of an organization" means ----------------


def organizations_administered(*, user) -> QuerySet:
    """The organizations this user administers (may install plugins and buy for), by name."""
    from host.models import Membership, Organization

    if user is None or not user.is_authenticated:
        return Organization.objects.none()
    return Organization.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.ADMIN
    ).order_by("name")


def is_org_admin(*, user, org) -> bool:
    """True when `user` administers `org` (an Organization or its id)."""
    return organizations_administered(user=user).filter(pk=getattr(org, "pk", org)).exists()


def access_administered_org_by_id(*, user, org_id):
    """The one gate to an organization a user acts for: missing, malformed, foreign or not administered are all
    the same "not found", so nobody learns which organizations exist."""
    import uuid

    from aisquare_plugins.exceptions import NotFound

    try:
        uuid.UUID(str(org_id))
    except ValueError:
        raise NotFound("There is no such organization.") from None
    org = organizations_administered(user=user).filter(pk=org_id).first()
    if org is None:
        raise NotFound("There is no such organization.")
    return org
