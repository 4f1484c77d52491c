"""Template context shared by every page."""

from django.conf import settings


def platform(request):
    return {"PLATFORM_VERSION": settings.PLATFORM_VERSION}
