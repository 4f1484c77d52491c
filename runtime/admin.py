from django.contrib import admin

from runtime.models import Installation, PluginUsage


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    list_display = ["plugin", "version", "user", "org", "status", "installed_at", "activated_at", "last_used_at"]
    list_filter = ["status"]
    search_fields = ["plugin__id", "plugin__name", "user__username", "org__name"]
    autocomplete_fields = ["plugin", "user", "org"]
    readonly_fields = ["installed_at", "activated_at", "last_used_at", "uninstalled_at", "updated_at"]
    list_select_related = ["plugin", "user", "org"]


@admin.register(PluginUsage)
class PluginUsageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "plugin_id", "action", "outcome", "user", "resource_type", "resource_id"]
    list_filter = ["outcome", "action"]
    search_fields = ["plugin_id", "action", "resource_id", "user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = [f.name for f in PluginUsage._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
