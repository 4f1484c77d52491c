"""Pages of the reviews app: parse the form, call one service, redirect or render. No JavaScript."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from aisquare_plugins.exceptions import NotFound, ServiceError
from marketplace import api as marketplace_api
from reviews import selectors, services
from reviews.api import plugin_reviews_context
from reviews.forms import FlagForm, ReplyForm, ReviewForm


def _plugin_or_404(plugin_id: str):
    try:
        return marketplace_api.plugin_get_reviewable(plugin_id=plugin_id)
    except NotFound:
        raise Http404("There is no such plugin.")


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


def _apply_service_errors(form, error: ServiceError) -> None:
    if error.fields:
        for field, problems in error.fields.items():
            form.add_error(field if field in form.fields else None, problems)
    else:
        form.add_error(None, error.message)


def plugin_reviews_page(request, plugin_id: str):
    """All reviews of a plugin, with sorting, filters and paging (the plugin page shows the same block)."""
    plugin = _plugin_or_404(plugin_id)
    context = plugin_reviews_context(plugin=plugin, user=request.user, request=request)
    return render(request, "reviews/plugin_reviews.html", {"plugin": plugin, **context})


@login_required
@require_http_methods(["GET", "POST"])
def review_write_page(request, plugin_id: str):
    plugin = _plugin_or_404(plugin_id)
    default_next = f"/plugins/{plugin.pk}/reviews/"
    own_review = selectors.user_review_for_plugin(user=request.user, plugin_id=plugin.pk)
    refusal = selectors.review_refusal(plugin=plugin, user=request.user)
    if request.method == "POST":
        form = ReviewForm(request.POST, auto_id="id_review_%s")
        if form.is_valid() and refusal is None:
            try:
                _, created = services.review_submit(
                    plugin_id=plugin.pk,
                    user=request.user,
                    rating=form.cleaned_data["rating"],
                    title=form.cleaned_data["title"],
                    body=form.cleaned_data["review"],
                )
            except ServiceError as error:
                _apply_service_errors(form, error)
            else:
                done = "Thank you: your review is published." if created else "Your review is updated."
                messages.success(request, done)
                return redirect(_next_url(request, default_next))
    else:
        initial = (
            {"rating": own_review.rating, "title": own_review.title, "review": own_review.review} if own_review else {}
        )
        form = ReviewForm(initial=initial, auto_id="id_review_%s")
    status = 403 if refusal is not None else (400 if request.method == "POST" else 200)
    return render(
        request,
        "reviews/review_form.html",
        {
            "plugin": plugin,
            "form": form,
            "own_review": own_review,
            "refusal": refusal[1] if refusal else "",
            "next": _next_url(request, default_next),
        },
        status=status,
    )


@login_required
@require_POST
def review_helpful_post(request, review_id: str):
    try:
        if request.POST.get("action") == "remove":
            review = services.review_helpful_unvote(review_id=review_id, user=request.user)
        else:
            review = services.review_helpful_vote(review_id=review_id, user=request.user)
    except NotFound:
        raise Http404("There is no such review.")
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(_next_url(request, "/plugins/"))
    return redirect(_next_url(request, f"/plugins/{review.plugin_id}/reviews/") + f"#review-{review.pk}")


@login_required
@require_http_methods(["GET", "POST"])
def review_flag_page(request, review_id: str):
    try:
        review = selectors.access_review_by_id(user=request.user, review_id=review_id)
    except NotFound:
        raise Http404("There is no such review.")
    default_next = f"/plugins/{review.plugin_id}/reviews/"
    form = FlagForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.review_flag(review_id=review.pk, user=request.user, **form.cleaned_data)
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Thank you: a moderator will look at this review.")
        return redirect(_next_url(request, default_next))
    return render(
        request,
        "reviews/flag_form.html",
        {"review": review, "form": form, "next": _next_url(request, default_next)},
        status=400 if request.method == "POST" else 200,
    )


@login_required
def developer_reviews_page(request):
    """The developer portal's reviews: every visible review of the developer's plugins, with a reply form each."""
    developer = selectors.developer_for_user(user=request.user)
    if developer is None:
        raise Http404("You have no developer account.")
    plugin_id = request.GET.get("plugin") or None
    unanswered = request.GET.get("unanswered") == "1"
    reviews = selectors.developer_reviews(developer=developer, plugin_id=plugin_id, unanswered=unanswered)
    page = Paginator(reviews, 20).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reviews/developer_reviews.html",
        {
            "developer": developer,
            "page": page,
            "reviews": page.object_list,
            "plugins": developer.plugins.order_by("name").values("id", "name"),
            "plugin_id": plugin_id or "",
            "unanswered": unanswered,
            "page_query": query.urlencode(),
            "reply_form": ReplyForm(),
        },
    )


@login_required
@require_POST
def developer_reply_post(request, review_id: str):
    back = _next_url(request, "/developer/reviews/")
    try:
        if request.POST.get("action") == "delete":
            services.review_reply_delete(review_id=review_id, user=request.user)
            messages.success(request, "Your reply is deleted.")
            return redirect(back)
        form = ReplyForm(request.POST)
        if not form.is_valid():
            messages.error(request, "The reply " + "; ".join(e for errs in form.errors.values() for e in errs))
            return redirect(back)
        _, created = services.review_reply_set(review_id=review_id, user=request.user, body=form.cleaned_data["body"])
    except NotFound:
        raise Http404("There is no such review.")
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect(back)
    messages.success(request, "Your reply is published." if created else "Your reply is updated.")
    return redirect(back + f"#review-{review_id}")
