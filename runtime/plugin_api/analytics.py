"""Host functions `analytics.*`: events of the tenant, queries over them, dashboards."""

from __future__ import annotations

from typing import Any

from host import api as host
from runtime.plugin_api.cache import cached_api_response
from runtime.plugin_api.gateway import CallContext, host_function, iso, optional, require


@host_function("analytics.track")
def track(ctx: CallContext, params: dict[str, Any]) -> None:
    data = require(params, "event", dict)
    row = host.analytics_track(
        event=require(data, "event"), properties=optional(data, "properties", dict, {}),
        org=host.tenant_organization(tenant=ctx.tenant),
        user=host.access_user_by_id(tenant=ctx.tenant, user_id=ctx.user_id), created_by_plugin=ctx.plugin_id,
    )
    ctx.touched("analytics_event", row.id)


@host_function("analytics.query")
def query(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    q = optional(params, "query", dict, {})
    ctx.touched("analytics")
    return cached_api_response(ctx, "analytics.query", q,
                               lambda: host.analytics_query(org_id=ctx.org_id, user_id=ctx.user_id, query=q))


@host_function("analytics.createDashboard")
def create_dashboard(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = require(params, "dashboard", dict)
    dashboard = host.dashboard_create(
        owner=host.access_user_by_id(tenant=ctx.tenant, user_id=ctx.user_id), title=require(data, "title"),
        config={k: v for k, v in data.items() if k != "title"}, org=host.tenant_organization(tenant=ctx.tenant),
        created_by_plugin=ctx.plugin_id,
    )
    ctx.touched("dashboard", dashboard.id)
    return {"id": str(dashboard.id), "title": dashboard.title, "config": dashboard.config,
            "createdByPlugin": dashboard.created_by_plugin, "createdAt": iso(dashboard.created_at)}
