from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from api.errors import unknown_api_url
from api.routes import slash_optional

# Swagger UI's files come from our static files (drf-spectacular-sidecar), so the site's own
# Content-Security-Policy applies unchanged. The split view serves its start-up script as a
# file, so no inline script is needed.
swagger_ui = SpectacularSwaggerSplitView.as_view(url_name="api-schema")
# ReDoc likewise, with a page of ours: drf-spectacular's loads web fonts from Google.
redoc = SpectacularRedocView.as_view(
    url_name="api-schema", template_name="drf_spectacular/redoc_offline.html"
)


class FaviconView(RedirectView):
    """/favicon.ico, which browsers ask for on every page (a JSON one too): the site's icon."""

    permanent = False

    def get_redirect_url(self, *args, **kwargs):
        return static("crm/favicon.svg")


admin.site.site_header = "Relay CRM"
admin.site.site_title = "Relay CRM"
admin.site.index_title = "Contacts and provider sync"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("favicon.ico", FaviconView.as_view()),
    path("admin/", admin.site.urls),
    # REST API (api/, apikeys): see docs/api.md. Its routes answer with or without the
    # trailing slash (api/routes.py).
    path("api/v1/", include("api.urls")),
    *slash_optional(
        [
            path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
            path("api/docs/", swagger_ui, name="api-docs"),
            path("api/redoc/", redoc, name="api-redoc"),
        ]
    ),
    # Any other URL under /api/ (an unknown path, an id that is not a number) is a JSON 404,
    # with DEBUG on as well as off.
    re_path(r"^api/", unknown_api_url),
    path("health/", include("ops.urls")),
]

# Under /api/ these answer in the API's JSON error envelope; elsewhere, Django's pages.
handler400 = "api.errors.bad_request"
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"
