"""Template tags of the review console (the pending count on the admin index)."""

from django import template

from developers import selectors

register = template.Library()


@register.simple_tag
def pending_review_count() -> int:
    return selectors.pending_review_count()
