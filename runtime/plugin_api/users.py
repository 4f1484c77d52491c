"""Host functions `users.*`: only the installation's user, or the members of its organization."""

from __future__ import annotations

from typing import Any

from host import api as host
from runtime.plugin_api.gateway import CallContext, host_function, iso, require


def user_dict(user) -> dict[str, Any]:
    # No e-mail address: a plugin reaches a user through communication.sendEmail, never by harvesting addresses.
    return {
        "id": str(user.id), "username": user.username, "firstName": user.first_name, "lastName": user.last_name,
        "name": user.get_full_name() or user.username, "role": user.role, "dateJoined": iso(user.date_joined),
    }


@host_function("users.getCurrent")
def get_current(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    user = host.access_user_by_id(tenant=ctx.tenant, user_id=ctx.user_id)
    ctx.touched("user", user.id)
    return user_dict(user)


@host_function("users.get")
def get(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    user = host.access_user_by_id(tenant=ctx.tenant, user_id=require(params, "id"))
    ctx.touched("user", user.id)
    return user_dict(user)


@host_function("users.update")
def update(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    user = host.access_user_by_id(tenant=ctx.tenant, user_id=require(params, "id"))
    ctx.touched("user", user.id)
    updates = require(params, "updates", dict)
    # The spec's camelCase names for the two profile fields a plugin may change.
    changes = {{"firstName": "first_name", "lastName": "last_name"}.get(k, k): v for k, v in updates.items()}
    return user_dict(host.user_update(user=user, changes=changes, source_plugin=ctx.plugin_id, org_id=ctx.org_id))


@host_function("users.getProgress")
def get_progress(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    user = host.access_user_by_id(tenant=ctx.tenant, user_id=require(params, "userId"))
    ctx.touched("user", user.id)
    return host.user_progress(user=user, org_id=ctx.org_id)
