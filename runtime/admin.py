from django.contrib import admin

from aisquare_plugins.admin import ReadOnlyAdmin
from runtime.models import Installation, PluginUsage
from runtime.plugin_api.admission import installation_changed


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    list_display = ["plugin", "version", "user", "org", "status", "installed_at", "activated_at", "last_used_at"]
    list_filter = ["status"]
    search_fields = ["plugin__id", "plugin__name", "user__username", "org__name"]
    autocomplete_fields = ["plugin", "user", "org"]
    readonly_fields = ["installed_at", "activated_at", "last_used_at", "uninstalled_at", "updated_at"]
    list_select_related = ["plugin", "user", "org"]

    # An edit here bypasses the services: every process must still re-read the installation on its next Plugin API
    # call (runtime/plugin_api/admission.py).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        installation_changed(obj.pk)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        installation_changed(obj.pk)

    def delete_queryset(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for pk in ids:
            installation_changed(pk)


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


# --- Monitoring: the platform overview (issue 10) ---------------------------------------------------------------

from runtime.analytics import selectors as analytics_selectors  # noqa: E402
from runtime.analytics.models import PluginDailyStats  # noqa: E402


@admin.register(PluginDailyStats)
class PluginDailyStatsAdmin(ReadOnlyAdmin):
    """Read-only daily figures, under a platform overview of the last 7 days: top plugins, error spikes, resource
    hogs (linked from the admin index as "Plugin daily figures (platform overview)")."""

    change_list_template = "runtime/admin/platform_overview.html"
    list_display = ["day", "plugin_id", "version", "calls", "errors", "violations", "p95_ms", "peak_memory_kb",
                    "cpu_seconds", "installs", "uninstalls", "active_installations"]
    list_filter = ["day"]
    search_fields = ["plugin_id", "version"]
    date_hierarchy = "day"
    readonly_fields = [f.name for f in PluginDailyStats._meta.fields]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "overview": analytics_selectors.platform_overview(days=7)}
        return super().changelist_view(request, extra_context=extra_context)
