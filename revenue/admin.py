from django.contrib import admin

from revenue.models import RevenueEntry


@admin.register(RevenueEntry)
class RevenueEntryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at", "plugin", "developer", "transaction_type", "amount", "currency", "platform_fee",
        "developer_share", "payment_status",
    ]
    list_filter = ["transaction_type", "payment_status", "currency"]
    search_fields = ["plugin__id", "developer__company_name", "external_id"]
    date_hierarchy = "created_at"
    list_select_related = ["plugin", "developer"]
    readonly_fields = [f.name for f in RevenueEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
