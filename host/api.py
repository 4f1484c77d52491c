"""The host app's public surface: the only module of it that other apps may import.

The runtime's Plugin API reaches the platform through these functions: tenant gates (`access_*_by_id`, which answer
NotFound for objects outside an installation's organization or user), the services that write and emit platform
events, the AI service with its quota, and the event listener registry.
"""

from host.ai import (
    ANALYSES,
    LOCAL_NOTICE,
    AIError,
    AIProvider,
    AIQuotaExceeded,
    LocalAIProvider,
    OpenAICompatibleProvider,
    ai_analyze_text,
    ai_generate_content,
    ai_provider,
    ai_usage_today,
)
from host.events import PLATFORM_EVENTS, PlatformEvent
from host.events import listener_add as platform_event_listener_add
from host.events import listener_remove as platform_event_listener_remove
from host.selectors import (
    Tenant,
    access_administered_org_by_id,
    access_assessment_by_id,
    access_content_by_id,
    access_submission_by_id,
    access_user_by_id,
    analytics_query,
    content_find,
    is_org_admin,
    organizations_administered,
    submissions_for_assessment,
    tenant_contents,
    tenant_organization,
    tenant_users,
    user_progress,
)
from host.services import (
    analytics_track,
    assessment_create,
    channel_create,
    chatbot_create,
    content_as_event,
    content_create,
    content_delete,
    content_update,
    dashboard_create,
    email_send,
    enrollment_create,
    notification_send,
    submission_create,
    submission_grade,
    user_update,
)

__all__ = [
    "access_administered_org_by_id", "is_org_admin", "organizations_administered",
    "ANALYSES", "LOCAL_NOTICE", "PLATFORM_EVENTS", "AIError", "AIProvider", "AIQuotaExceeded", "LocalAIProvider",
    "OpenAICompatibleProvider", "PlatformEvent", "Tenant", "access_assessment_by_id", "access_content_by_id",
    "access_submission_by_id", "access_user_by_id", "ai_analyze_text", "ai_generate_content", "ai_provider",
    "ai_usage_today", "analytics_query", "analytics_track", "assessment_create", "channel_create", "chatbot_create",
    "content_as_event", "content_create", "content_delete", "content_find", "content_update", "dashboard_create",
    "email_send", "enrollment_create", "notification_send", "platform_event_listener_add",
    "platform_event_listener_remove", "submission_create", "submission_grade", "submissions_for_assessment",
    "tenant_contents", "tenant_organization", "tenant_users", "user_progress", "user_update",
]
