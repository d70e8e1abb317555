from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.errors import unknown_api_url
from api.routes import slash_optional

SWAGGER_CDN = "https://cdn.jsdelivr.net"

# Swagger UI comes from drf-spectacular's CDN (jsdelivr): this page alone may load from there.
# The split view serves its start-up script as a file, so no inline script is needed.
swagger_ui = csp_override(
    {
        **settings.SECURE_CSP,
        "script-src": [CSP.SELF, SWAGGER_CDN],
        "style-src": [CSP.SELF, CSP.UNSAFE_INLINE, SWAGGER_CDN],
        "img-src": [CSP.SELF, "data:", SWAGGER_CDN],
    }
)(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))

admin.site.site_header = "Relay CRM"
admin.site.site_title = "Relay CRM"
admin.site.index_title = "Contacts and provider sync"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # REST API (api/, apikeys): see docs/api.md. Its routes answer with or without the
    # trailing slash (api/routes.py).
    path("api/v1/", include("api.urls")),
    *slash_optional(
        [
            path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
            path("api/docs/", swagger_ui, name="api-docs"),
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
