from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

admin.site.site_header = "Relay CRM"
admin.site.site_title = "Relay CRM"
admin.site.index_title = "Contacts and provider sync"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # REST API (crm/api, apikeys): see docs/api.md.
    # Before crm's routes: integrations adds /contacts/{id}/push/ (integrations/api).
    path("api/v1/", include("integrations.api.urls")),
    path("api/v1/", include("crm.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

# Under /api/ these answer in the API's JSON error envelope; elsewhere, Django's pages.
handler400 = "crm.api.errors.bad_request"
handler404 = "crm.api.errors.page_not_found"
handler500 = "crm.api.errors.server_error"
