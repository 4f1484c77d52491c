"""Writes of the host platform. Each one validates, saves, and emits its platform event after commit.

`created_by_plugin` is the plugin id when the write comes through the Plugin API (attribution, spec §2); the
runtime has already checked the plugin's scope and tenant before calling.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from aisquare_plugins.exceptions import ServiceError
from host import events
from host.models import (
    AnalyticsEvent,
    Assessment,
    Channel,
    Chatbot,
    Content,
    Dashboard,
    Enrollment,
    Grade,
    Notification,
    Organization,
    Submission,
    User,
)

CONTENT_EDITABLE = ("title", "body", "kind", "tags", "metadata", "status")
USER_EDITABLE = ("first_name", "last_name")


def _json_object(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ServiceError(f"{name} must be an object.", fields={name: ["Must be an object."]})
    return value


def _tags(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) and 0 < len(t) <= 50 for t in value):
        raise ServiceError("tags must be a list of short strings.", fields={"tags": ["A list of strings."]})
    return value


def _decimal(value, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ServiceError(f"{name} must be a number.", fields={name: ["Must be a number."]})
    if not number.is_finite():
        raise ServiceError(f"{name} must be a finite number.", fields={name: ["Must be finite."]})
    return number


@transaction.atomic
def content_create(
    *,
    title: str,
    body: str = "",
    kind: str = Content.Kind.LESSON,
    org: Organization | None = None,
    author: User | None = None,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    status: str = Content.Status.DRAFT,
    created_by_plugin: str = "",
) -> Content:
    content = Content(
        title=title, body=body, kind=kind, org=org, author=author, tags=_tags(tags),
        metadata=_json_object(metadata, "metadata"), status=status, created_by_plugin=created_by_plugin,
    )
    content.full_clean()
    content.save()
    events.emit(name="content:created", payload=content_as_event(content), org_id=content.org_id,
                user_id=content.author_id, source_plugin=created_by_plugin)
    return content


@transaction.atomic
def content_update(*, content: Content, changes: dict[str, Any], source_plugin: str = "") -> Content:
    unknown = sorted(set(changes) - set(CONTENT_EDITABLE))
    if unknown:
        raise ServiceError(f"These fields cannot be changed: {', '.join(unknown)}.",
                           fields={name: ["Not editable."] for name in unknown})
    content = Content.objects.select_for_update().get(pk=content.pk)
    if "tags" in changes:
        changes["tags"] = _tags(changes["tags"])
    if "metadata" in changes:
        changes["metadata"] = _json_object(changes["metadata"], "metadata")
    for name, value in changes.items():
        setattr(content, name, value)
    content.full_clean()
    content.save(update_fields=[*changes, "updated_at"])
    events.emit(name="content:updated", payload=content_as_event(content), org_id=content.org_id,
                user_id=content.author_id, source_plugin=source_plugin)
    return content


@transaction.atomic
def content_delete(*, content: Content, source_plugin: str = "") -> None:
    payload = {"id": str(content.id), "title": content.title}
    org_id, author_id = content.org_id, content.author_id
    content.delete()
    events.emit(name="content:deleted", payload=payload, org_id=org_id, user_id=author_id,
                source_plugin=source_plugin)


def content_as_event(content: Content) -> dict[str, Any]:
    return {
        "id": str(content.id), "title": content.title, "kind": content.kind, "status": content.status,
        "orgId": str(content.org_id) if content.org_id else None,
        "authorId": str(content.author_id) if content.author_id else None,
        "createdByPlugin": content.created_by_plugin or None,
    }


@transaction.atomic
def enrollment_create(*, user: User, content: Content) -> Enrollment:
    if content.org_id and not content.org.memberships.filter(user=user).exists():
        raise ServiceError("Only members of the organization can enroll in its content.", code="not_a_member")
    enrollment, created = Enrollment.objects.get_or_create(user=user, content=content)
    if created:
        events.emit(name="user:enrolled",
                    payload={"userId": str(user.id), "contentId": str(content.id), "title": content.title},
                    org_id=content.org_id, user_id=user.id)
    return enrollment


@transaction.atomic
def enrollment_progress_set(*, enrollment: Enrollment, progress: int) -> Enrollment:
    enrollment = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
    enrollment.progress = progress
    enrollment.completed_at = timezone.now() if progress >= 100 and not enrollment.completed_at else (
        enrollment.completed_at if progress >= 100 else None)
    enrollment.full_clean()
    enrollment.save(update_fields=["progress", "completed_at", "updated_at"])
    return enrollment


@transaction.atomic
def user_update(*, user: User, changes: dict[str, Any], source_plugin: str = "", org_id=None) -> User:
    """Profile fields only: a plugin (or anyone through this path) never changes roles, e-mail or passwords."""
    unknown = sorted(set(changes) - set(USER_EDITABLE))
    if unknown:
        raise ServiceError(f"These fields cannot be changed: {', '.join(unknown)}.",
                           fields={name: ["Not editable."] for name in unknown})
    for name, value in changes.items():
        if not isinstance(value, str):
            raise ServiceError(f"{name} must be a string.", fields={name: ["Must be a string."]})
        setattr(user, name, value)
    user.full_clean(exclude=["password"])
    user.save(update_fields=list(changes))
    events.emit(name="user:updated", payload={"userId": str(user.id), "fields": sorted(changes)},
                org_id=org_id, user_id=user.id, source_plugin=source_plugin)
    return user


@transaction.atomic
def assessment_create(
    *,
    title: str,
    org: Organization | None = None,
    author: User | None = None,
    instructions: str = "",
    questions: list | None = None,
    max_score=100,
    content: Content | None = None,
    created_by_plugin: str = "",
) -> Assessment:
    if questions is not None and not isinstance(questions, list):
        raise ServiceError("questions must be a list.", fields={"questions": ["Must be a list."]})
    assessment = Assessment(
        title=title, org=org, author=author, instructions=instructions, questions=questions or [],
        max_score=_decimal(max_score, "max_score"), content=content, created_by_plugin=created_by_plugin,
    )
    assessment.full_clean()
    assessment.save()
    events.emit(name="assessment:created",
                payload={"id": str(assessment.id), "title": assessment.title,
                         "createdByPlugin": created_by_plugin or None},
                org_id=assessment.org_id, user_id=assessment.author_id, source_plugin=created_by_plugin)
    return assessment


@transaction.atomic
def submission_create(*, assessment: Assessment, user: User, content: str = "", answers=None) -> Submission:
    if assessment.org_id and not assessment.org.memberships.filter(user=user).exists():
        raise ServiceError("Only members of the organization can submit to its assessments.", code="not_a_member")
    submission = Submission(assessment=assessment, user=user, content=content,
                            answers=_json_object(answers, "answers"))
    submission.full_clean()
    submission.save()
    events.emit(
        name="assessment:submitted",
        payload={"id": str(submission.id), "submissionId": str(submission.id),
                 "assessmentId": str(assessment.id), "userId": str(user.id), "content": content},
        org_id=assessment.org_id, user_id=user.id,
    )
    return submission


@transaction.atomic
def submission_grade(
    *,
    submission: Submission,
    score,
    feedback: str = "",
    rubric_scores: dict | None = None,
    graded_by: User | None = None,
    created_by_plugin: str = "",
) -> Grade:
    """Grade (or re-grade) a submission. The score lies between 0 and the assessment's maximum."""
    submission = Submission.objects.select_for_update().select_related("assessment").get(pk=submission.pk)
    value = _decimal(score, "score")
    if value < 0 or value > submission.assessment.max_score:
        raise ServiceError(f"score must be between 0 and {submission.assessment.max_score}.",
                           fields={"score": ["Out of range."]})
    grade, _ = Grade.objects.update_or_create(
        submission=submission,
        defaults={"score": value, "feedback": feedback, "rubric_scores": _json_object(rubric_scores, "rubricScores"),
                  "graded_by": graded_by, "created_by_plugin": created_by_plugin},
    )
    grade.full_clean()
    submission.status = Submission.Status.GRADED
    submission.save(update_fields=["status", "updated_at"])
    events.emit(
        name="assessment:graded",
        payload={"submissionId": str(submission.id), "assessmentId": str(submission.assessment_id),
                 "userId": str(submission.user_id), "score": str(value)},
        org_id=submission.assessment.org_id, user_id=submission.user_id, source_plugin=created_by_plugin,
    )
    return grade


