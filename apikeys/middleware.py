"""Rate-limit headers on every answer to a request authenticated by an API key.

The fields of the IETF HTTP API working group's draft (draft-ietf-httpapi-ratelimit-headers,
the separate-field form of its drafts up to -06, which most libraries implement):

    RateLimit-Limit: 1200          requests allowed in a window
    RateLimit-Remaining: 1187      requests left in the current window
    RateLimit-Reset: 42            seconds until the window closes
    RateLimit-Policy: 1200;w=60    the limit and the window's length in seconds

and Retry-After on a 429 (RFC 9110). The unprefixed names are the ones the draft registers;
the X-RateLimit-* names vary between vendors in meaning (Reset is an epoch time at GitHub,
seconds at others), so a client could not rely on them anyway.

The values are those the throttle counted for this request. A request refused before the
throttle ran (a key without the operation's scope) is not counted; it reports the key's
current window as it stands. Requests without a valid key (401) and staff sessions have no
headers: no key's window applies to them. Nor do answers given before DRF reads the key (a 406
from content negotiation, a 404 for a URL with no view): the key is unknown to them.
"""

from django.conf import settings

from .models import ScopedAPIKey
from .ratelimit import RateLimitNote, RateLimitState, rate_limit_peek, rate_parse


def rate_limit_headers(state: RateLimitState) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(state.limit),
        "RateLimit-Remaining": str(state.remaining),
        "RateLimit-Reset": str(state.reset),
        "RateLimit-Policy": f"{state.limit};w={state.period}",
    }


class RateLimitHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        note = request.rate_limit_note = RateLimitNote()
        response = self.get_response(request)
        state = note.state
        # DRF copies the authenticated key to the Django request as `auth`.
        api_key = getattr(request, "auth", None)
        if state is None and isinstance(api_key, ScopedAPIKey) and settings.API_KEY_RATE:
            state = rate_limit_peek(ident=api_key.prefix, rate=rate_parse(settings.API_KEY_RATE))
        if state is None:
            return response
        for name, value in rate_limit_headers(state).items():
            response.headers.setdefault(name, value)
        if response.status_code == 429:
            response.headers.setdefault("Retry-After", str(state.reset))
        return response
