"""URLs of the reviews app: its API, its pages, and the developer portal's reviews page."""

from django.urls import path

from reviews import api_views, views

app_name = "reviews"
urlpatterns = [
    # API (spec §Marketplace Endpoints)
    path("api/marketplace/plugins/<str:plugin_id>/review", api_views.PluginReviewSubmitView.as_view(),
         name="api-review-submit"),
    path("api/marketplace/plugins/<str:plugin_id>/reviews", api_views.PluginReviewListView.as_view(),
         name="api-review-list"),
    path("api/reviews/<str:review_id>/helpful", api_views.ReviewHelpfulView.as_view(), name="api-review-helpful"),
    path("api/reviews/<str:review_id>/flag", api_views.ReviewFlagView.as_view(), name="api-review-flag"),
    path("api/reviews/<str:review_id>/reply", api_views.ReviewReplyView.as_view(), name="api-review-reply"),
    # Pages: plain HTML forms, no JavaScript
    path("plugins/<str:plugin_id>/reviews/", views.plugin_reviews_page, name="plugin-reviews"),
    path("plugins/<str:plugin_id>/reviews/write/", views.review_write_page, name="review-write"),
    path("reviews/<str:review_id>/helpful/", views.review_helpful_post, name="review-helpful"),
    path("reviews/<str:review_id>/flag/", views.review_flag_page, name="review-flag"),
    # Developer portal
    path("developer/reviews/", views.developer_reviews_page, name="developer-reviews"),
    path("developer/reviews/<str:review_id>/reply/", views.developer_reply_post, name="developer-reply"),
]
