"""Lesson Summaries: an AI summary for every new lesson. A module-style plugin: the worker calls these functions."""

from __future__ import annotations

from typing import Any

from aisquare_plugin_sdk import PluginContext

MAX_WORDS = 40
context: PluginContext | None = None


def init(ctx: PluginContext) -> None:
    global context
    context = PluginContext.wrap(ctx, module=__name__)
    context.events.on("content:created", summarize_new_content)
    context.ui.add_toolbar_action({"id": "summarize-lesson", "label": "Summarize", "function": "summarize"})


def summarize_new_content(data: dict[str, Any]) -> dict[str, Any] | None:
    """Handler of `content:created` (data: id, title, kind, status, …): summarize lessons, leave the rest alone."""
    if data.get("kind") != "lesson":
        return None
    return summarize(data["id"])


def summarize(content_id: str) -> dict[str, Any]:
    """Write (or rewrite) the summary of one lesson and store it on the lesson."""
    assert context is not None, "init(context) runs first"
    lesson = context.api.content.get(content_id)  # NotFound for a missing lesson or one the plugin may not see
    prompt = f"Summarize this lesson for a learner in at most {MAX_WORDS} words:\n{lesson.get('body', '')}"
    summary = context.api.ai.generate_content(prompt, {"maxWords": MAX_WORDS})
    context.api.content.update(content_id, {"metadata": {**(lesson.get("metadata") or {}), "summary": summary}})
    context.storage.set("summarized", (context.storage.get("summarized") or 0) + 1)
    return {"contentId": content_id, "summary": summary}


def summary_count() -> int:
    """How many summaries this installation wrote."""
    assert context is not None
    return context.storage.get("summarized") or 0
