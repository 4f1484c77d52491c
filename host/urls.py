"""URLs of the host app."""

app_name = "host"
urlpatterns: list = []
