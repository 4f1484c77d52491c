"""/api/plugins/…: install, list, activate, deactivate, uninstall and invoke installations. Parse, call a service,
render. Only the installation's owner (its user, or an admin of its organization) reaches it; others get 404."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from aisquare_plugins.exceptions import NotFound
from marketplace.api import plugin_versions_of
from runtime import selectors, services
from runtime.models import Installation

APPROVED = "approved"


class InstallationSerializer(serializers.ModelSerializer):
    plugin_id = serializers.CharField(source="plugin.id")
    plugin_name = serializers.CharField(source="plugin.name")
    org_id = serializers.UUIDField(source="org.pk", allow_null=True, default=None)
    granted_scopes = serializers.ListField(source="permissions", child=serializers.CharField())

    class Meta:
        model = Installation
        fields = ["id", "plugin_id", "plugin_name", "version", "status", "org_id", "granted_scopes", "last_error",
                  "installed_at", "activated_at", "last_used_at"]


class InstallRequestSerializer(serializers.Serializer):
    plugin_id = serializers.CharField(max_length=255)
    source = serializers.ChoiceField(choices=["marketplace"], default="marketplace")
    version = serializers.CharField(max_length=50, required=False)
    org_id = serializers.UUIDField(required=False, allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list,
                                   max_length=50)


class InvokeRequestSerializer(serializers.Serializer):
    function = serializers.CharField(max_length=100)
    args = serializers.ListField(required=False, default=list)
    kwargs = serializers.DictField(required=False, default=dict)


def _installable_version(plugin_id: str, version: str | None):
    versions = [v for v in plugin_versions_of(plugin_ids=[plugin_id]) if v.status == APPROVED]
    if version:
        versions = [v for v in versions if v.version == version]
    if not versions:
        raise NotFound("No installable version of this plugin.")
    return max(versions, key=lambda v: (v.version_major, v.version_minor, v.version_patch, v.created_at))


def _org_for(user, org_id):
    if org_id is None:
        return None
    membership = user.memberships.filter(organization_id=org_id).select_related("organization").first()
    if membership is None:
        raise NotFound("No such organization.")
    return membership.organization


def _gate(request, installation_id) -> Installation:
    return selectors.installation_get_for_user(user=request.user, installation_id=installation_id)


class InstallView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Install a plugin (consent to its scopes)", request=InstallRequestSerializer,
                   responses={202: InstallationSerializer})
    def post(self, request):
        body = InstallRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        plugin_version = _installable_version(data["plugin_id"], data.get("version"))
        installation = services.installation_install(
            plugin_version=plugin_version, user=request.user, org=_org_for(request.user, data.get("org_id")),
            granted_scopes=data["scopes"],
        )
        installation.refresh_from_db()
        code = status.HTTP_201_CREATED if installation.status != Installation.Status.INSTALLING else 202
        return Response(InstallationSerializer(installation).data, status=code)


class InstalledListView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="My installations", responses={200: InstallationSerializer(many=True)})
    def get(self, request):
        installations = selectors.installations_for_user(user=request.user)
        return Response({"results": InstallationSerializer(installations, many=True).data})


class ActivateView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Activate an installation", request=None, responses={200: InstallationSerializer})
    def put(self, request, installation_id):
        installation = services.installation_activate(installation=_gate(request, installation_id))
        return Response(InstallationSerializer(installation).data)


class DeactivateView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Deactivate an installation (409 has_dependants while the owner's other active "
                           "installations depend on it)", request=None, responses={200: InstallationSerializer})
    def put(self, request, installation_id):
        installation = services.installation_deactivate(installation=_gate(request, installation_id))
        return Response(InstallationSerializer(installation).data)


class InstallationView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="An installation", responses={200: InstallationSerializer})
    def get(self, request, installation_id):
        return Response(InstallationSerializer(_gate(request, installation_id)).data)

    @extend_schema(summary="Uninstall (its data is removed; 409 has_dependants while the owner's other active "
                           "installations depend on it)", responses={200: InstallationSerializer})
    def delete(self, request, installation_id):
        installation = services.installation_uninstall(installation=_gate(request, installation_id))
        return Response(InstallationSerializer(installation).data)


class InvokeView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(summary="Call one of the plugin's functions in its sandbox", request=InvokeRequestSerializer,
                   responses={200: dict})
    def post(self, request, installation_id):
        body = InvokeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = services.installation_invoke(installation=_gate(request, installation_id), function=data["function"],
                                              args=data["args"], kwargs=data["kwargs"])
        return Response(result)
