"""Host functions `ui.*` and what the platform renders of them.

A plugin registers extensions (usually at `init`); they are stored per installation and shown on the dashboard of
the users the installation serves: menu items, dashboard widgets, toolbar actions, settings pages, routes, theme
colours and notifications. Nothing a plugin sends reaches a page unescaped: labels are text, links are site paths,
colours are hex, and widget HTML — static or returned by a plugin function — goes through nh3 (allow-listed tags and
attributes, no script, no event handlers, no style, no javascript: URLs) before it is marked safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

import nh3
from django.core.cache import cache
from django.db.models import Q
from django.utils.safestring import mark_safe

from runtime.models import Installation
from runtime.plugin_api.cache import API_TTL
from runtime.plugin_api.gateway import APIRefusal, CallContext, host_function, optional, require
from runtime.plugin_api.models import UIExtension

logger = logging.getLogger(__name__)

KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
PATH_RE = re.compile(r"^/(?!/)[A-Za-z0-9_./~%-]*(\?[A-Za-z0-9_=&.%-]*)?$")
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$")
FUNCTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
MAX_EXTENSIONS = 50
MAX_HTML = 20_000
WIDGET_TIMEOUT = 5
THEME_KEYS = ("primaryColor", "accentColor", "backgroundColor", "textColor")

ALLOWED_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em", "h3", "h4",
                "h5", "hr", "i", "li", "ol", "p", "pre", "small", "span", "strong", "sub", "sup", "table", "tbody",
                "td", "th", "thead", "tr", "u", "ul", "progress", "meter"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"colspan", "rowspan"},
                      "th": {"colspan", "rowspan", "scope"}, "progress": {"value", "max"},
                      "meter": {"value", "min", "max", "low", "high", "optimum"}, "*": {"class"}}


def sanitize_html(html: str) -> str:
    """Widget HTML, made safe for the dashboard."""
    return nh3.clean(str(html)[:MAX_HTML], tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes={"https", "http", "mailto"}, link_rel="noopener noreferrer nofollow")


def _text(data: dict, name: str, limit: int = 100, required: bool = True) -> str:
    value = require(data, name) if required else optional(data, name, str, "")
    if len(value) > limit:
        raise APIRefusal("invalid", f"{name} is at most {limit} characters.")
    return value


def _path(data: dict, name: str, required: bool = True) -> str:
    value = require(data, name) if required else optional(data, name, str, "")
    if value and (not PATH_RE.match(value) or len(value) > 300):
        raise APIRefusal("invalid", f"{name} must be a path on this site, such as /plugins/my-plugin/report.")
    return value


def _store(ctx: CallContext, kind: str, key: str, config: dict[str, Any]) -> dict[str, Any]:
    if not KEY_RE.match(key):
        raise APIRefusal("invalid", "id is 1-100 letters, digits, '_', '.', ':' or '-'.")
    existing = UIExtension.objects.filter(installation_id=ctx.installation_id)
    if not existing.filter(kind=kind, key=key).exists() and existing.count() >= MAX_EXTENSIONS:
        raise APIRefusal("quota_exceeded", f"An installation may register at most {MAX_EXTENSIONS} UI extensions.")
    UIExtension.objects.update_or_create(installation_id=ctx.installation_id, kind=kind, key=key,
                                         defaults={"config": config})
    ctx.touched("ui_extension", f"{kind}:{key}")
    return {"registered": key}


def _object(params: dict, name: str) -> dict:
    return require(params, name, dict)


@host_function("ui.registerComponent", scope=None)
def register_component(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "component")
    return _store(ctx, UIExtension.Kind.COMPONENT, require(data, "id"),
                  {"name": _text(data, "name", required=False), "function": _function(data)})


@host_function("ui.addMenuItem", scope=None)
def add_menu_item(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "item")
    return _store(ctx, UIExtension.Kind.MENU_ITEM, require(data, "id"), {
        "label": _text(data, "label"), "route": _path(data, "route"), "icon": _text(data, "icon", 50, False),
        "position": _text(data, "position", 50, False),
    })


def _function(data: dict) -> str:
    name = optional(data, "function", str, "")
    if name and not FUNCTION_RE.match(name):
        raise APIRefusal("invalid", "function must name a public function of the plugin.")
    return name


@host_function("ui.addDashboardWidget", scope=None)
def add_dashboard_widget(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "widget")
    html = optional(data, "html", str, "")
    if len(html) > MAX_HTML:
        raise APIRefusal("invalid", f"html is at most {MAX_HTML:,} characters.")
    size = data.get("defaultSize") if isinstance(data.get("defaultSize"), dict) else {}
    return _store(ctx, UIExtension.Kind.DASHBOARD_WIDGET, require(data, "id"), {
        "title": _text(data, "title"), "component": _text(data, "component", 100, False),
        "function": _function(data), "html": sanitize_html(html) if html else "",
        "width": max(1, min(12, int(size.get("w", 6)))) if isinstance(size.get("w", 6), int) else 6,
    })


@host_function("ui.addToolbarAction", scope=None)
def add_toolbar_action(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "action")
    return _store(ctx, UIExtension.Kind.TOOLBAR_ACTION, require(data, "id"), {
        "label": _text(data, "label"), "route": _path(data, "route", required=False), "function": _function(data),
    })


@host_function("ui.addSettingsPage", scope=None)
def add_settings_page(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "page")
    return _store(ctx, UIExtension.Kind.SETTINGS_PAGE, require(data, "id"), {
        "title": _text(data, "title"), "route": _path(data, "route", required=False), "function": _function(data),
    })


@host_function("ui.addRoute", scope=None)
def add_route(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "route")
    return _store(ctx, UIExtension.Kind.ROUTE, require(data, "id"),
                  {"path": _path(data, "path"), "title": _text(data, "title", 100, False), "function": _function(data)})


@host_function("ui.showNotification", scope=None)
def show_notification(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "notification")
    level = optional(data, "type", str, "info")
    if level not in ("info", "success", "warning", "error"):
        raise APIRefusal("invalid", "type is one of info, success, warning, error.")
    key = data.get("id") or hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    return _store(ctx, UIExtension.Kind.NOTIFICATION, str(key)[:100],
                  {"message": _text(data, "message", 500), "type": level})


@host_function("ui.customizeTheme", scope=None)
def customize_theme(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    data = _object(params, "theme")
    theme = {}
    for name, value in data.items():
        if name not in THEME_KEYS:
            raise APIRefusal("invalid", f"{name[:40]!r} cannot be themed; use {', '.join(THEME_KEYS)}.")
        if not isinstance(value, str) or not COLOR_RE.match(value):
            raise APIRefusal("invalid", f"{name} must be a hex colour such as #1a73e8.")
        theme[name] = value
    return _store(ctx, UIExtension.Kind.THEME, "theme", theme)


@host_function("ui.showModal", scope=None)
def show_modal(ctx: CallContext, params: dict[str, Any]) -> None:
    raise APIRefusal("invalid", "Modal dialogs are not available: pages are rendered by the server. "
                                "Use ui.showNotification or a settings page instead.")


# --- what the platform renders -----------------------------------------------------------------------------------

def installations_serving(user):
    """Active installations whose extensions this user sees: their own, and their organizations'."""
    if not getattr(user, "is_authenticated", False):
        return Installation.objects.none()
    org_ids = user.memberships.values("organization_id")
    return Installation.objects.filter(status=Installation.Status.ACTIVE).filter(
        Q(org__isnull=True, user=user) | Q(org_id__in=org_ids)
    )


