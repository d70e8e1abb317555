"""A request rate per API key (settings.API_KEY_RATE, e.g. "1200/min"), counted by ratelimit.py.

Only requests authenticated by a key are counted; staff sessions are not throttled. DRF runs
throttles after the permission check, so a request refused for a missing scope is not counted.
The state the throttle counted is left on the request for RateLimitHeadersMiddleware.
"""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from .models import ScopedAPIKey
from .ratelimit import RateLimitState, rate_limit_consume, rate_parse


class APIKeyRateThrottle(BaseThrottle):
    state: RateLimitState | None = None

    def allow_request(self, request, view) -> bool:
        # The setting is read on every request (throttles are built per request), so a test
        # or a settings override changes the rate at once.
        if not settings.API_KEY_RATE or not isinstance(request.auth, ScopedAPIKey):
            return True
        self.state = rate_limit_consume(
            ident=request.auth.prefix, rate=rate_parse(settings.API_KEY_RATE)
        )
        note = getattr(request, "rate_limit_note", None)
        if note is not None:
            note.state = self.state
        return self.state.allowed

    def wait(self) -> int | None:
        """Seconds until the key's window closes: a client told Retry-After succeeds then."""
        return self.state.reset if self.state is not None else None
