"""Host functions `communication.*`: notifications, e-mail and channels, to users of the tenant only."""

from __future__ import annotations

from typing import Any

from host import api as host
from runtime.plugin_api.gateway import APIRefusal, CallContext, host_function, iso, optional, require


@host_function("communication.sendNotification")
def send_notification(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = require(params, "notification", dict)
    user = host.access_user_by_id(tenant=ctx.tenant, user_id=data.get("userId") or ctx.user_id)
    link = optional(data, "link", str, "")
    if link and not link.startswith("/"):
        raise APIRefusal("invalid", "link must be a path on this site (starting with /).")
    notification = host.notification_send(user=user, title=require(data, "title"),
                                          body=optional(data, "body", str, ""), link=link,
                                          created_by_plugin=ctx.plugin_id)
    ctx.touched("notification", notification.id)
    return {"id": str(notification.id)}


@host_function("communication.sendEmail")
def send_email(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = require(params, "email", dict)
    # A user id, never a free address: plugins mail the tenant's users, not the world.
    user = host.access_user_by_id(tenant=ctx.tenant, user_id=require(data, "userId"))
    ctx.touched("user", user.id)
    host.email_send(user=user, subject=require(data, "subject"), body=optional(data, "body", str, ""),
                    created_by_plugin=ctx.plugin_id)
    return {"queued": True}


@host_function("communication.createChannel")
def create_channel(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = require(params, "channel", dict)
    member_ids = optional(data, "memberIds", list, [])
    members = [host.access_user_by_id(tenant=ctx.tenant, user_id=m) for m in member_ids[:500]]
    channel = host.channel_create(
        owner=host.access_user_by_id(tenant=ctx.tenant, user_id=ctx.user_id), name=require(data, "name"),
        description=optional(data, "description", str, ""), org=host.tenant_organization(tenant=ctx.tenant),
        members=members, created_by_plugin=ctx.plugin_id,
    )
    ctx.touched("channel", channel.id)
    return {"id": str(channel.id), "name": channel.name, "description": channel.description,
            "memberIds": sorted(str(u) for u in channel.members.values_list("id", flat=True)),
            "createdByPlugin": channel.created_by_plugin, "createdAt": iso(channel.created_at)}
