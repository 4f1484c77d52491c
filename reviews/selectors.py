"""Reads of the reviews app: the one gate per review, eligibility, listings and the aggregate."""

import uuid
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet

from aisquare_plugins.exceptions import NotFound
from developers import api as developers_api
from reviews.models import Flag, HelpfulVote, Review
from runtime import api as runtime_api

SORTS = {
    "newest": ("-created_at",),
    "helpful": ("-helpful_count", "-created_at"),
    "rating_high": ("-rating", "-created_at"),
    "rating_low": ("rating", "-created_at"),
}
# "rating" alone reads as "best first", as on the stores users know.
SORT_ALIASES = {"rating": "rating_high", "most_helpful": "helpful", "recent": "newest"}


def _parse_uuid(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def developer_for_user(*, user):
    """The developer account of a user, or None."""
    if user is None or not user.is_authenticated:
        return None
    return developers_api.developer_for_user(user=user)


def is_plugin_developer(*, plugin, user) -> bool:
    return user is not None and user.is_authenticated and plugin.developer.user_id == user.pk


def user_has_used_plugin(*, user, plugin_id: str) -> bool:
    """Spec §3 `_can_review`: at least one successful recorded call of the plugin on the user's behalf."""
    return runtime_api.user_has_used_plugin(user=user, plugin_id=plugin_id)


def review_refusal(*, plugin, user) -> tuple[str, str] | None:
    """Why `user` may not review `plugin` as (code, message), or None when they may.

    Staff get no exemption: a moderator who never used a plugin has no experience of it to share.
    """
    if user is None or not user.is_authenticated:
        return "not_authenticated", "Sign in to review plugins."
    if is_plugin_developer(plugin=plugin, user=user):
        return "own_plugin", "Developers cannot review their own plugins."
    if not user_has_used_plugin(user=user, plugin_id=plugin.pk):
        return (
            "not_used",
            "You can review a plugin only after installing it and using it at least once.",
        )
    return None


def access_review_by_id(*, user, review_id) -> Review:
    """The one gate to a single review: visible reviews of listed plugins for everyone, hidden ones only for their
    author and staff. Missing and forbidden both answer NotFound."""
    pk = _parse_uuid(review_id)
    review = (
        Review.objects.select_related("plugin", "plugin__developer", "user").filter(pk=pk).first() if pk else None
    )
    if review is None or review.plugin.published_at is None:
        raise NotFound("There is no such review.")
    if review.is_hidden:
        is_author = user is not None and user.is_authenticated and review.user_id == user.pk
        if not (is_author or (user is not None and user.is_staff)):
            raise NotFound("There is no such review.")
    return review


def access_review_for_developer(*, developer, review_id) -> Review:
    """A visible review of one of `developer`'s plugins; NotFound for any other review or no developer."""
    pk = _parse_uuid(review_id)
    if developer is None or pk is None:
        raise NotFound("There is no such review.")
    review = (
        Review.objects.select_related("plugin", "user")
        .filter(pk=pk, plugin__developer=developer, is_hidden=False)
        .first()
    )
    if review is None:
        raise NotFound("There is no such review.")
    return review


def plugin_reviews_list(
    *, plugin_id: str, sort: str = "newest", rating: int | None = None, version: str | None = None
) -> QuerySet[Review]:
    sort = SORT_ALIASES.get(sort, sort)
    queryset = (
        Review.objects.filter(plugin_id=plugin_id, is_hidden=False)
        .select_related("user", "developer_reply", "developer_reply__developer")
        .order_by(*SORTS[sort], "id")
    )
    if rating is not None:
        queryset = queryset.filter(rating=rating)
    if version:
        queryset = queryset.filter(version=version)
    return queryset


def plugin_review_versions(*, plugin_id: str) -> list[str]:
    return list(
        Review.objects.filter(plugin_id=plugin_id, is_hidden=False)
        .exclude(version="")
        .order_by("version")
        .values_list("version", flat=True)
        .distinct()
    )


def user_review_for_plugin(*, user, plugin_id: str) -> Review | None:
    if user is None or not user.is_authenticated:
        return None
    return Review.objects.filter(plugin_id=plugin_id, user=user).select_related("developer_reply").first()


def reviews_voted_helpful(*, user, review_ids) -> set:
    if user is None or not user.is_authenticated:
        return set()
    return set(
        HelpfulVote.objects.filter(user=user, review_id__in=list(review_ids)).values_list("review_id", flat=True)
    )


def reviews_flagged_by(*, user, review_ids) -> set:
    if user is None or not user.is_authenticated:
        return set()
    return set(Flag.objects.filter(user=user, review_id__in=list(review_ids)).values_list("review_id", flat=True))


def developer_reviews(*, developer, plugin_id: str | None = None, unanswered: bool = False) -> QuerySet[Review]:
    queryset = (
        Review.objects.filter(plugin__developer=developer, is_hidden=False)
        .select_related("plugin", "user", "developer_reply", "developer_reply__developer")
        .order_by("-created_at", "id")
    )
    if plugin_id:
        queryset = queryset.filter(plugin_id=plugin_id)
    if unanswered:
        queryset = queryset.filter(developer_reply__isnull=True)
    return queryset


def moderation_queue() -> QuerySet[Review]:
    """Reviews with open flags, most reported first."""
    return (
        Review.objects.annotate(open_flags=Count("flags", filter=Q(flags__status=Flag.Status.OPEN)))
        .filter(open_flags__gt=0)
        .select_related("plugin", "user")
        .order_by("-open_flags", "created_at")
    )


def _average(total: int, count: int) -> Decimal:
    if not count:
        return Decimal("0.00")
    return (Decimal(total) / Decimal(count)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def plugin_ratings_compute(*, plugin_id: str) -> dict:
    """The aggregate of the visible reviews of a plugin, computed from the reviews table (never incrementally)."""
    rows = (
        Review.objects.filter(plugin_id=plugin_id, is_hidden=False)
        .values("version", "rating")
        .annotate(n=Count("id"))
        .order_by()
    )
    distribution = {str(stars): 0 for stars in range(1, 6)}
    versions: dict[str, dict] = {}
    for row in rows:
        distribution[str(row["rating"])] += row["n"]
        entry = versions.setdefault(
            row["version"] or "unknown", {"total": 0, "count": 0, "distribution": {str(s): 0 for s in range(1, 6)}}
        )
        entry["total"] += row["rating"] * row["n"]
        entry["count"] += row["n"]
        entry["distribution"][str(row["rating"])] += row["n"]
    count = sum(distribution.values())
    total = sum(int(stars) * n for stars, n in distribution.items())
    average = _average(total, count)
    by_version = {
        version: {
            "average": float(_average(entry["total"], entry["count"])),
            "count": entry["count"],
            "distribution": entry["distribution"],
        }
        for version, entry in sorted(versions.items())
    }
    return {
        "average": average,
        "count": count,
        "ratings": {"average": float(average), "count": count, "distribution": distribution, "by_version": by_version},
    }


def reviewed_plugin_ids() -> list[str]:
    return list(Review.objects.order_by("plugin_id").values_list("plugin_id", flat=True).distinct())
