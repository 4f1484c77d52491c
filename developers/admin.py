from django.contrib import admin

from developers.models import Developer


@admin.register(Developer)
class DeveloperAdmin(admin.ModelAdmin):
    list_display = ["company_name", "user", "support_email", "verified", "payment_account_id", "created_at"]
    list_filter = ["verified"]
    search_fields = ["company_name", "user__username", "user__email", "support_email", "website"]
    autocomplete_fields = ["user"]
    readonly_fields = ["created_at", "updated_at"]
