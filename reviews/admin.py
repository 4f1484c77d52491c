"""Review moderation in the admin: the queue of flagged reviews, hide and restore with a reason, all audited.

Review text is never editable here (staff moderate, they do not rewrite users' words), and `is_hidden` changes only
through the hide/restore actions, which call the services that write the audit row and move the aggregate.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import Count, Q

from aisquare_plugins.admin import ReadOnlyAdmin
from aisquare_plugins.exceptions import ServiceError
from reviews import services
from reviews.models import DeveloperReply, Flag, FlaggedReview, ModerationAction, Review


class ModerationActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=services.MODERATION_REASON_MAX,
        label="Reason (required, kept in the audit)",
        widget=forms.TextInput(attrs={"size": 60}),
    )


class FlagInline(admin.TabularInline):
    model = Flag
    extra = 0
    can_delete = False
    fields = ["created_at", "user", "reason", "note", "status", "resolved_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ModerationActionInline(admin.TabularInline):
    model = ModerationAction
    extra = 0
    can_delete = False
    fields = ["created_at", "moderator", "action", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class DeveloperReplyInline(admin.StackedInline):
    model = DeveloperReply
    extra = 0
    can_delete = False
    fields = ["developer", "body", "created_at", "edited_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ModerationActionsMixin:
    action_form = ModerationActionForm
    actions = ["hide_reviews", "restore_reviews"]

    def _moderate(self, request, queryset, service, done: str):
        reason = (request.POST.get("reason") or "").strip()
        if not reason:
            self.message_user(request, "Write a reason: every hide and restore is audited.", messages.ERROR)
            return
        count = 0
        for review_id in queryset.values_list("pk", flat=True):
            try:
                service(review_id=review_id, moderator=request.user, reason=reason)
            except ServiceError as error:
                self.message_user(request, f"{review_id}: {error.message}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, f"{count} review(s) {done}.", messages.SUCCESS)

    @admin.action(description="Hide selected reviews (uphold flags)", permissions=["change"])
    def hide_reviews(self, request, queryset):
        self._moderate(request, queryset, services.review_hide, "hidden")

    @admin.action(description="Restore / keep selected reviews visible (dismiss flags)", permissions=["change"])
    def restore_reviews(self, request, queryset):
        self._moderate(request, queryset, services.review_restore, "visible")


REVIEW_READONLY = [
    "id", "plugin", "user", "rating", "title", "review", "version", "verified_purchase", "helpful_count",
    "is_hidden", "edited_at", "developer_notified_at", "created_at", "updated_at",
]


@admin.register(Review)
class ReviewAdmin(ModerationActionsMixin, admin.ModelAdmin):
    list_display = [
        "title", "plugin", "user", "rating", "verified_purchase", "helpful_count", "is_hidden", "created_at",
    ]
    list_filter = ["is_hidden", "rating", "verified_purchase"]
    search_fields = ["plugin__id", "plugin__name", "user__username", "title", "review"]
    date_hierarchy = "created_at"
    list_select_related = ["plugin", "user"]
    readonly_fields = REVIEW_READONLY
    fields = REVIEW_READONLY
    inlines = [FlagInline, ModerationActionInline, DeveloperReplyInline]

    def has_add_permission(self, request):
        return False  # reviews are written by users who used the plugin, never by staff here


@admin.register(FlaggedReview)
class FlaggedReviewAdmin(ReviewAdmin):
    """The moderation queue: reviews with open flags, most reported first."""

    list_display = ["title", "plugin", "user", "rating", "open_flags", "flag_reasons", "is_hidden", "created_at"]
    list_filter = ["is_hidden", "rating"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(open_flags=Count("flags", filter=Q(flags__status=Flag.Status.OPEN)))
            .filter(open_flags__gt=0)
            .order_by("-open_flags", "created_at")
        )

    @admin.display(description="open flags", ordering="open_flags")
    def open_flags(self, review):
        return review.open_flags

    @admin.display(description="reasons")
    def flag_reasons(self, review):
        reasons = review.flags.filter(status=Flag.Status.OPEN).values_list("reason", flat=True)
        labels = dict(Flag.Reason.choices)
        return ", ".join(sorted({labels.get(reason, reason) for reason in reasons}))


@admin.register(ModerationAction)
class ModerationActionAdmin(ReadOnlyAdmin):
    """The audit of moderation: read-only."""

    list_display = ["created_at", "action", "review", "moderator", "reason"]
    list_filter = ["action"]
    search_fields = ["review__title", "moderator__username", "reason"]
    list_select_related = ["review", "moderator"]
