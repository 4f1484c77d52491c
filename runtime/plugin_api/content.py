"""Host functions `content.*`: the installation's organization's (or user's) content, attributed to the plugin."""

from __future__ import annotations

from typing import Any

from host import api as host
from runtime.plugin_api.gateway import APIRefusal, CallContext, host_function, iso, optional, require


def content_dict(content) -> dict[str, Any]:
    return {
        "id": str(content.id), "title": content.title, "body": content.body, "kind": content.kind,
        "status": content.status, "tags": content.tags, "metadata": content.metadata,
        "orgId": str(content.org_id) if content.org_id else None,
        "authorId": str(content.author_id) if content.author_id else None,
        "createdByPlugin": content.created_by_plugin or None,
        "createdAt": iso(content.created_at), "updatedAt": iso(content.updated_at),
    }


@host_function("content.create")
def create(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = require(params, "content", dict)
    unknown = sorted(set(data) - {"title", "body", "kind", "tags", "metadata", "status"})
    if unknown:
        raise APIRefusal("invalid", f"Unknown content fields: {', '.join(unknown)}.")
    content = host.content_create(
        title=require(data, "title"), body=optional(data, "body", str, ""), kind=optional(data, "kind", str, "lesson"),
        tags=optional(data, "tags", list), metadata=optional(data, "metadata", dict),
        status=optional(data, "status", str, "draft"), org=host.tenant_organization(tenant=ctx.tenant),
        author=host.access_user_by_id(tenant=ctx.tenant, user_id=ctx.user_id),
        created_by_plugin=ctx.plugin_id,
    )
    ctx.touched("content", content.id)
    return content_dict(content)


@host_function("content.update")
def update(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    content = host.access_content_by_id(tenant=ctx.tenant, content_id=require(params, "id"))
    ctx.touched("content", content.id)
    content = host.content_update(content=content, changes=dict(require(params, "updates", dict)),
                                  source_plugin=ctx.plugin_id)
    return content_dict(content)


@host_function("content.delete")
def delete(ctx: CallContext, params: dict[str, Any]) -> None:
    content = host.access_content_by_id(tenant=ctx.tenant, content_id=require(params, "id"))
    ctx.touched("content", content.id)
    host.content_delete(content=content, source_plugin=ctx.plugin_id)


@host_function("content.find")
def find(ctx: CallContext, params: dict[str, Any]) -> list[dict[str, Any]]:
    ctx.touched("content")
    rows = host.content_find(base=host.tenant_contents(tenant=ctx.tenant), query=optional(params, "query", dict, {}))
    return [content_dict(c) for c in rows]


@host_function("content.get")
def get(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    content = host.access_content_by_id(tenant=ctx.tenant, content_id=require(params, "id"))
    ctx.touched("content", content.id)
    return content_dict(content)
