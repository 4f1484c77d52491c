"""URLs of the revenue app: checkout, the developer's revenue report and pages, and Stripe's webhooks."""

from django.urls import include, path

from revenue import views

app_name = "revenue"
urlpatterns = [
    path("plugins/<str:plugin_id>/buy/", views.plugin_buy, name="plugin-buy"),
    path("api/marketplace/plugins/<str:plugin_id>/purchase", views.PluginPurchaseAPI.as_view(),
         name="api-plugin-purchase"),
    path("api/revenue/subscriptions/<str:subscription_id>/cancel", views.SubscriptionCancelAPI.as_view(),
         name="api-subscription-cancel"),
    path("my/billing/", views.my_billing, name="my-billing"),
    path("api/developer/revenue", views.DeveloperRevenueAPI.as_view(), name="api-developer-revenue"),
    path("api/developer/revenue.csv", views.DeveloperRevenueAPI.as_view(), {"format": "csv"},
         name="api-developer-revenue-csv"),
    path("developer/revenue/", views.developer_revenue, name="developer-revenue"),
    path("developer/payouts/connect/", views.payout_connect, name="payout-connect"),
    # dj-stripe's own webhook view: /stripe/webhook/<uuid>/ (the uuid of a djstripe WebhookEndpoint row).
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
]
