"""The review console (Django admin): the queue of submissions awaiting review, each version's scan findings,
quality, manifest, scopes (new ones marked), file tree and diff, and the decisions — approve, reject, request
changes, claim, re-scan, yank, feature, blocklist — each made through a service and audited."""

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone

from aisquare_plugins.admin import ReadOnlyAdmin
from aisquare_plugins.exceptions import ServiceError
from developers import selectors, services
from developers.models import BlockedHash, Developer, DeveloperNotice, DeveloperToken, ReviewAudit, Submission

admin.site.index_template = "developers/admin/index.html"


def _run(request, what: str, call) -> bool:
    try:
        call()
    except (ServiceError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else "; ".join(exc.messages)
        messages.error(request, f"{what}: {message}")
        return False
    return True


@admin.register(Developer)
class DeveloperAdmin(admin.ModelAdmin):
    list_display = ["company_name", "user", "support_email", "verified", "payment_account_id", "created_at"]
    list_filter = ["verified"]
    search_fields = ["company_name", "user__username", "user__email", "support_email", "website"]
    autocomplete_fields = ["user"]
    readonly_fields = ["verified", "created_at", "updated_at"]
    actions = ["verify", "unverify"]

    @admin.action(description="Verify the selected developers")
    def verify(self, request, queryset):
        done = sum(_run(request, str(d), lambda d=d: services.developer_verified_set(
            developer=d, actor=request.user, verified=True)) for d in queryset)
        self.message_user(request, f"{done} developer(s) verified.")

    @admin.action(description="Remove the verified badge")
    def unverify(self, request, queryset):
        done = sum(_run(request, str(d), lambda d=d: services.developer_verified_set(
            developer=d, actor=request.user, verified=False)) for d in queryset)
        self.message_user(request, f"{done} developer(s) un-verified.")


class QueueFilter(admin.SimpleListFilter):
    """The console opens on the queue: versions that passed their scan and wait for a reviewer."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("all", "All submissions"), ("quarantined", "Quarantined"), ("errored", "Scan errored"),
                ("rejected", "Rejected"), ("approved", "Published"), ("mine", "Claimed by me")]

    def choices(self, changelist):
        yield {"selected": self.value() is None,
               "query_string": changelist.get_query_string(remove=[self.parameter_name]),
               "display": "Awaiting review"}
        for lookup, title in self.lookup_choices:
            yield {"selected": self.value() == lookup,
                   "query_string": changelist.get_query_string({self.parameter_name: lookup}), "display": title}

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset.filter(version__status="passed")
        if value == "all":
            return queryset
        if value == "mine":
            return queryset.filter(claimed_by=request.user)
        return queryset.filter(version__status=value)


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["plugin", "version_number", "status", "developer", "age", "verdict", "quality_score",
                    "blocking_findings", "claimed_by"]
    list_filter = [QueueFilter, "verdict"]
    search_fields = ["version__plugin__id", "version__plugin__name", "developer__company_name", "version__sha256"]
    ordering = ["created_at"]
    list_select_related = ["version__plugin", "developer", "claimed_by"]
    change_form_template = "developers/admin/submission_change_form.html"
    readonly_fields = ["version", "developer", "verdict", "scan_error", "scanned_at", "scan_count", "claimed_by",
                       "claimed_at", "reviewer_note", "decided_at", "created_at"]
    fields = readonly_fields

    actions = ["rescan_selected"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-scan the selected versions (after a rule or blocklist change)")
    def rescan_selected(self, request, queryset):
        done = sum(_run(request, str(s), lambda s=s: services.submission_rescan(submission=s, actor=request.user))
                   for s in queryset.select_related("version"))
        self.message_user(request, f"{done} version(s) queued for a new scan.")

    @admin.display(description="plugin", ordering="version__plugin__id")
    def plugin(self, obj):
        return obj.version.plugin_id

    @admin.display(description="version")
    def version_number(self, obj):
        return obj.version.version

    @admin.display(description="status", ordering="version__status")
    def status(self, obj):
        return obj.version.get_status_display()

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        delta = timezone.now() - obj.created_at
        hours = int(delta.total_seconds() // 3600)
        minutes = int(delta.total_seconds() // 60) % 60
        return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h {minutes} min"

    @admin.display(description="quality", ordering="version__quality_score")
    def quality_score(self, obj):
        return obj.version.quality_score

    @admin.display(description="blocking findings")
    def blocking_findings(self, obj):
        return sum(1 for f in obj.findings if f.get("enforced") and f.get("action") != "warn")

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Review queue"}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        submission = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if submission is not None:
            extra["review"] = selectors.version_review_context(submission=submission)
            extra["submission"] = submission
            extra["audit"] = submission.audit.select_related("actor")[:50]
            extra["blocking"] = [f for f in submission.findings if f.get("enforced") and f.get("action") != "warn"]
            extra["advisories"] = [f for f in submission.findings
                                   if not (f.get("enforced") and f.get("action") != "warn")]
            extra["can_review"] = request.user.is_superuser or request.user.has_perm("developers.review_submission")
            extra["decide_url"] = reverse("admin:developers_submission_decide", args=[submission.pk])
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        return [
            path("<uuid:submission_id>/decide/", self.admin_site.admin_view(self.decide_view),
                 name="developers_submission_decide"),
            *super().get_urls(),
        ]

    def decide_view(self, request, submission_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        submission = get_object_or_404(Submission.objects.select_related("version"), pk=submission_id)
        if not self.has_view_permission(request, submission):
            return HttpResponseRedirect(reverse("admin:index"))
        action = request.POST.get("action", "")
        reason = request.POST.get("reason", "")
        user = request.user
        calls = {
            "claim": lambda: services.submission_claim(submission=submission, reviewer=user),
            "release": lambda: services.submission_release(submission=submission, reviewer=user),
            "approve": lambda: services.submission_decide(submission=submission, reviewer=user, decision="approve",
                                                          reason=reason),
            "reject": lambda: services.submission_decide(submission=submission, reviewer=user, decision="reject",
                                                         reason=reason),
            "request_changes": lambda: services.submission_decide(
                submission=submission, reviewer=user, decision="request_changes", reason=reason),
            "rescan": lambda: services.submission_rescan(submission=submission, actor=user),
            "yank": lambda: services.version_yank(submission=submission, actor=user, reason=reason),
            "blocklist": lambda: services.blocklist_add(sha256=submission.version.sha256, reason=reason, actor=user),
            "feature": lambda: services.plugin_featured_set(plugin_id=submission.version.plugin_id, actor=user,
                                                            featured=True, reason=reason),
            "unfeature": lambda: services.plugin_featured_set(plugin_id=submission.version.plugin_id, actor=user,
                                                              featured=False, reason=reason),
        }
        if action not in calls:
            messages.error(request, "Unknown action.")
        elif _run(request, action.replace("_", " ").capitalize(), calls[action]):
            messages.success(request, f"{action.replace('_', ' ').capitalize()}: done.")
        return HttpResponseRedirect(reverse("admin:developers_submission_change", args=[submission.pk]))


@admin.register(ReviewAudit)
class ReviewAuditAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "action", "plugin_id", "version", "reason"]
    list_filter = ["action"]
    search_fields = ["plugin_id", "reason", "actor__username"]
    date_hierarchy = "created_at"


class BlockedHashForm(forms.ModelForm):
    class Meta:
        model = BlockedHash
        fields = ["sha256", "reason"]

    def clean_sha256(self):
        value = self.cleaned_data["sha256"].strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValidationError("A SHA-256 is 64 hexadecimal characters.")
        return value


@admin.register(BlockedHash)
class BlockedHashAdmin(admin.ModelAdmin):
    """Reviewers add known-bad hashes here (or from a submission's page); later scans quarantine them."""

    form = BlockedHashForm
    list_display = ["sha256", "reason", "added_by", "created_at"]
    search_fields = ["sha256", "reason"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        services.blocklist_add(sha256=obj.sha256, reason=obj.reason, actor=request.user)


@admin.register(DeveloperToken)
class DeveloperTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "developer", "last_four", "scopes", "expires_at", "revoked_at", "last_used_at"]
    search_fields = ["name", "developer__company_name"]
    readonly_fields = ["developer", "name", "last_four", "scopes", "expires_at", "revoked_at", "last_used_at",
                       "created_at"]
    exclude = ["token_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.developer_token_revoke(developer=token.developer, token_id=token.pk)
        self.message_user(request, "Tokens revoked.")


@admin.register(DeveloperNotice)
class DeveloperNoticeAdmin(admin.ModelAdmin):
    list_display = ["created_at", "developer", "subject", "emailed_at", "read_at"]
    search_fields = ["subject", "developer__company_name"]
    readonly_fields = ["developer", "subject", "body", "link", "emailed_at", "read_at", "created_at"]

    def has_add_permission(self, request):
        return False

