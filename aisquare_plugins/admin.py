"""What the apps' admin classes share."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the admin shows and nobody edits there (ledgers, audit trails, daily figures): they are written by the
    services alone, and only through them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
