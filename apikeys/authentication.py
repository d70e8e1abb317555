"""`X-API-Key` authentication.

A request with the header is authenticated by its key alone: `request.auth` is the
ScopedAPIKey and `request.user` an AnonymousUser (a key acts for an application, not a
person). A request without the header falls through to the next authenticator (the staff
session of the browsable API); with neither, DRF answers 401 `authentication_required`.
"""

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from .models import ScopedAPIKey
from .services import InvalidAPIKey, api_key_authenticate

HEADER = "X-API-Key"


class APIKeyAuthentication(BaseAuthentication):
    meta_key = "HTTP_X_API_KEY"

    def authenticate(self, request) -> tuple[AnonymousUser, ScopedAPIKey] | None:
        raw = request.META.get(self.meta_key)
        if raw is None:
            return None
        try:
            api_key = api_key_authenticate(key=raw)
        except InvalidAPIKey as exc:
            raise exceptions.AuthenticationFailed(str(exc), code="invalid_key") from None
        return AnonymousUser(), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) when credentials are missing or wrong.
        return f'ApiKey header="{HEADER}"'
