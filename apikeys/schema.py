"""Describes X-API-Key authentication in the OpenAPI schema (drf-spectacular extension)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .authentication import HEADER
from .models import Scope


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.APIKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict:
        scopes = ", ".join(f"`{scope}`" for scope in Scope.values)
        return {
            "type": "apiKey",
            "in": "header",
            "name": HEADER,
            "description": (
                f"An API key created in the admin or with `manage.py create_api_key`. "
                f"Each key has scopes ({scopes}); every operation names the scope it needs."
            ),
        }
