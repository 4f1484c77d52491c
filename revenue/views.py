"""Revenue pages and API: checkout, the developer's revenue report (JSON and CSV), revenue page, payout account."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from aisquare_plugins.exceptions import Forbidden, NotFound, ServiceError
from host import api as host_api
from revenue import charts, selectors, services
from revenue.gateways import get_gateway


def developer_of(user):
    """The signed-in user's developer account, or None."""
    from developers import api as developers_api

    lookup = getattr(developers_api, "developer_for_user", None)
    if lookup is not None:
        return lookup(user=user)
    return getattr(user, "developer", None) if user.is_authenticated else None


def _require_developer(user):
    developer = developer_of(user) if user.is_authenticated else None
    if developer is None:
        raise Forbidden("A developer account is needed for this.", code="not_a_developer")
    return developer


def _plugin_or_404(plugin_id: str):
    from marketplace import api as marketplace_api

    return marketplace_api.plugin_get_reviewable(plugin_id=plugin_id)


def _administered_org(user, org_id):
    """The organization the user acts for, or None for themselves (host's one gate: not-found for anything else)."""
    return host_api.access_administered_org_by_id(user=user, org_id=org_id) if org_id else None


# --- checkout ------------------------------------------------------------------------------------------------------

class PurchaseInput(serializers.Serializer):
    org_id = serializers.UUIDField(required=False, allow_null=True)


class PurchaseOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["purchase", "subscription"])
    id = serializers.UUIDField()
    status = serializers.CharField()
    redirect_url = serializers.CharField(allow_blank=True)
    test_mode = serializers.BooleanField()


class PluginPurchaseAPI(APIView):
    """POST /api/marketplace/plugins/{id}/purchase — buy a paid plugin (for yourself or an organization you run).

    201 with {kind, id, status, redirect_url}: status "paid"/"active" when the payment completed at once (local
    gateway), otherwise send the buyer to redirect_url (Stripe Checkout); the webhook completes it.
    """

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=PurchaseInput, responses={201: PurchaseOutput}, operation_id="plugin_purchase")
    def post(self, request, plugin_id: str):
        data = PurchaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        plugin = _plugin_or_404(plugin_id)
        org = _administered_org(request.user, data.validated_data.get("org_id"))
        detail = request.build_absolute_uri(f"/plugins/{plugin.pk}/")
        outcome = services.checkout_start(plugin=plugin, user=request.user, org=org,
                                          success_url=detail + "?purchase=success",
                                          cancel_url=detail + "?purchase=cancelled")
        gateway = get_gateway()
        return Response({"kind": outcome.kind, "id": outcome.id, "status": outcome.status,
                         "redirect_url": outcome.redirect_url, "test_mode": not gateway.moves_money},
                        status=status.HTTP_201_CREATED)


@login_required
@require_http_methods(["GET", "POST"])
def plugin_buy(request, plugin_id: str):
    try:
        plugin = _plugin_or_404(plugin_id)
    except NotFound:
        raise Http404("No such plugin")
    gateway = get_gateway()
    orgs = list(host_api.organizations_administered(user=request.user))
    entitled = selectors.entitlement_exists(plugin_id=plugin.pk, user=request.user)
    error = ""
    if request.method == "POST":
        try:
            org = _administered_org(request.user, request.POST.get("org_id") or None)
            detail = request.build_absolute_uri(f"/plugins/{plugin.pk}/")
            outcome = services.checkout_start(plugin=plugin, user=request.user, org=org,
                                              success_url=detail + "?purchase=success",
                                              cancel_url=detail + "?purchase=cancelled")
        except ServiceError as exc:
            error = exc.message
        else:
            if outcome.redirect_url:
                return redirect(outcome.redirect_url)
            note = " (test mode: no money moved)" if not gateway.moves_money else ""
            messages.success(request, f"You now have {plugin.name}{note}.")
            return redirect(f"/plugins/{plugin.pk}/")
    pricing = plugin.pricing or {}
    return render(request, "revenue/buy.html", {
        "plugin": plugin, "pricing": pricing, "orgs": orgs, "entitled": entitled, "error": error,
        "test_mode": not gateway.moves_money,
    }, status=400 if error else 200)


class SubscriptionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    plugin_id = serializers.CharField()
    status = serializers.CharField()
    cancel_at_period_end = serializers.BooleanField()
    current_period_end = serializers.DateTimeField(allow_null=True)


