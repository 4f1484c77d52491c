"""Lesson Summaries: an AI summary for every new lesson. A module-style plugin: the worker calls these functions."""

from __future__ import annotations

from typing import Any

from aisquare_plugin_sdk import NotFound, PluginContext

MAX_WORDS = 40
context: PluginContext | None = None


def init(ctx: PluginContext) -> None:
    global context
    context = PluginContext.wrap(ctx, module=__name__)
    context.events.on("content:created", summarize_new_content)
    context.ui.add_toolbar_action({"id": "summarize-lesson", "label": "Summarize", "function": "summarize",
                                   "context": "content"})


def summarize_new_content(data: dict[str, Any]) -> dict[str, Any] | None:
    """Handler of `content:created`: summarize lessons, leave other content alone."""
    item = data.get("content") or {}
    if item.get("type", "lesson") != "lesson":
        return None
    return summarize(data["contentId"])


def summarize(content_id: str) -> dict[str, Any]:
    """Write (or rewrite) the summary of one lesson and store it on the lesson."""
    assert context is not None, "init(context) runs first"
    found = context.api.content.find({"id": content_id})
    if not found:
        raise NotFound("not_found", f"no lesson {content_id}")
    lesson = found[0]
    prompt = f"Summarize this lesson for a learner in at most {MAX_WORDS} words:\n{lesson.get('body', '')}"
    summary = context.api.ai.generate_content(prompt, {"maxWords": MAX_WORDS})
    context.api.content.update(content_id, {"summary": summary})
    context.storage.set("summarized", (context.storage.get("summarized") or 0) + 1)
    return {"contentId": content_id, "summary": summary}


def summary_count() -> int:
    """How many summaries this installation wrote."""
    assert context is not None
    return context.storage.get("summarized") or 0
