"""A request rate per API key (settings.API_KEY_RATE, e.g. "1200/min").

Counts live in the default cache. With the default per-process cache each server process
counts on its own, so N processes allow up to N times the rate; configure a shared cache
(database, Redis) in production for an exact limit. Staff sessions are not throttled.
"""

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .models import ScopedAPIKey


class APIKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read on every request (throttles are built per request), so tests can override it.
        return settings.API_KEY_RATE or None

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ScopedAPIKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}

    def wait(self) -> float:
        """Seconds until the oldest request in the window leaves it and frees a slot.

        DRF's default spreads the remaining budget over the window and can return None;
        a client told Retry-After should succeed when it retries, and always be told.
        """
        window = self.history[: self.num_requests]
        if len(window) < self.num_requests:
            return 1
        return max(1, math.ceil(window[-1] + self.duration - self.now))
