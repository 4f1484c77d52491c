"""OpenAPI description of the developer token authentication (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class DeveloperTokenScheme(OpenApiAuthenticationExtension):
    target_class = "developers.authentication.DeveloperTokenAuthentication"
    name = "developerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "aisq_…",
                "description": "A developer API token from the developer portal (scopes: publish, read)."}