@transaction.atomic
def analytics_track(*, event: str, properties: dict | None = None, org: Organization | None = None,
                    user: User | None = None, created_by_plugin: str = "") -> AnalyticsEvent:
    if not isinstance(event, str) or not 0 < len(event) <= 100:
        raise ServiceError("event must be a name of 1 to 100 characters.", fields={"event": ["Invalid name."]})
    row = AnalyticsEvent(event=event, properties=_json_object(properties, "properties"), org=org, user=user,
                         created_by_plugin=created_by_plugin)
    row.full_clean()
    row.save()
    return row


@transaction.atomic
def dashboard_create(*, owner: User, title: str, config: dict | None = None, org: Organization | None = None,
                     created_by_plugin: str = "") -> Dashboard:
    dashboard = Dashboard(owner=owner, org=org, title=title, config=_json_object(config, "config"),
                          created_by_plugin=created_by_plugin)
    dashboard.full_clean()
    dashboard.save()
    return dashboard


@transaction.atomic
def notification_send(*, user: User, title: str, body: str = "", link: str = "",
                      created_by_plugin: str = "") -> Notification:
    notification = Notification(user=user, title=title, body=body, link=link, created_by_plugin=created_by_plugin)
    notification.full_clean()
    notification.save()
    events.emit(name="notification:sent", payload={"id": str(notification.id), "userId": str(user.id)},
                user_id=user.id, source_plugin=created_by_plugin)
    return notification


