from django.contrib import admin
from django.db import transaction

from marketplace.cache import invalidate_catalogue_caches
from marketplace.catalogue import search_entries_refresh
from marketplace.models import Plugin, PluginVersion


class PluginVersionInline(admin.TabularInline):
    model = PluginVersion
    extra = 0
    fields = ["version", "status", "sha256", "size", "quality_score", "published_at", "yanked_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Plugin)
class PluginAdmin(admin.ModelAdmin):
    list_display = [
        "id", "name", "developer", "category", "pricing_model", "version", "downloads", "rating_average",
        "verified", "featured", "published_at",
    ]
    list_filter = ["category", "pricing_model", "verified", "featured"]
    search_fields = ["id", "name", "description", "developer__company_name"]
    autocomplete_fields = ["developer"]
    readonly_fields = ["downloads", "ratings", "rating_average", "rating_count", "created_at", "updated_at"]
    inlines = [PluginVersionInline]

    def save_model(self, request, obj, form, change):
        # An edit here does not go through the catalogue's services: the search entry and the cached listings
        # follow it the same way.
        super().save_model(request, obj, form, change)
        search_entries_refresh(plugin_ids=[obj.pk])
        transaction.on_commit(lambda: invalidate_catalogue_caches(plugin_id=obj.pk))


@admin.register(PluginVersion)
class PluginVersionAdmin(admin.ModelAdmin):
    list_display = ["plugin", "version", "status", "quality_score", "size", "created_at", "published_at"]
    list_filter = ["status"]
    search_fields = ["plugin__id", "plugin__name", "version", "sha256"]
    autocomplete_fields = ["plugin", "uploaded_by"]
    date_hierarchy = "created_at"
    # The publishing pipeline moves versions between states (developers' review console, with an audit); editing
    # status or the package here would bypass the scan and the review.
    readonly_fields = [
        "plugin", "version", "package", "status", "sha256", "size", "manifest", "quality_score", "published_at",
        "yanked_at", "yank_reason", "min_platform_version", "max_platform_version", "min_platform_key",
        "max_platform_key", "version_major", "version_minor", "version_patch", "uploaded_by", "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return False
