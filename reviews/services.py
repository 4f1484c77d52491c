"""Writes of the reviews app: reviews, helpful votes, flags, developer replies and moderation.

Every write that can move the ratings aggregate takes the plugin's row lock first (marketplace.api) and then
recomputes the aggregate from the reviews table in the same transaction: concurrent writers queue on the lock,
and each recompute sees every review committed before it. Lock order is always plugin, then review.
"""

from urllib.parse import quote

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aisquare_plugins.exceptions import Conflict, Forbidden, NotFound, ServiceError
from developers import api as developers_api
from host import api as host_api
from marketplace import api as marketplace_api
from revenue import api as revenue_api
from reviews import selectors
from reviews.models import DeveloperReply, Flag, HelpfulVote, ModerationAction, Review
from runtime import api as runtime_api

TITLE_MAX = 120
REVIEW_MAX = 5000
REPLY_MAX = 5000
FLAG_NOTE_MAX = 1000
MODERATION_REASON_MAX = 2000


class ReviewNotAllowed(Forbidden):
    code = "review_not_allowed"


def _text(value, *, field: str, max_length: int, required: bool = True) -> str:
    """Reviews are plain text: stored as typed (trimmed), escaped wherever they are shown."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError(f"{field} must be text.", fields={field: ["Must be text."]})
    value = value.strip()
    if required and not value:
        raise ServiceError(f"{field} may not be empty.", fields={field: ["This field may not be blank."]})
    if len(value) > max_length:
        message = f"Ensure this field has no more than {max_length} characters."
        raise ServiceError(f"{field}: {message}", fields={field: [message]})
    if "\x00" in value:
        raise ServiceError(f"{field} contains a NUL character.", fields={field: ["Null characters are not allowed."]})
    return value


def _rating(value) -> int:
    # bool is an int in Python; "5", 4.5 and 5.0 are not whole-number ratings either.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        message = "Rating must be a whole number from 1 to 5."
        raise ServiceError(message, fields={"rating": [message]})
    return value


def _verified_purchase(*, user, plugin) -> bool:
    """A paid purchase or subscription on record (revenue.api); never what the client claims."""
    return bool(revenue_api.has_purchased(user=user, plugin_id=plugin.pk))


def _reviewed_version(*, user, plugin) -> str:
    """The version the reviewer runs: their current installation's, else their last one's, else the listing's."""
    for include_uninstalled in (False, True):
        version = (
            runtime_api.installations_for_user(user=user, include_uninstalled=include_uninstalled)
            .filter(plugin_id=plugin.pk)
            .order_by("-installed_at")
            .values_list("version", flat=True)
            .first()
        )
        if version:
            return version
    return plugin.version


def _ratings_recompute(*, plugin_id: str) -> dict:
    """Only while holding marketplace_api.plugin_lock_for_ratings: the lock is what makes the figures exact."""
    figures = selectors.plugin_ratings_compute(plugin_id=plugin_id)
    marketplace_api.plugin_ratings_set(
        plugin_id=plugin_id, ratings=figures["ratings"], average=figures["average"], count=figures["count"]
    )
    return figures["ratings"]


def plugin_ratings_rebuild(*, plugin_id: str) -> dict:
    """Recompute one plugin's aggregate from its reviews (repair after bulk imports or deleted accounts)."""
    with transaction.atomic():
        marketplace_api.plugin_lock_for_ratings(plugin_id=plugin_id)
        return _ratings_recompute(plugin_id=plugin_id)


