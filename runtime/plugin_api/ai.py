"""Host functions `ai.*`: the platform's AI provider, paid from the installation's daily character quota."""

from __future__ import annotations

from typing import Any

from host import api as host
from runtime.plugin_api.cache import cached_api_response
from runtime.plugin_api.gateway import CallContext, host_function, iso, optional, require


@host_function("ai.generateContent")
def generate_content(ctx: CallContext, params: dict[str, Any]) -> str:
    ctx.touched("ai")
    prompt = require(params, "prompt")
    text = host.ai_generate_content(subject=ctx.installation_id, prompt=prompt,
                                    options=optional(params, "options", dict, {}))
    ctx.audit_metadata["chars"] = len(prompt) + len(text)
    return text


@host_function("ai.analyzeText")
def analyze_text(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.touched("ai")
    text, analysis = require(params, "text"), require(params, "analysis")
    # The same text and analysis within 5 minutes is answered from the cache (and costs no quota).
    return cached_api_response(ctx, "ai.analyzeText", {"text": text, "analysis": analysis},
                               lambda: host.ai_analyze_text(subject=ctx.installation_id, text=text, analysis=analysis))


@host_function("ai.createChatbot")
def create_chatbot(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = require(params, "config", dict)
    chatbot = host.chatbot_create(
        owner=host.access_user_by_id(tenant=ctx.tenant, user_id=ctx.user_id), name=require(data, "name"),
        system_prompt=optional(data, "systemPrompt", str, ""),
        config={k: v for k, v in data.items() if k not in ("name", "systemPrompt")},
        org=host.tenant_organization(tenant=ctx.tenant), created_by_plugin=ctx.plugin_id,
    )
    ctx.touched("chatbot", chatbot.id)
    return {"id": str(chatbot.id), "name": chatbot.name, "systemPrompt": chatbot.system_prompt,
            "provider": host.ai_provider().name, "createdAt": iso(chatbot.created_at)}
