from django.contrib import admin

from reviews.models import Review


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["plugin", "user", "rating", "title", "verified_purchase", "helpful_count", "is_hidden", "created_at"]
    list_filter = ["rating", "verified_purchase", "is_hidden"]
    search_fields = ["plugin__id", "plugin__name", "user__username", "title", "review"]
    autocomplete_fields = ["plugin", "user"]
    date_hierarchy = "created_at"
    list_select_related = ["plugin", "user"]