def review_submit(*, plugin_id: str, user, rating, title, body) -> tuple[Review, bool]:
    """Write or edit `user`'s review of a plugin. Returns (review, created).

    Eligibility is the spec's: the user must have used the plugin (runtime's usage audit), and may not be its
    developer. Posting again edits the one review and marks it edited.
    """
    plugin = marketplace_api.plugin_get_reviewable(plugin_id=plugin_id)
    refusal = selectors.review_refusal(plugin=plugin, user=user)
    if refusal is not None:
        code, message = refusal
        raise ReviewNotAllowed(message, code=code, status_code=401 if code == "not_authenticated" else None)
    errors: dict[str, list[str]] = {}
    values = {}
    for field, check in (
        ("rating", lambda: _rating(rating)),
        ("title", lambda: _text(title, field="title", max_length=TITLE_MAX)),
        ("review", lambda: _text(body, field="review", max_length=REVIEW_MAX)),
    ):
        try:
            values[field] = check()
        except ServiceError as error:
            errors.update(error.fields or {field: [error.message]})
    if errors:
        raise ServiceError("The review has errors: " + ", ".join(errors), fields=errors)

    verified = _verified_purchase(user=user, plugin=plugin)
    version = _reviewed_version(user=user, plugin=plugin)
    with transaction.atomic():
        marketplace_api.plugin_lock_for_ratings(plugin_id=plugin.pk)
        review = Review.objects.select_for_update().filter(plugin_id=plugin.pk, user=user).first()
        created = review is None
        if created:
            review = Review(plugin=plugin, user=user, **values, version=version, verified_purchase=verified)
            review.full_clean()
            review.save()
            review_id = str(review.pk)
            transaction.on_commit(lambda: _queue_developer_notification(review_id))
        else:
            changed = (review.rating, review.title, review.review) != (
                values["rating"],
                values["title"],
                values["review"],
            )
            review.rating, review.title, review.review = values["rating"], values["title"], values["review"]
            review.verified_purchase = verified
            fields = ["rating", "title", "review", "verified_purchase", "updated_at"]
            if changed:
                review.version = version
                review.edited_at = timezone.now()
                fields += ["version", "edited_at"]
            review.full_clean(validate_unique=False)
            review.save(update_fields=fields)
        _ratings_recompute(plugin_id=plugin.pk)
    return review, created


def _queue_developer_notification(review_id: str) -> None:
    from reviews.tasks import notify_developer_of_review

    notify_developer_of_review.delay(review_id)


def review_developer_notify(*, review_id: str) -> bool:
    """Tell the developer about a new review, once. Returns whether a notification went out now."""
    with transaction.atomic():
        review = (
            Review.objects.select_for_update(of=("self",))
            .select_related("plugin", "plugin__developer", "plugin__developer__user")
            .filter(pk=review_id)
            .first()
        )
        if review is None or review.developer_notified_at is not None or review.is_hidden:
            return False
        developer = review.plugin.developer
        subject = f"New {review.rating}-star review of {review.plugin.name}"
        body = (
            f"{review.user.get_username()} rated {review.plugin.name} {review.rating} out of 5"
            f" (version {review.version or 'unknown'}).\n\n{review.title}\n\n{review.review}\n"
        )
        link = f"/developer/reviews/?plugin={quote(review.plugin_id)}#review-{review.pk}"
        # A portal notice plus an e-mail, itself queued on commit by the developers app.
        developers_api.developer_notify(developer=developer, subject=subject, body=body, link=link)
        review.developer_notified_at = timezone.now()
        review.save(update_fields=["developer_notified_at"])
    return True


def review_helpful_vote(*, review_id, user) -> Review:
    """Count `user` once as finding the review helpful (voting twice changes nothing)."""
    review = selectors.access_review_by_id(user=user, review_id=review_id)
    if review.user_id == user.pk:
        raise Forbidden("You cannot vote for your own review.", code="own_review")
    with transaction.atomic():
        try:
            with transaction.atomic():
                HelpfulVote.objects.create(review=review, user=user)
        except IntegrityError:
            pass  # already counted: one vote per user and review
        else:
            Review.objects.filter(pk=review.pk).update(helpful_count=F("helpful_count") + 1)
    review.refresh_from_db(fields=["helpful_count"])
    return review


def review_helpful_unvote(*, review_id, user) -> Review:
    review = selectors.access_review_by_id(user=user, review_id=review_id)
    with transaction.atomic():
        deleted, _ = HelpfulVote.objects.filter(review=review, user=user).delete()
        if deleted:
            Review.objects.filter(pk=review.pk, helpful_count__gt=0).update(helpful_count=F("helpful_count") - 1)
    review.refresh_from_db(fields=["helpful_count"])
    return review