def _widget_html(installation: Installation, extension: UIExtension, user) -> str:
    """The widget's content: static HTML, or its function's answer (cached 5 minutes), sanitized either way."""
    config = extension.config
    if not config.get("function"):
        return sanitize_html(config.get("html", ""))
    key = "plugin:api:{}:widget:{}".format(installation.plugin_id, hashlib.sha256(
        f"{installation.pk}:{installation.version}:{extension.key}:{user.pk}".encode()).hexdigest()[:32])
    html = cache.get(key)
    if html is None:
        from runtime.plugin_api import execution

        try:
            value = execution.run(installation=installation, kind="function", name=config["function"],
                                  args=[{"widgetId": extension.key}], acting_user_id=user.pk,
                                  timeout=WIDGET_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - one broken widget must not break the dashboard
            logger.warning("widget %s of %s failed: %s", extension.key, installation.plugin_id, exc)
            return ""
        html = sanitize_html(value if isinstance(value, str) else json.dumps(value))
        cache.set(key, html, timeout=API_TTL)
    return html


def ui_extensions_for_user(*, user) -> dict[str, Any]:
    """Everything the dashboard shows of the user's active plugins. Widget HTML is sanitized and marked safe."""
    installations = {str(i.pk): i for i in installations_serving(user).select_related("plugin", "plugin_version")}
    result: dict[str, Any] = {"menu_items": [], "widgets": [], "toolbar_actions": [], "settings_pages": [],
                              "routes": [], "notifications": [], "theme": {}}
    if not installations:
        return result
    rows = UIExtension.objects.filter(installation_id__in=list(installations)).order_by("position", "created_at")
    for ext in rows:
        installation = installations[str(ext.installation_id)]
        base = {"id": ext.key, "plugin_id": installation.plugin_id, "plugin_name": installation.plugin.name,
                "installation_id": str(installation.pk)}
        config = ext.config
        if ext.kind == UIExtension.Kind.MENU_ITEM:
            result["menu_items"].append({**base, "label": config["label"], "route": config["route"],
                                         "url": config["route"]})
        elif ext.kind == UIExtension.Kind.DASHBOARD_WIDGET:
            html = mark_safe(_widget_html(installation, ext, user))  # noqa: S308 - sanitized by nh3 in there
            result["widgets"].append({**base, "title": config["title"], "width": config.get("width", 6),
                                      "html": html, "body": html})
        elif ext.kind == UIExtension.Kind.TOOLBAR_ACTION:
            result["toolbar_actions"].append({**base, "label": config["label"], "route": config.get("route", "")})
        elif ext.kind == UIExtension.Kind.SETTINGS_PAGE:
            result["settings_pages"].append({**base, "title": config["title"], "route": config.get("route", "")})
        elif ext.kind == UIExtension.Kind.ROUTE:
            result["routes"].append({**base, "path": config["path"], "title": config.get("title", "")})
        elif ext.kind == UIExtension.Kind.NOTIFICATION:
            result["notifications"].append({**base, "message": config["message"], "type": config["type"]})
        elif ext.kind == UIExtension.Kind.THEME:
            result["theme"].update({k: v for k, v in config.items() if k in THEME_KEYS and COLOR_RE.match(v)})
    return result


def ui_extensions_remove(*, installation_id) -> int:
    """Deactivation and uninstall: the installation's extensions and subscriptions go."""
    from runtime.plugin_api.events import subscriptions_remove

    deleted, _ = UIExtension.objects.filter(installation_id=installation_id).delete()
    subscriptions_remove(installation_id=installation_id)
    return deleted
