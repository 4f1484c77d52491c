"""URLs of the developers app."""

app_name = "developers"
urlpatterns: list = []
