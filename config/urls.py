from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

# Swagger UI's files come from our static files (drf-spectacular-sidecar), so the site's own
# Content-Security-Policy applies unchanged. The split view serves its start-up script as a
# file, so no inline script is needed.
swagger_ui = SpectacularSwaggerSplitView.as_view(url_name="api-schema")

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
