"""Top-level URLs: each app mounts its own pages and API under the paths the spec gives."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from aisquare_plugins import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("marketplace.urls")),
    path("", include("runtime.urls")),
    path("", include("developers.urls")),
    path("", include("reviews.urls")),
    path("", include("revenue.urls")),
    path("", include("host.urls")),
]
