"""Which representation an API answer takes: JSON, whatever the Accept header says, unless a
signed-in staff session asks for the browsable API's HTML page.

An application's HTTP library sends the Accept header it was built with, often one that lists
HTML first (Java's default is `text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2`). Had
DRF's negotiation chosen for it, such a request would get the browsable page: a create
answered `201 text/html` hides the new id, and without collected static files the page is a
500. An Accept header that admits no JSON at all (`application/xml`, `*`, garbage) gets JSON
too rather than a 406: RFC 9110 (12.5.1) lets a server disregard Accept, and a JSON answer is
the one a client of this API can read. Other formats a view offers (the schema's YAML and
JSON) are chosen by Accept and `?format=` as before.
"""

from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation

from apikeys.authentication import APIKeyAuthentication


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        data_renderers = [renderer for renderer in renderers if not _is_page(renderer)]
        if data_renderers and not _may_see_pages(request):
            renderers = data_renderers
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except (NotAcceptable, Http404):  # Http404: a `?format=` no renderer has
            fallback = data_renderers[0] if data_renderers else renderers[0]
            return fallback, fallback.media_type


def _is_page(renderer) -> bool:
    return renderer.media_type.split(";")[0].strip() == "text/html"


def _may_see_pages(request) -> bool:
    """A staff member signed in to the admin, without an API key: a person in a browser."""
    if APIKeyAuthentication.meta_key in request.META:
        return False
    # Authenticates the request now rather than after negotiation; its errors are the same.
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)
