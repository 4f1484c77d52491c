"""Advanced Assessment Suite: auto-grades submitted assessments with the platform's AI (spec §1 example plugin)."""

from __future__ import annotations

import html
from typing import Any

from aisquare_plugin_sdk import Plugin, PluginContext, export, function

GRADING_ANALYSIS = "assessment_grading"


@export
class AdvancedAssessmentSuite(Plugin):
    def init(self, context: PluginContext) -> None:
        context.ui.add_menu_item({
            "id": "advanced-assessments",
            "label": "Advanced Assessments",
            "icon": "assessment",
            "route": "/plugins/advanced-assessments",
            "position": "main-menu",
        })
        context.ui.add_dashboard_widget({
            "id": "assessment-analytics",
            "title": "Assessment Analytics",
            "component": "AssessmentAnalyticsWidget",
            "function": "dashboard_widget",
            "defaultSize": {"w": 6, "h": 4},
            "minSize": {"w": 4, "h": 3},
        })
        context.events.on("assessment:submitted", self.on_submitted)

    def on_install(self, context: PluginContext) -> None:
        context.storage.set("stats", {"graded": 0, "totalScore": 0})

    def on_uninstall(self, context: PluginContext) -> None:
        context.storage.delete("stats")

    def on_submitted(self, submission: dict[str, Any]) -> None:
        """Handler of `assessment:submitted`: grade it unless auto-grading is off for its assessment."""
        if self.should_auto_grade(submission["assessmentId"]):
            self.auto_grade(self.context, submission)

    def should_auto_grade(self, assessment_id: str) -> bool:
        if not self.context.config.get("autoGrade", True):
            return False
        return not self.context.storage.get(f"manual:{assessment_id}", False)

    def auto_grade(self, context: PluginContext, submission: dict[str, Any]) -> dict[str, Any]:
        analysis = context.api.ai.analyze_text(submission.get("content", ""), GRADING_ANALYSIS)
        score = max(0, min(100, round(float(analysis.get("score", 0)), 2)))
        grade = context.api.assessments.grade(submission["id"], {
            "score": score,
            "feedback": analysis.get("feedback", ""),
            "rubricScores": analysis.get("rubricScores", {}),
        })
        context.api.analytics.track({
            "event": "auto_grading_completed",
            "properties": {
                "assessmentId": submission["assessmentId"],
                "score": score,
                "processingTime": analysis.get("processingTime"),
            },
        })
        stats = context.storage.get("stats") or {"graded": 0, "totalScore": 0}
        stats = {"graded": stats["graded"] + 1, "totalScore": stats["totalScore"] + score}
        context.storage.set("stats", stats)
        context.logger.info("graded a submission", submission=submission["id"], score=score)
        return grade

    @function
    def set_auto_grading(self, context: PluginContext, assessment_id: str, enabled: bool = True) -> dict[str, Any]:
        """Turn auto-grading on or off for one assessment."""
        if enabled:
            context.storage.delete(f"manual:{assessment_id}")
        else:
            context.storage.set(f"manual:{assessment_id}", True)
        return {"assessmentId": assessment_id, "autoGrade": enabled}

    @function
    def dashboard_widget(self, context: PluginContext, request: dict[str, Any] | None = None) -> str:
        """The dashboard widget's HTML: submissions graded and their average score. The platform passes
        {"widgetId": ...} and sanitizes the HTML."""
        stats = context.storage.get("stats") or {"graded": 0, "totalScore": 0}
        average = round(stats["totalScore"] / stats["graded"], 1) if stats["graded"] else None
        shown = "no grades yet" if average is None else f"average score {average}"
        return (f"<p><strong>{int(stats['graded'])}</strong> submissions auto-graded, "
                f"{html.escape(shown)}.</p>")
