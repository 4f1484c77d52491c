"""The developer portal's pages under /developer/: register, plugins and versions, upload, scan report, listing
edits, API tokens and notices. Each view parses the form, calls one service or selector and renders."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from aisquare_plugins.exceptions import NotFound, ServiceError
from developers import selectors, services


class RegisterForm(forms.Form):
    company_name = forms.CharField(max_length=255, label="Company or your name")
    website = forms.URLField(required=False, max_length=255, assume_scheme="https")
    support_email = forms.EmailField(required=False, max_length=255, label="Support e-mail")


class ProfileForm(RegisterForm):
    payment_account_id = forms.CharField(required=False, max_length=255, label="Payout account id",
                                         help_text="Your Stripe Connect account (acct_…), needed for paid plugins.")


class UploadForm(forms.Form):
    plugin_package = forms.FileField(label="Plugin package (.zip)")
    changelog = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=20000,
                                label="What changed in this version")


class ListingForm(forms.Form):
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=5000, required=False)
    tags = forms.CharField(required=False, help_text="Comma-separated.")
    documentation_url = forms.URLField(required=False, max_length=500, assume_scheme="https")
    support_url = forms.URLField(required=False, max_length=500, assume_scheme="https")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(choices=[("publish", "Publish"), ("read", "Read")],
                                       widget=forms.CheckboxSelectMultiple, initial=["read"])
    expires_in_days = forms.IntegerField(min_value=1, max_value=366, initial=90, label="Expires in (days)")


def _developer_or_redirect(request):
    developer = selectors.developer_for_user(user=request.user)
    return developer


def _error(form, exc):
    if isinstance(exc, ServiceError):
        for field, problems in (exc.fields or {}).items():
            for problem in problems if isinstance(problems, list) else [problems]:
                if field in form.fields:
                    form.add_error(field, str(problem))
        form.add_error(None, exc.message)
    else:
        for field, problems in exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
            for problem in problems:
                form.add_error(field if field in form.fields else None, problem)


@login_required
def dashboard(request):
    developer = _developer_or_redirect(request)
    if developer is None:
        return redirect("developers:register")
    return render(request, "developers/dashboard.html", {
        "developer": developer,
        "plugins": selectors.developer_plugins_overview(developer=developer),
        "notices": selectors.developer_notices(developer=developer)[:10],
    })


@login_required
@require_http_methods(["GET", "POST"])
def register(request):
    if selectors.developer_for_user(user=request.user) is not None:
        return redirect("developers:dashboard")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.developer_register(user=request.user, **form.cleaned_data)
        except (ServiceError, ValidationError) as exc:
            _error(form, exc)
        else:
            messages.success(request, "Your developer account is ready.")
            return redirect("developers:dashboard")
    return render(request, "developers/register.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    developer = _developer_or_redirect(request)
    if developer is None:
        return redirect("developers:register")
    form = ProfileForm(request.POST or None, initial={
        "company_name": developer.company_name, "website": developer.website,
        "support_email": developer.support_email, "payment_account_id": developer.payment_account_id})
    if request.method == "POST" and form.is_valid():
        try:
            services.developer_profile_update(developer=developer, **form.cleaned_data)
        except (ServiceError, ValidationError) as exc:
            _error(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("developers:dashboard")
    return render(request, "developers/profile.html", {"form": form, "developer": developer},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def upload(request):
    developer = _developer_or_redirect(request)
    if developer is None:
        return redirect("developers:register")
    form = UploadForm(request.POST or None, request.FILES or None)
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    if request.method == "POST" and form.is_valid():
        try:
            package = form.cleaned_data["plugin_package"]
            from django.conf import settings

            if package.size > settings.PACKAGE_MAX_BYTES:
                raise ServiceError(f"The package is {package.size} bytes; the limit is "
                                   f"{settings.PACKAGE_MAX_BYTES} bytes.", code="too_large",
                                   fields={"plugin_package": ["too large"]})
            version = services.submission_upload(
                developer=developer, user=request.user, data=package.read(),
                metadata={"changelog": form.cleaned_data["changelog"]} if form.cleaned_data["changelog"] else None)
        except (ServiceError, ValidationError) as exc:
            _error(form, exc)
        else:
            url = f"/developer/versions/{version.pk}/"
            if wants_json:
                return JsonResponse({"redirect": url}, status=201)
            messages.success(request, f"{version.plugin_id} {version.version} uploaded; the scan has started.")
            return redirect(url)
    if wants_json and request.method == "POST":
        return JsonResponse({"errors": [str(e) for errors in form.errors.values() for e in errors]}, status=400)
    return render(request, "developers/upload.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def version_detail(request, version_id):
    developer = _developer_or_redirect(request)
    try:
        submission = selectors.access_submission_by_version_id(developer=developer, version_id=version_id)
    except NotFound:
        raise Http404("No such version.") from None
    summary = selectors.version_summary(submission.version, submission)
    return render(request, "developers/version.html", {
        "submission": submission, "version": submission.version, "summary": summary,
        "blocking": [f for f in summary["findings"] if f.get("enforced") and f.get("action") != "warn"],
        "advisories": [f for f in summary["findings"] if not (f.get("enforced") and f.get("action") != "warn")],
    })


@login_required
@require_http_methods(["GET", "POST"])
def listing_edit(request, plugin_id):
    developer = _developer_or_redirect(request)
    try:
        plugin = selectors.access_plugin_by_id(developer=developer, plugin_id=plugin_id)
    except NotFound:
        raise Http404("No such plugin.") from None
    form = ListingForm(request.POST or None, initial={
        "description": plugin.description, "tags": ", ".join(plugin.tags or []),
        "documentation_url": plugin.documentation_url, "support_url": plugin.support_url})
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        changes["tags"] = [t.strip().lower() for t in changes["tags"].split(",") if t.strip()]
        try:
            services.listing_update(developer=developer, plugin_id=plugin_id, changes=changes)
        except (ServiceError, ValidationError) as exc:
            _error(form, exc)
        else:
            messages.success(request, "Listing saved.")
            return redirect("developers:dashboard")
    return render(request, "developers/listing.html", {"form": form, "plugin": plugin},
                  status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    developer = _developer_or_redirect(request)
    if developer is None:
        return redirect("developers:register")
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = services.developer_token_create(developer=developer, **form.cleaned_data)
        except ServiceError as exc:
            _error(form, exc)
        else:
            created = {"token": token, "raw": raw}
            form = TokenForm()
    response = render(request, "developers/tokens.html", {
        "form": form, "created": created, "tokens": selectors.developer_tokens(developer=developer)},
        status=400 if form.errors else 200)
    if created:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["POST"])
def token_revoke(request, token_id):
    developer = _developer_or_redirect(request)
    try:
        services.developer_token_revoke(developer=developer, token_id=token_id)
    except NotFound:
        raise Http404("No such token.") from None
    messages.success(request, "Token revoked.")
    return redirect("developers:tokens")
