"""Host functions `assessments.*`: assessments of the tenant, their submissions and grades."""

from __future__ import annotations

from typing import Any

from host import api as host
from runtime.plugin_api.gateway import APIRefusal, CallContext, host_function, iso, optional, require


def assessment_dict(a) -> dict[str, Any]:
    return {
        "id": str(a.id), "title": a.title, "instructions": a.instructions, "questions": a.questions,
        "maxScore": str(a.max_score), "contentId": str(a.content_id) if a.content_id else None,
        "createdByPlugin": a.created_by_plugin or None, "createdAt": iso(a.created_at),
    }


def grade_dict(g) -> dict[str, Any]:
    return {
        "id": str(g.id), "submissionId": str(g.submission_id), "score": str(g.score), "feedback": g.feedback,
        "rubricScores": g.rubric_scores, "createdByPlugin": g.created_by_plugin or None,
        "updatedAt": iso(g.updated_at),
    }


def submission_dict(s) -> dict[str, Any]:
    grade = getattr(s, "grade", None) if s.status == "graded" else None
    return {
        "id": str(s.id), "assessmentId": str(s.assessment_id), "userId": str(s.user_id), "content": s.content,
        "answers": s.answers, "status": s.status, "submittedAt": iso(s.created_at),
        "grade": grade_dict(grade) if grade else None,
    }


@host_function("assessments.create")
def create(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = require(params, "assessment", dict)
    unknown = sorted(set(data) - {"title", "instructions", "questions", "maxScore", "contentId"})
    if unknown:
        raise APIRefusal("invalid", f"Unknown assessment fields: {', '.join(unknown)}.")
    content = None
    if data.get("contentId"):
        content = host.access_content_by_id(tenant=ctx.tenant, content_id=data["contentId"])
    assessment = host.assessment_create(
        title=require(data, "title"), instructions=optional(data, "instructions", str, ""),
        questions=optional(data, "questions", list), max_score=optional(data, "maxScore", (int, float, str), 100),
        content=content, org=host.tenant_organization(tenant=ctx.tenant),
        author=host.access_user_by_id(tenant=ctx.tenant, user_id=ctx.user_id), created_by_plugin=ctx.plugin_id,
    )
    ctx.touched("assessment", assessment.id)
    return assessment_dict(assessment)


@host_function("assessments.grade")
def grade(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    submission = host.access_submission_by_id(tenant=ctx.tenant, submission_id=require(params, "submissionId"))
    ctx.touched("submission", submission.id)
    data = require(params, "grade", dict)
    if data.get("score") is None:
        raise APIRefusal("invalid", "grade.score is required.")
    result = host.submission_grade(
        submission=submission, score=data["score"], feedback=optional(data, "feedback", str, ""),
        rubric_scores=optional(data, "rubricScores", dict), created_by_plugin=ctx.plugin_id,
    )
    return grade_dict(result)


@host_function("assessments.getSubmissions")
def get_submissions(ctx: CallContext, params: dict[str, Any]) -> list[dict[str, Any]]:
    assessment = host.access_assessment_by_id(tenant=ctx.tenant, assessment_id=require(params, "assessmentId"))
    ctx.touched("assessment", assessment.id)
    return [submission_dict(s) for s in host.submissions_for_assessment(assessment=assessment)]


@host_function("assessments.get")
def get(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    assessment = host.access_assessment_by_id(tenant=ctx.tenant, assessment_id=require(params, "id"))
    ctx.touched("assessment", assessment.id)
    return assessment_dict(assessment)
