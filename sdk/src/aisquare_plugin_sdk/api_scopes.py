"""Which permission scope each Plugin API call needs: the one table that the publishing scanner (undeclared-scope
check) and the SDK's documentation generator both read. Standard library only.

Call names are `<namespace>.<method>` as a plugin writes them after `context.api.` (spec §1 PluginAPI). Python
plugins may write the methods in snake_case (`analyze_text`) or as the spec spells them (`analyzeText`):
`scope_for_call` accepts both.
"""

from __future__ import annotations

import re

API_SCOPES: dict[str, str] = {
    # content
    "content.create": "content:create",
    "content.update": "content:update",
    "content.delete": "content:delete",
    "content.find": "content:read",
    "content.get": "content:read",
    "content.subscribe": "content:read",
    # users
    "users.getCurrent": "users:read",
    "users.get": "users:read",
    "users.getProgress": "users:read",
    "users.update": "users:update",
    # assessments
    "assessments.create": "assessments:create",
    "assessments.grade": "assessments:grade",
    "assessments.getSubmissions": "assessments:read",
    "assessments.get": "assessments:read",
    # analytics
    "analytics.track": "analytics:write",
    "analytics.query": "analytics:read",
    "analytics.createDashboard": "analytics:write",
    "analytics.export": "analytics:export",
    # communication
    "communication.sendNotification": "system:notifications",
    "communication.sendEmail": "users:message",
    "communication.sendMessage": "users:message",
    "communication.createChannel": "users:message",
    # ai
    "ai.generateContent": "ai:use",
    "ai.analyzeText": "ai:use",
    "ai.createChatbot": "ai:use",
    "ai.train": "ai:train",
    # system
    "system.registerWebhook": "system:webhooks",
    "webhooks.register": "system:webhooks",
}


def _normalize(name: str) -> str:
    namespace, _, method = name.partition(".")
    return f"{namespace.lower()}.{re.sub(r'_', '', method).lower()}"


_NORMALIZED = {_normalize(name): scope for name, scope in API_SCOPES.items()}


def scope_for_call(name: str) -> str | None:
    """The scope that `context.api.<name>(...)` needs, or None for a call that needs none (or is unknown).

    >>> scope_for_call("ai.analyze_text")
    'ai:use'
    """
    return _NORMALIZED.get(_normalize(name))