class SubscriptionCancelAPI(APIView):
    """POST /api/revenue/subscriptions/{id}/cancel — stop renewing; the plugin stays usable until the period ends."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: SubscriptionOutput}, operation_id="subscription_cancel")
    def post(self, request, subscription_id):
        subscription = selectors.access_subscription_by_id(user=request.user, subscription_id=subscription_id)
        subscription = services.subscription_cancel(subscription=subscription, user=request.user)
        return Response(SubscriptionOutput(subscription).data)


@login_required
@require_http_methods(["GET", "POST"])
def my_billing(request):
    """The buyer's purchases and subscriptions, with cancel buttons."""
    if request.method == "POST":
        try:
            subscription = selectors.access_subscription_by_id(user=request.user,
                                                               subscription_id=request.POST.get("subscription_id"))
            services.subscription_cancel(subscription=subscription, user=request.user)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{subscription.plugin.name} will not renew.")
        return redirect("revenue:my-billing")
    purchases, subscriptions = selectors.user_entitlements(user=request.user)
    return render(request, "revenue/my_billing.html", {
        "purchases": purchases, "subscriptions": subscriptions, "test_mode": not get_gateway().moves_money,
        "notice_days": services.PRICE_CHANGE_NOTICE_DAYS,
    })


# --- reports -------------------------------------------------------------------------------------------------------

class RevenueCSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.writer(out)
        if "error" in (data or {}):
            writer.writerow(["error", data["error"].get("message", "")])
            return out.getvalue().encode()
        period = data["period"]
        writer.writerow(["period_start", "period_end", "plugin_id", "currency", "transaction_count",
                         "total_revenue", "platform_fees", "gross"])
        for plugin_id, row in sorted(data["plugins"].items()):
            writer.writerow([period["start"], period["end"], plugin_id, row["currency"], row["transaction_count"],
                             row["total_revenue"], row["platform_fees"], row["gross"]])
        summary = data["summary"]
        writer.writerow([period["start"], period["end"], "TOTAL", ",".join(data["currencies"]),
                         summary["total_transactions"], summary["total_revenue"], summary["total_platform_fees"], ""])
        return out.getvalue().encode()


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class DeveloperRevenueAPI(APIView):
    """GET /api/developer/revenue?period=monthly|quarterly|yearly&start=YYYY-MM-DD&end=YYYY-MM-DD[&format=csv]

    The signed-in developer's report (spec `generate_revenue_report`): summary and per-plugin share
    (total_revenue), transaction count and platform fees. Amounts are decimal strings.
    """

    permission_classes = [permissions.IsAuthenticated]
    renderer_classes = [renderers.JSONRenderer, RevenueCSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("period", str, enum=list(selectors.PERIODS), default="monthly"),
            OpenApiParameter("start", OpenApiTypes.DATE, required=False),
            OpenApiParameter("end", OpenApiTypes.DATE, required=False),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, format=None):
        developer = _require_developer(request.user)
        start, end = selectors.report_range(period=request.query_params.get("period", "monthly"),
                                            start=request.query_params.get("start"),
                                            end=request.query_params.get("end"))
        report = selectors.revenue_report(developer=developer, start=start, end=end)
        response = Response(_jsonable(report) if request.accepted_renderer.format != "csv" else report)
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="revenue-{start}-{end}.csv"'
        return response


# --- developer portal pages ----------------------------------------------------------------------------------------

@login_required
def developer_revenue(request):
    developer = developer_of(request.user)
    if developer is None:
        raise Http404("No developer account")
    series = selectors.revenue_by_month(developer=developer, months=12)
    gateway = get_gateway()
    return render(request, "revenue/developer_revenue.html", {
        "developer": developer,
        "chart": charts.bar_chart(series),
        "series": series,
        "balances": selectors.developer_balance(developer=developer),
        "payouts": selectors.developer_payouts(developer=developer)[:50],
        "account": selectors.payout_account_for(developer=developer),
        "test_mode": not gateway.moves_money,
        "minimum": services.settings.PAYOUT_MINIMUM,
    })


@login_required
@require_http_methods(["GET", "POST"])
def payout_connect(request):
    developer = developer_of(request.user)
    if developer is None:
        raise Http404("No developer account")
    gateway = get_gateway()
    error = ""
    if request.method == "POST":
        try:
            if gateway.moves_money:
                url = services.payout_account_onboarding(
                    developer=developer, refresh_url=request.build_absolute_uri(reverse("revenue:payout-connect")),
                    return_url=request.build_absolute_uri(reverse("revenue:developer-revenue")),
                )
                return redirect(url)
            services.payout_account_set(developer=developer, account_id=request.POST.get("account_id", ""))
        except ServiceError as exc:
            error = exc.message
        else:
            messages.success(request, "Payout account saved (test mode: no money will move).")
            return redirect("revenue:developer-revenue")
    return render(request, "revenue/payout_connect.html", {
        "account": selectors.payout_account_for(developer=developer), "test_mode": not gateway.moves_money,
        "error": error, "value": request.POST.get("account_id", ""),
    }, status=400 if error else 200)
