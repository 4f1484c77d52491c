"""Staff views of the money: the ledger with platform totals, payouts (retry, reverse), prices, fee overrides."""

from django.contrib import admin, messages

from aisquare_plugins.admin import ReadOnlyAdmin
from aisquare_plugins.exceptions import ServiceError
from revenue import selectors, services
from revenue.models import (
    FeeOverride,
    Payout,
    PayoutAccount,
    PayoutAttempt,
    PriceRecord,
    Purchase,
    RevenueEntry,
    Subscription,
    UsageInvoice,
)


@admin.register(RevenueEntry)
class RevenueEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at", "plugin", "developer", "transaction_type", "amount", "currency", "platform_fee",
        "developer_share", "payment_status", "payout",
    ]
    list_filter = ["transaction_type", "payment_status", "currency"]
    search_fields = ["plugin__id", "developer__company_name", "external_id"]
    date_hierarchy = "created_at"
    list_select_related = ["plugin", "developer", "payout"]
    readonly_fields = [f.name for f in RevenueEntry._meta.fields]
    change_list_template = "admin/revenue/revenueentry/change_list.html"
    actions = ["refund_in_full"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "platform_totals": selectors.platform_totals()}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Refund the selected payments in full (through the gateway)")
    def refund_in_full(self, request, queryset):
        done = 0
        for entry in queryset:
            try:
                services.refund_create(entry=entry, actor=request.user)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{entry.external_id}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} payment(s) refunded.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        # The change list must allow actions; rows stay read-only (every field is in readonly_fields).
        return request.user.is_superuser or request.user.has_perm("revenue.change_revenueentry")


class PayoutAttemptInline(admin.TabularInline):
    model = PayoutAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "outcome", "transfer_id", "error", "created_at"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payout)
class PayoutAdmin(admin.ModelAdmin):
    list_display = ["period_start", "developer", "amount", "currency", "status", "attempts", "transfer_id",
                    "paid_at"]
    list_filter = ["status", "currency", "period_start"]
    search_fields = ["developer__company_name", "transfer_id", "id"]
    list_select_related = ["developer"]
    readonly_fields = [f.name for f in Payout._meta.fields]
    inlines = [PayoutAttemptInline]
    actions = ["send_now", "reverse"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Send (or retry) the selected payouts now")
    def send_now(self, request, queryset):
        for payout in queryset:
            try:
                result = services.payout_send(payout_id=payout.pk)
                self.message_user(request, f"{payout}: {result.get_status_display()}")
            except ServiceError as exc:
                self.message_user(request, f"{payout}: {exc.message}", messages.ERROR)

    @admin.action(description="Reverse the selected payouts (their shares carry over)")
    def reverse(self, request, queryset):
        for payout in queryset:
            try:
                services.payout_reverse(payout=payout, reason=f"Reversed by {request.user}")
            except ServiceError as exc:
                self.message_user(request, f"{payout}: {exc.message}", messages.ERROR)


@admin.register(FeeOverride)
class FeeOverrideAdmin(admin.ModelAdmin):
    list_display = ["developer", "rate", "reason", "updated_at"]
    search_fields = ["developer__company_name"]
    autocomplete_fields = []
    raw_id_fields = ["developer"]

    def save_model(self, request, obj, form, change):
        services.fee_override_set(developer=obj.developer, rate=obj.rate, reason=obj.reason)


@admin.register(PriceRecord)
class PriceRecordAdmin(ReadOnlyAdmin):
    list_display = ["plugin", "model", "amount", "currency", "interval", "gateway", "price_ref", "current"]
    list_filter = ["model", "current", "gateway"]


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "plugin", "user", "org", "amount", "currency", "status", "external_id"]
    list_filter = ["status", "currency"]
    search_fields = ["plugin__id", "user__username", "external_id"]


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "plugin", "user", "org", "status", "metered", "current_period_end",
                    "cancel_at_period_end"]
    list_filter = ["status", "metered"]


@admin.register(UsageInvoice)
class UsageInvoiceAdmin(ReadOnlyAdmin):
    list_display = ["period_start", "subscription", "quantity", "amount", "currency", "status"]
    list_filter = ["status"]


@admin.register(PayoutAccount)
class PayoutAccountAdmin(ReadOnlyAdmin):
    list_display = ["developer", "gateway", "account_id", "payouts_enabled"]
