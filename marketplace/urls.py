"""URLs of the marketplace app: the end-user pages and /api/marketplace/."""

from django.urls import path

from marketplace import views

app_name = "marketplace"
urlpatterns = [
    path("api/marketplace/plugins", views.PluginSearchView.as_view(), name="api-search"),
    path("api/marketplace/plugins/<str:plugin_id>", views.PluginDetailView.as_view(), name="api-detail"),
    path("api/marketplace/plugins/<str:plugin_id>/install", views.PluginInstallView.as_view(), name="api-install"),
    path("", views.home, name="home"),
    path("plugins/", views.search, name="search"),
    path("plugins/<str:plugin_id>/", views.plugin_detail, name="plugin-detail"),
    path("plugins/<str:plugin_id>/install/", views.install, name="install"),
    path("my/plugins/", views.my_plugins, name="my-plugins"),
    path("my/plugins/<uuid:installation_id>/<str:action>/", views.installation_action, name="installation-action"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
