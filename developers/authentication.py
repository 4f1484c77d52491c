"""API tokens for CI and the SDK's CLI: `Authorization: Bearer aisq_...`, scoped publish/read."""

import hashlib

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

# Imported by DRF's settings while rest_framework.views loads: keep this module's imports light (models and
# services are imported inside the methods).
TOKEN_PREFIX = "aisq_"
TOKEN_PATH_PREFIX = "/api/developer/"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class DeveloperTokenAuthentication(authentication.BaseAuthentication):
    """Authenticates a developer token. Other `Bearer` schemes are left to other authentication classes."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].lower() != self.keyword.lower().encode():
            return None
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not raw.startswith(TOKEN_PREFIX):
            return None
        if not request.path.startswith(TOKEN_PATH_PREFIX):
            # Developer tokens publish and read plugins; they never act as the user anywhere else (installs,
            # purchases, reviews), whatever their scopes.
            raise exceptions.AuthenticationFailed("Developer tokens are only valid for /api/developer/ endpoints.")
        from developers.models import DeveloperToken
        from developers.services import developer_token_touch

        token = DeveloperToken.objects.select_related("developer__user").filter(token_hash=token_hash(raw)).first()
        # One message for unknown, revoked and expired tokens: nothing to learn by probing.
        if (token is None or token.revoked_at is not None
                or (token.expires_at is not None and token.expires_at <= timezone.now())
                or not token.developer.user.is_active):
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        developer_token_touch(token=token)
        return token.developer.user, token

    def authenticate_header(self, request):
        return self.keyword


class TokenScopePermission(permissions.BasePermission):
    """A token may only do what its scopes allow: `read` for safe methods, `publish` for the rest.
    Session users (the portal) are not limited by token scopes."""

    message = "This token's scopes do not allow this request."

    def has_permission(self, request, view):
        from developers.models import DeveloperToken

        token = request.auth
        if not isinstance(token, DeveloperToken):
            return True
        needed = "read" if request.method in permissions.SAFE_METHODS else "publish"
        # A publish token may also read what it publishes.
        return needed in token.scopes or (needed == "read" and "publish" in token.scopes)
