"""The developer API (`/api/developer/…`): upload versions, edit listings, read statuses, findings and notes.
Views parse input, call one service or selector, and render."""

from django.core.exceptions import PermissionDenied
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from aisquare_plugins.exceptions import Forbidden, ServiceError
from developers import selectors, services
from developers.authentication import TokenScopePermission
from developers.models import DeveloperToken

MAX_METADATA_BYTES = 64 * 1024


def _developer(request):
    developer = selectors.developer_for_user(user=request.user)
    if developer is None:
        raise Forbidden("Register as a developer first (/developer/register/).", code="not_a_developer")
    return developer


def _package_bytes(request) -> bytes:
    upload = request.FILES.get("plugin_package")
    if upload is None:
        raise ServiceError("plugin_package: attach the package zip as multipart field plugin_package.",
                           code="invalid", fields={"plugin_package": ["required"]})
    from django.conf import settings

    # Cheapest check first: refuse an oversized upload before reading it into memory.
    if upload.size > settings.PACKAGE_MAX_BYTES:
        raise ServiceError(f"The package is {upload.size} bytes; the limit is {settings.PACKAGE_MAX_BYTES} bytes.",
                           code="too_large", status_code=413, fields={"plugin_package": ["too large"]})
    return upload.read()


def _metadata(request):
    metadata = request.data.get("metadata")
    if hasattr(metadata, "read"):
        metadata = metadata.read(MAX_METADATA_BYTES + 1)
    if metadata is not None and len(metadata) > MAX_METADATA_BYTES:
        raise ServiceError("metadata: at most 64 KiB.", code="invalid")
    return metadata


class UploadSerializer(serializers.Serializer):
    plugin_package = serializers.FileField()
    metadata = serializers.CharField(required=False, help_text='JSON: {"changelog": "...", "id"?, "version"?}')


class DeveloperAPIView(APIView):
    permission_classes = [permissions.IsAuthenticated, TokenScopePermission]


class DeveloperPluginsView(DeveloperAPIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_scope = "upload"

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(summary="List your plugins with each version's status, findings and reviewer notes",
                   responses=OpenApiTypes.OBJECT, operation_id="developer_plugins_list")
    def get(self, request):
        developer = _developer(request)
        return Response({"results": selectors.developer_plugins_overview(developer=developer)})

    @extend_schema(request={"multipart/form-data": UploadSerializer}, summary="Upload a plugin package",
                   responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        developer = _developer(request)
        version = services.submission_upload(
            developer=developer, user=request.user, data=_package_bytes(request), metadata=_metadata(request))
        return Response(_uploaded(version), status=status.HTTP_201_CREATED)


def _uploaded(version) -> dict:
    return {
        "plugin_id": version.plugin_id,
        "version": selectors.version_summary(version, None),
        "status_url": f"/api/developer/versions/{version.pk}",
    }


class DeveloperPluginDetailView(DeveloperAPIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_scope = "upload"

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.request.method == "PUT" else super().get_throttles()

    @extend_schema(summary="One of your plugins with its versions", responses=OpenApiTypes.OBJECT,
                   operation_id="developer_plugin_retrieve")
    def get(self, request, plugin_id):
        developer = _developer(request)
        selectors.access_plugin_by_id(developer=developer, plugin_id=plugin_id)
        overview = [p for p in selectors.developer_plugins_overview(developer=developer) if p["id"] == plugin_id]
        return Response(overview[0])

    @extend_schema(request={"multipart/form-data": UploadSerializer, "application/json": OpenApiTypes.OBJECT},
                   summary="Upload a new version (multipart) or edit the listing (JSON)",
                   responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT})
    def put(self, request, plugin_id):
        developer = _developer(request)
        if "plugin_package" in request.FILES:
            # The gate first: a stranger learns nothing from uploading to someone else's id.
            version = services.submission_upload(
                developer=developer, user=request.user, data=_package_bytes(request), metadata=_metadata(request),
                plugin_id=plugin_id)
            return Response(_uploaded(version), status=status.HTTP_201_CREATED)
        if not isinstance(request.data, dict) or not request.data:
            raise ServiceError("Send listing fields as JSON, or a new package as multipart plugin_package.",
                               code="invalid")
        services.listing_update(developer=developer, plugin_id=plugin_id, changes=dict(request.data))
        overview = [p for p in selectors.developer_plugins_overview(developer=developer) if p["id"] == plugin_id]
        return Response(overview[0])


class DeveloperVersionView(DeveloperAPIView):
    @extend_schema(summary="A version's status, scan findings, quality breakdown and reviewer note",
                   responses=OpenApiTypes.OBJECT)
    def get(self, request, version_id):
        developer = _developer(request)
        submission = selectors.access_submission_by_version_id(developer=developer, version_id=version_id)
        return Response({"plugin_id": submission.version.plugin_id,
                         **selectors.version_summary(submission.version, submission)})


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=["publish", "read"]), min_length=1)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=366, required=False, default=90)


def _token_json(token: DeveloperToken) -> dict:
    return {"id": str(token.pk), "name": token.name, "last_four": token.last_four, "scopes": token.scopes,
            "expires_at": token.expires_at, "revoked_at": token.revoked_at, "last_used_at": token.last_used_at,
            "created_at": token.created_at}


class SessionOnly(permissions.BasePermission):
    """Tokens are managed in a signed-in session, never with another token."""

    def has_permission(self, request, view):
        if isinstance(request.auth, DeveloperToken):
            raise PermissionDenied("Manage tokens from the developer portal, not with a token.")
        return True


class DeveloperTokensView(DeveloperAPIView):
    permission_classes = [permissions.IsAuthenticated, SessionOnly]

    @extend_schema(summary="Your API tokens (never the token itself)", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        developer = _developer(request)
        return Response({"results": [_token_json(t) for t in selectors.developer_tokens(developer=developer)]})

    @extend_schema(request=TokenCreateSerializer, summary="Create a token (shown once)",
                   responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        developer = _developer(request)
        serializer = TokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = services.developer_token_create(developer=developer, **serializer.validated_data)
        return Response({**_token_json(token), "token": raw}, status=status.HTTP_201_CREATED)


class DeveloperTokenDetailView(DeveloperAPIView):
    permission_classes = [permissions.IsAuthenticated, SessionOnly]

    @extend_schema(summary="Revoke a token", responses={204: None})
    def delete(self, request, token_id):
        developer = _developer(request)
        services.developer_token_revoke(developer=developer, token_id=token_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