def review_flag(*, review_id, user, reason, note="") -> Flag:
    """Report a review to the moderators. One flag per user and review."""
    review = selectors.access_review_by_id(user=user, review_id=review_id)
    if review.user_id == user.pk:
        raise Forbidden("You cannot flag your own review; edit it instead.", code="own_review")
    if reason not in Flag.Reason.values:
        message = f"Choose one of: {', '.join(Flag.Reason.values)}."
        raise ServiceError(f"reason: {message}", fields={"reason": [message]})
    note = _text(note, field="note", max_length=FLAG_NOTE_MAX, required=False)
    with transaction.atomic():
        flag = Flag.objects.select_for_update().filter(review=review, user=user).first()
        if flag is not None:
            # A dismissed flag may be raised again only if the review changed since it was dismissed.
            reopenable = (
                flag.status != Flag.Status.OPEN
                and review.edited_at is not None
                and flag.resolved_at is not None
                and review.edited_at > flag.resolved_at
            )
            if not reopenable:
                raise Conflict("You have already flagged this review.", code="already_flagged")
            flag.reason, flag.note, flag.status, flag.resolved_at = reason, note, Flag.Status.OPEN, None
            flag.full_clean(validate_unique=False)
            flag.save(update_fields=["reason", "note", "status", "resolved_at"])
            return flag
        flag = Flag(review=review, user=user, reason=reason, note=note)
        flag.full_clean()
        try:
            with transaction.atomic():
                flag.save()
        except IntegrityError:
            raise Conflict("You have already flagged this review.", code="already_flagged")
    return flag


def review_reply_set(*, review_id, user, body) -> tuple[DeveloperReply, bool]:
    """Write or edit the developer's public reply to a review of one of their plugins. Returns (reply, created)."""
    developer = selectors.developer_for_user(user=user)
    review = selectors.access_review_for_developer(developer=developer, review_id=review_id)
    body = _text(body, field="body", max_length=REPLY_MAX)
    with transaction.atomic():
        reply = DeveloperReply.objects.select_for_update().filter(review=review).first()
        if reply is None:
            reply = DeveloperReply(review=review, developer=developer, body=body)
            reply.full_clean()
            try:
                with transaction.atomic():
                    reply.save()
            except IntegrityError:
                raise Conflict("This review was answered meanwhile; reload and edit the reply.")
            # The reviewer hears about the first answer (an in-platform notification, part of this transaction).
            host_api.notification_send(
                user=review.user,
                title=f"{developer.company_name} replied to your review of {review.plugin.name}"[:255],
                body=body[:1000],
                link=f"/plugins/{quote(review.plugin_id)}/reviews/#review-{review.pk}",
            )
            return reply, True
        if reply.body != body:
            reply.body = body
            reply.developer = developer
            reply.edited_at = timezone.now()
            reply.full_clean(validate_unique=False)
            reply.save(update_fields=["body", "developer", "edited_at", "updated_at"])
    return reply, False


def review_reply_delete(*, review_id, user) -> None:
    developer = selectors.developer_for_user(user=user)
    review = selectors.access_review_for_developer(developer=developer, review_id=review_id)
    deleted, _ = DeveloperReply.objects.filter(review=review).delete()
    if not deleted:
        raise NotFound("This review has no reply.")


def _moderate(*, review_id, moderator, reason: str, hide: bool) -> Review:
    if moderator is None or not moderator.is_authenticated or not moderator.is_staff:
        raise Forbidden("Only staff moderate reviews.")
    reason = _text(reason, field="reason", max_length=MODERATION_REASON_MAX)
    pk = selectors._parse_uuid(review_id)
    plugin_id = Review.objects.filter(pk=pk).values_list("plugin_id", flat=True).first() if pk else None
    if plugin_id is None:
        raise NotFound("There is no such review.")
    with transaction.atomic():
        marketplace_api.plugin_lock_for_ratings(plugin_id=plugin_id)
        review = Review.objects.select_for_update().get(pk=pk)
        if review.is_hidden != hide:
            review.is_hidden = hide
            review.save(update_fields=["is_hidden", "updated_at"])
        action = ModerationAction(
            review=review,
            moderator=moderator,
            action=ModerationAction.Action.HIDE if hide else ModerationAction.Action.RESTORE,
            reason=reason,
        )
        action.full_clean()
        action.save()
        review.flags.filter(status=Flag.Status.OPEN).update(
            status=Flag.Status.UPHELD if hide else Flag.Status.DISMISSED, resolved_at=timezone.now()
        )
        _ratings_recompute(plugin_id=plugin_id)
    return review


def review_hide(*, review_id, moderator, reason: str) -> Review:
    """Take a review off the plugin page and out of the aggregate; its open flags are upheld. Audited."""
    return _moderate(review_id=review_id, moderator=moderator, reason=reason, hide=True)


def review_restore(*, review_id, moderator, reason: str) -> Review:
    """Show a review again (or keep a flagged one visible); its open flags are dismissed. Audited."""
    return _moderate(review_id=review_id, moderator=moderator, reason=reason, hide=False)

