"""API routes answer with or without their trailing slash.

Django's APPEND_SLASH answers `POST /api/v1/contacts` with a redirect to the slashed URL, and
HTTP clients follow a 301 or 302 as a GET: the write is lost while the client sees a 200 (and
under DEBUG, Django refuses the redirect with an HTML 500). A route here matches both forms and
serves them the same; `reverse()`, the `Location` header and the OpenAPI schema keep the
canonical, slashed form, which is the one the route is written with.
"""

from django.urls import URLPattern
from django.urls.resolvers import RegexPattern, RoutePattern


class SlashOptional:
    """A route written with a trailing slash that also matches the path without it."""

    def match(self, path):
        found = super().match(path)
        if found is None and not path.endswith("/"):
            found = super().match(f"{path}/")
        return found


class SlashOptionalRegexPattern(SlashOptional, RegexPattern):
    pass


class SlashOptionalRoutePattern(SlashOptional, RoutePattern):
    pass


def slash_optional(patterns: list) -> list:
    """The same endpoints (`path()` or `re_path()`, written with a trailing slash), slash
    optional."""
    routes = []
    for pattern in patterns:
        written = str(pattern.pattern)
        if isinstance(pattern, URLPattern) and type(pattern.pattern) is RoutePattern:
            kind, slashed = SlashOptionalRoutePattern, written.endswith("/")
        elif isinstance(pattern, URLPattern) and type(pattern.pattern) is RegexPattern:
            kind, slashed = SlashOptionalRegexPattern, written.endswith("/$")
        else:
            kind, slashed = None, False
        if not slashed:
            raise ValueError(f"{pattern!r} is not an endpoint written with a trailing slash.")
        routes.append(
            URLPattern(
                kind(written, name=pattern.name, is_endpoint=True),
                pattern.callback,
                pattern.default_args,
                pattern.name,
            )
        )
    return routes