def email_send(*, user: User, subject: str, body: str, created_by_plugin: str = "") -> None:
    """Queue an e-mail to a user's own address through Django's e-mail backend (a Celery task, on commit)."""
    from host.tasks import send_email

    if not user.email:
        raise ServiceError("This user has no e-mail address.", code="no_email")
    subject = (subject or "").replace("\r", " ").replace("\n", " ").strip()
    if not subject or len(subject) > 200:
        raise ServiceError("subject must be 1 to 200 characters.", fields={"subject": ["1 to 200 characters."]})
    if not isinstance(body, str) or len(body) > 50_000:
        raise ServiceError("body must be text of at most 50,000 characters.", fields={"body": ["Too long."]})
    if created_by_plugin:
        body = f"{body}\n\n--\nSent by the plugin {created_by_plugin} on AI Square."
    transaction.on_commit(lambda: send_email.delay(str(user.id), subject, body))


@transaction.atomic
def channel_create(*, owner: User, name: str, description: str = "", org: Organization | None = None,
                   members: list[User] | None = None, created_by_plugin: str = "") -> Channel:
    if org and Channel.objects.filter(org=org, name=name).exists():
        raise ServiceError(f"A channel named {name!r} already exists.", code="conflict", status_code=409)
    channel = Channel(owner=owner, name=name, description=description, org=org, created_by_plugin=created_by_plugin)
    channel.full_clean()
    channel.save()
    channel.members.add(owner, *(members or []))
    events.emit(name="channel:created", payload={"id": str(channel.id), "name": name},
                org_id=org.id if org else None, user_id=owner.id, source_plugin=created_by_plugin)
    return channel


@transaction.atomic
def chatbot_create(*, owner: User, name: str, system_prompt: str = "", config: dict | None = None,
                   org: Organization | None = None, created_by_plugin: str = "") -> Chatbot:
    chatbot = Chatbot(owner=owner, name=name, system_prompt=system_prompt, config=_json_object(config, "config"),
                      org=org, created_by_plugin=created_by_plugin)
    chatbot.full_clean()
    chatbot.save()
    return chatbot
