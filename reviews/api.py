"""The reviews app's public surface: the only module of it that other apps may import.

The marketplace's plugin page shows reviews with::

    context.update(reviews.api.plugin_reviews_context(plugin=plugin, user=request.user, request=request))
    {% include "reviews/_plugin_reviews.html" %}
"""

from django.core.paginator import Paginator
from django.middleware.csrf import get_token

from reviews import selectors
from reviews.forms import ReviewForm
from reviews.models import Flag

PAGE_SIZE = 10


def _choice(value, allowed, default):
    return value if value in allowed else default


def _int_param(value, low: int, high: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def plugin_reviews_context(*, plugin, user, request, page_size: int = PAGE_SIZE) -> dict:
    """Everything `reviews/_plugin_reviews.html` shows, under the one key `plugin_reviews`.

    Query parameters (prefixed so they never clash with the host page's): reviews_sort, reviews_rating,
    reviews_version, reviews_page. Unknown values fall back to defaults: a page never fails on a bad link.
    """
    params = request.GET
    sort = _choice(params.get("reviews_sort"), selectors.SORTS, "helpful")
    rating = _int_param(params.get("reviews_rating"), 1, 5)
    versions = selectors.plugin_review_versions(plugin_id=plugin.pk)
    version = _choice(params.get("reviews_version"), versions, "")
    figures = plugin.ratings if plugin.ratings.get("distribution") else None
    if figures is None:
        figures = selectors.plugin_ratings_compute(plugin_id=plugin.pk)["ratings"]
    count = figures.get("count", 0)
    bars = [
        {
            "stars": stars,
            "count": figures["distribution"].get(str(stars), 0),
            "percent": round(100 * figures["distribution"].get(str(stars), 0) / count) if count else 0,
        }
        for stars in range(5, 0, -1)
    ]
    queryset = selectors.plugin_reviews_list(plugin_id=plugin.pk, sort=sort, rating=rating, version=version or None)
    page = Paginator(queryset, page_size).get_page(params.get("reviews_page"))
    review_ids = [review.pk for review in page.object_list]
    own_review = selectors.user_review_for_plugin(user=user, plugin_id=plugin.pk)
    refusal = selectors.review_refusal(plugin=plugin, user=user)
    form = None
    if refusal is None:
        initial = (
            {"rating": own_review.rating, "title": own_review.title, "review": own_review.review} if own_review else {}
        )
        form = ReviewForm(initial=initial, auto_id="id_review_%s")
    query = params.copy()
    query.pop("reviews_page", None)
    get_token(request)  # the forms post with a CSRF token even when the host page is cached
    return {
        "plugin_reviews": {
            "plugin": plugin,
            "average": figures.get("average", 0),
            "count": count,
            "bars": bars,
            "by_version": figures.get("by_version", {}),
            "page": page,
            "reviews": page.object_list,
            "page_query": query.urlencode(),
            "sort": sort,
            "sorts": [
                ("helpful", "Most helpful"), ("newest", "Newest"),
                ("rating_high", "Highest rating"), ("rating_low", "Lowest rating"),
            ],
            "rating": rating,
            "version": version,
            "versions": versions,
            "own_review": own_review,
            "can_review": refusal is None,
            "refusal_code": refusal[0] if refusal else "",
            "refusal": refusal[1] if refusal else "",
            "form": form,
            "voted": selectors.reviews_voted_helpful(user=user, review_ids=review_ids),
            "flagged": selectors.reviews_flagged_by(user=user, review_ids=review_ids),
            "flag_reasons": Flag.Reason.choices,
            "next": request.get_full_path(),
            "user_id": user.pk if user is not None and user.is_authenticated else None,
        }
    }


def plugin_ratings_rebuild(*, plugin_id: str) -> dict:
    """Recompute a plugin's ratings aggregate from its reviews, under the plugin's row lock. Returns the ratings."""
    from reviews.services import plugin_ratings_rebuild as rebuild

    return rebuild(plugin_id=plugin_id)


def plugin_rating_days(*, plugin_id: str, start, end) -> dict:
    """Ratings of visible reviews for the analytics' trend (monitoring, issue 10): `before` = (count, sum) of the
    ratings written before `start`, `days` = [(date, count, sum)] for each UTC day in [start, end] with new ones."""
    import datetime as dt

    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    from reviews.models import Review

    visible = Review.objects.filter(plugin_id=plugin_id, is_hidden=False)
    low = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    high = dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC) + dt.timedelta(days=1)
    before = visible.filter(created_at__lt=low).aggregate(count=Count("id"), total=Sum("rating"))
    days = (
        visible.filter(created_at__gte=low, created_at__lt=high)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC)).values("day")
        .annotate(count=Count("id"), total=Sum("rating")).order_by("day")
    )
    return {"before": (before["count"], before["total"] or 0),
            "days": [(row["day"], row["count"], row["total"]) for row in days]}


__all__ = ["plugin_rating_days", "plugin_ratings_rebuild", "plugin_reviews_context"]
