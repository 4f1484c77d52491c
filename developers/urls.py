"""URLs of the developers app: the developer API and the developer portal."""

from django.urls import path

from developers import pages, views

app_name = "developers"
urlpatterns = [
    path("api/developer/plugins", views.DeveloperPluginsView.as_view(), name="api-plugins"),
    path("api/developer/plugins/<str:plugin_id>", views.DeveloperPluginDetailView.as_view(), name="api-plugin"),
    path("api/developer/versions/<uuid:version_id>", views.DeveloperVersionView.as_view(), name="api-version"),
    path("api/developer/tokens", views.DeveloperTokensView.as_view(), name="api-tokens"),
    path("api/developer/tokens/<uuid:token_id>", views.DeveloperTokenDetailView.as_view(), name="api-token"),
    path("developer/", pages.dashboard, name="dashboard"),
    path("developer/register/", pages.register, name="register"),
    path("developer/profile/", pages.profile, name="profile"),
    path("developer/upload/", pages.upload, name="upload"),
    path("developer/versions/<uuid:version_id>/", pages.version_detail, name="version"),
    path("developer/plugins/<str:plugin_id>/edit/", pages.listing_edit, name="listing"),
    path("developer/tokens/", pages.tokens, name="tokens"),
    path("developer/tokens/<uuid:token_id>/revoke/", pages.token_revoke, name="token-revoke"),
]
