"""URLs of the runtime app: /api/plugins/…"""

from django.urls import path

from runtime import views

app_name = "runtime"
urlpatterns = [
    path("api/plugins/install", views.InstallView.as_view(), name="api-install"),
    path("api/plugins/installed", views.InstalledListView.as_view(), name="api-installed"),
    path("api/plugins/<uuid:installation_id>", views.InstallationView.as_view(), name="api-installation"),
    path("api/plugins/<uuid:installation_id>/activate", views.ActivateView.as_view(), name="api-activate"),
    path("api/plugins/<uuid:installation_id>/deactivate", views.DeactivateView.as_view(), name="api-deactivate"),
    path("api/plugins/<uuid:installation_id>/invoke", views.InvokeView.as_view(), name="api-invoke"),
]

# The Plugin API: a plugin's file behind a signed, expiring link (storage.files.getUrl).
from runtime.plugin_api import views as plugin_api_views  # noqa: E402

urlpatterns.append(path("plugin-files/<str:token>", plugin_api_views.plugin_file, name="plugin-file"))

# Monitoring and developer analytics (issue 10): the developer's figures, their portal page, Prometheus.
from runtime.analytics import views as analytics_views  # noqa: E402

urlpatterns += [
    path("api/developer/analytics", analytics_views.DeveloperAnalyticsView.as_view(), name="api-analytics"),
    path("developer/plugins/<str:plugin_id>/analytics/", analytics_views.analytics_page, name="analytics"),
    path("metrics", analytics_views.metrics_view, name="metrics"),
]
