"""URLs of the runtime app."""

app_name = "runtime"
urlpatterns: list = []
