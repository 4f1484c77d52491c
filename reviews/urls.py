"""URLs of the reviews app."""

app_name = "reviews"
urlpatterns: list = []
