from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

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
    # REST API (api/, apikeys): see docs/api.md.
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", swagger_ui, name="api-docs"),
    path("health/", include("ops.urls")),
]

# Under /api/ these answer in the API's JSON error envelope; elsewhere, Django's pages.
handler400 = "api.errors.bad_request"
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"
