"""The developers app's public surface: the only module of it that other apps may import."""

from developers.models import Developer


def developer_for_user(*, user) -> Developer | None:
    """The user's developer account, or None."""
    from developers import selectors

    return selectors.developer_for_user(user=user)


def developer_notify(*, developer: Developer, subject: str, body: str, link: str = ""):
    """A notice in the developer portal and the same by e-mail (Celery, on commit)."""
    from developers import services

    return services.developer_notify(developer=developer, subject=subject, body=body, link=link)


def access_plugin_by_id(*, developer: Developer | None, plugin_id: str):
    """The developer's own plugin, or NotFound for a missing plugin and someone else's alike (the one gate)."""
    from developers import selectors

    return selectors.access_plugin_by_id(developer=developer, plugin_id=plugin_id)


def pending_review_count() -> int:
    """Versions waiting for a reviewer (the admin index shows it)."""
    from developers import selectors

    return selectors.pending_review_count()


__all__ = ["Developer", "access_plugin_by_id", "developer_for_user", "developer_notify", "pending_review_count"]
