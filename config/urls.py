from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Relay CRM"
admin.site.site_title = "Relay CRM"
admin.site.index_title = "Contacts and provider sync"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
