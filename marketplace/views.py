"""Marketplace pages and the /api/marketplace/ endpoints. They parse input, call one selector or service, render."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

import reviews.api as reviews_api
import runtime.api as runtime_api
from aisquare_plugins.exceptions import NotFound, ServiceError
from host import api as host_api
from marketplace import selectors, services
from marketplace.models import Category, PricingModel
from marketplace.serializers import parse_search_params, plugin_card, pricing_data, version_data

# --- API --------------------------------------------------------------------------------------------------------


class PluginSearchView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Search the marketplace",
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("query", "category", "tags", "pricing", "price_min", "price_max", "rating_min",
                         "verified", "featured", "compatible_with", "sort", "limit", "offset")
        ],
        responses={200: dict},
    )
    def get(self, request):
        params = parse_search_params(request.query_params)
        result = selectors.plugin_search(params=params)
        installed = selectors.installed_plugin_ids(user=request.user, plugin_ids=[p.pk for p in result.plugins])
        return Response(
            {
                "plugins": [plugin_card(p, installed=p.pk in installed) for p in result.plugins],
                "total": result.total,
                "facets": result.facets,
                "limit": params.limit,
                "offset": params.offset,
            }
        )


def plugin_detail_data(*, plugin, user) -> dict:
    versions = selectors.plugin_versions(plugin=plugin)  # one query; the rest is worked out from it
    latest = versions[0] if versions else None
    installable = next((v for v in versions if selectors.runs_on(v)), None)
    installed = bool(selectors.installed_plugin_ids(user=user, plugin_ids=[plugin.pk]))
    data = plugin_card(plugin, installed=installed)
    data.update(
        {
            "versions": [version_data(v) for v in versions],
            "permissions": selectors.version_permissions(installable or latest),
            "ratings": {
                "average": float(plugin.rating_average),
                "count": plugin.rating_count,
                "distribution": (plugin.ratings or {}).get("distribution", {}),
            },
            "compatibility": {
                "platform_version": settings.PLATFORM_VERSION,
                "compatible": installable is not None,
                "installable_version": installable.version if installable else None,
                "platform_range": selectors.platform_range(installable or latest),
            },
            "developer": {
                "name": plugin.developer.company_name,
                "website": plugin.developer.website,
                "support_email": plugin.developer.support_email,
                "verified": plugin.developer.verified,
            },
            "documentation_url": plugin.documentation_url,
            "support_url": plugin.support_url,
            "pricing": pricing_data(plugin),
        }
    )
    return data


class PluginDetailView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="marketplace_plugin_detail",
        summary="A plugin's listing, versions, permissions, ratings, compatibility",
        responses={200: dict},
    )
    def get(self, request, plugin_id: str):
        plugin = selectors.access_plugin_by_id(plugin_id=plugin_id)
        return Response(plugin_detail_data(plugin=plugin, user=request.user))


class MarketplaceInstallRequestSerializer(serializers.Serializer):
    granted_scopes = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=50, default=list,
        help_text="Every required scope the plugin asks for (consent), plus the optional ones chosen.",
    )
    org_id = serializers.UUIDField(
        required=False, allow_null=True, default=None,
        help_text="Install for this organization (you must administer it) instead of for yourself.",
    )


class PluginInstallView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Install from the marketplace", request=MarketplaceInstallRequestSerializer, responses={201: dict}
    )
    def post(self, request, plugin_id: str):
        body = MarketplaceInstallRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        org_id = body.validated_data["org_id"]
        org = host_api.access_administered_org_by_id(user=request.user, org_id=org_id) if org_id else None
        installation = services.plugin_install(
            plugin_id=plugin_id, user=request.user, granted_scopes=body.validated_data["granted_scopes"], org=org
        )
        return Response(
            {
                "plugin_id": plugin_id,
                "installation_id": str(installation.pk),
                "org_id": str(installation.org_id) if installation.org_id else None,
                "version": installation.version,
                "status": installation.status,
                "granted_scopes": installation.permissions,
                "activation_required": installation.status != "active",
            },
            status=status.HTTP_201_CREATED,
        )


# --- pages ------------------------------------------------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "marketplace/home.html", selectors.home_sections())


def _page_links(request: HttpRequest, params, total: int) -> dict:
    def link(offset: int) -> str:
        query = request.GET.copy()
        query["offset"] = str(offset)
        return f"?{query.urlencode()}"

    return {
        "previous": link(max(params.offset - params.limit, 0)) if params.offset > 0 else None,
        "next": link(params.offset + params.limit) if params.offset + params.limit < total else None,
        "first": params.offset + 1 if total else 0,
        "last": min(params.offset + params.limit, total),
    }


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    context = {
        "category_options": [(value, label, None) for value, label in Category.choices],
        "pricing_options": [(value, label, None) for value, label in PricingModel.choices],
        "sorts": selectors.SORTS,
        "rating_choices": ["4", "3", "2", "1"],
    }
    try:
        params = parse_search_params(request.GET)
    except ServiceError as error:
        context.update({"error": error.message, "results": [], "total": 0, "facets": {}})
        return render(request, "marketplace/search.html", context, status=400)
    result = selectors.plugin_search(params=params)
    installed = selectors.installed_plugin_ids(user=request.user, plugin_ids=[p.pk for p in result.plugins])
    for plugin in result.plugins:
        plugin.installed = plugin.pk in installed
    context.update(
        {
            "params": params,
            "results": result.plugins,
            "total": result.total,
            "facets": result.facets,
            "category_options": [
                (value, label, result.facets["category"].get(value, 0)) for value, label in Category.choices
            ],
            "pricing_options": [
                (value, label, result.facets["pricing"].get(value, 0)) for value, label in PricingModel.choices
            ],
            "pages": _page_links(request, params, result.total),
        }
    )
    return render(request, "marketplace/search.html", context)


def _reviews_context(request: HttpRequest, plugin) -> dict | None:
    """The reviews app's block on the detail page, when that app provides it."""
    provider = getattr(reviews_api, "plugin_reviews_context", None)
    if provider is None:
        return None
    try:
        select_template(["reviews/_plugin_reviews.html"])
    except Exception:  # the template is not there yet: leave the block out rather than fail the page
        return None
    return provider(plugin=plugin, user=request.user, request=request)


