"""Developer analytics (`GET /api/developer/analytics`, `/developer/plugins/<id>/analytics/`), the admin's
platform overview, and the Prometheus endpoint (`/metrics`). Views parse input, call one selector, render."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from aisquare_plugins.exceptions import Forbidden, NotFound, ServiceError
from developers import api as developers_api
from runtime.analytics import metrics, selectors


def _own_plugin(user, plugin_id):
    """The one gate: the developer's own plugin, or NotFound (missing and someone else's alike)."""
    developer = developers_api.developer_for_user(user=user)
    if developer is None:
        raise Forbidden("Register as a developer first (/developer/register/).", code="not_a_developer")
    if not plugin_id:
        raise ServiceError("plugin is required: the id of one of your plugins.", fields={"plugin": ["Required."]})
    return developers_api.access_plugin_by_id(developer=developer, plugin_id=str(plugin_id)[:255])


class DeveloperAnalyticsView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        summary="Figures of one of your plugins over time (from the daily roll-ups)",
        parameters=[
            OpenApiParameter("plugin", str, required=True, description="Your plugin's id"),
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day (UTC); default end − 29 days"),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (UTC), not after today; default today"),
            OpenApiParameter("granularity", str, enum=list(selectors.GRANULARITIES), description="default day"),
        ],
        responses=OpenApiTypes.OBJECT, operation_id="developer_analytics_retrieve",
    )
    def get(self, request):
        plugin = _own_plugin(request.user, request.query_params.get("plugin"))
        start, end, granularity = selectors.analytics_params(
            start=request.query_params.get("start"), end=request.query_params.get("end"),
            granularity=request.query_params.get("granularity"))
        return Response(selectors.plugin_analytics(plugin=plugin, start=start, end=end, granularity=granularity))


@login_required
def analytics_page(request, plugin_id):
    """The developer portal's dashboard of one plugin: charts (Chart.js from our static files) and the same figures
    as tables."""
    developer = developers_api.developer_for_user(user=request.user)
    if developer is None:
        return redirect("developers:register")
    try:
        plugin = developers_api.access_plugin_by_id(developer=developer, plugin_id=plugin_id)
    except NotFound:
        raise Http404("No such plugin.") from None
    error, data = None, None
    try:
        start, end, granularity = selectors.analytics_params(
            start=request.GET.get("start"), end=request.GET.get("end"), granularity=request.GET.get("granularity"))
    except ServiceError as exc:
        error = exc.message
        start, end, granularity = selectors.analytics_params(start=None, end=None, granularity=None)
    data = selectors.plugin_analytics(plugin=plugin, start=start, end=end, granularity=granularity)
    return render(request, "runtime/analytics_dashboard.html", {
        "plugin": plugin, "data": data, "error": error, "granularities": selectors.GRANULARITIES,
        "form": {"start": request.GET.get("start", data["start"]), "end": request.GET.get("end", data["end"]),
                 "granularity": request.GET.get("granularity", granularity)},
    }, status=400 if error else 200)


def metrics_view(request):
    """Prometheus text format for operators: a bearer token (settings.METRICS_TOKEN) or a staff session.
    Anyone else gets 404, as if there were nothing here."""
    token = getattr(settings, "METRICS_TOKEN", "") or ""
    header = request.headers.get("Authorization", "")
    by_token = bool(token) and header.startswith("Bearer ") and hmac.compare_digest(
        header[len("Bearer "):].strip().encode(), token.encode())
    by_staff = request.user.is_authenticated and request.user.is_staff and request.user.is_active
    if not (by_token or by_staff):
        raise Http404()
    body, content_type = metrics.render()
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
