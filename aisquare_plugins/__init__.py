"""AI Square Plugins: the plugin platform and marketplace of AI Square."""

from .celery import app as celery_app

__all__ = ("celery_app",)