@require_GET
def plugin_detail(request: HttpRequest, plugin_id: str) -> HttpResponse:
    try:
        plugin = selectors.access_plugin_by_id(plugin_id=plugin_id)
    except NotFound:
        raise Http404("No such plugin") from None
    data = plugin_detail_data(plugin=plugin, user=request.user)
    context = {"plugin": plugin, "data": data, "reviews": _reviews_context(request, plugin)}
    return render(request, "marketplace/plugin_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def install(request: HttpRequest, plugin_id: str) -> HttpResponse:
    try:
        plugin = selectors.access_plugin_by_id(plugin_id=plugin_id)
    except NotFound:
        raise Http404("No such plugin") from None
    version = selectors.installable_version(plugin=plugin)
    context = {
        "plugin": plugin,
        "version": version,
        "permissions": selectors.version_permissions(version),
        "installed": plugin.pk in selectors.personal_installed_plugin_ids(user=request.user),
        "organizations": list(host_api.organizations_administered(user=request.user)),
        "pricing": pricing_data(plugin),
        "platform_range": selectors.platform_range(version or selectors.latest_version(plugin=plugin)),
    }
    if request.method == "POST":
        granted = request.POST.getlist("scopes")
        org_id = request.POST.get("org") or None
        context.update({"granted": granted, "chosen_org": org_id})
        try:
            org = host_api.access_administered_org_by_id(user=request.user, org_id=org_id) if org_id else None
            services.plugin_install(plugin_id=plugin.pk, user=request.user, granted_scopes=granted, org=org)
        except ServiceError as error:
            context.update({"error": error.message, "payment_required": error.status_code == 402})
            return render(request, "marketplace/install.html", context, status=error.status_code)
        except ValidationError as error:
            context["error"] = "; ".join(error.messages)
            return render(request, "marketplace/install.html", context, status=400)
        target = f" for {org.name}" if org else ""
        messages.success(request, f"{plugin.name} is installed{target}. Activate it to use it.")
        return redirect("marketplace:my-plugins")
    return render(request, "marketplace/install.html", context)


# --- My plugins and the dashboard (installations are the runtime's; its api.py does the work) -----------------------

INSTALLATION_ACTIONS = {
    "activate": lambda installation: runtime_api.installation_activate(installation=installation),
    "deactivate": lambda installation: runtime_api.installation_deactivate(installation=installation),
    "update": lambda installation: services.installation_update_to_newest(installation=installation),
    "rollback": lambda installation: runtime_api.installation_rollback(installation=installation),
    "uninstall": lambda installation: runtime_api.installation_uninstall(installation=installation),
}
ACTION_DONE = {"activate": "activated", "deactivate": "deactivated", "update": "updated", "rollback": "rolled back",
               "uninstall": "uninstalled"}


@login_required
@require_GET
def my_plugins(request: HttpRequest) -> HttpResponse:
    installations = list(runtime_api.installations_for_user(user=request.user))
    newest = selectors.newest_installable_versions(plugin_ids=[i.plugin_id for i in installations])
    settings_pages = {}
    extensions = getattr(runtime_api, "ui_extensions_for_user", None)
    if extensions is not None and any(i.status == "active" for i in installations):
        for page in extensions(user=request.user)["settings_pages"]:
            if page.get("route"):
                settings_pages.setdefault(page["installation_id"], page["route"])
    for installation in installations:
        candidate = newest.get(installation.plugin_id)
        installation.update_available = (
            candidate.version
            if candidate and installation.status in ("installed", "active")
            and selectors.is_newer(candidate, installation.plugin_version)
            else None
        )
        installation.settings_url = settings_pages.get(str(installation.pk))
    return render(request, "marketplace/my_plugins.html", {"installations": installations})


@login_required
@require_POST
def installation_action(request: HttpRequest, installation_id, action: str) -> HttpResponse:
    if action not in INSTALLATION_ACTIONS:
        raise Http404("No such action")
    try:
        installation = runtime_api.installation_get_for_user(user=request.user, installation_id=installation_id)
    except NotFound:
        raise Http404("No such installation") from None
    try:
        INSTALLATION_ACTIONS[action](installation)
    except ServiceError as error:
        messages.error(request, f"{installation.plugin.name}: {error.message}")
    except ValidationError as error:
        messages.error(request, f"{installation.plugin.name}: {'; '.join(error.messages)}")
    else:
        messages.success(request, f"{installation.plugin.name} is {ACTION_DONE[action]}.")
    return redirect(reverse("marketplace:my-plugins"))


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    provider = getattr(runtime_api, "ui_extensions_for_user", None)
    extensions = provider(user=request.user) if provider else None
    return render(request, "marketplace/dashboard.html", {"extensions": extensions})
