"""The product's URLs plus the bare baseline views the API list is compared with."""

from django.http import JsonResponse
from django.urls import include, path

from crm.models import Contact

# The columns of the first baseline (2026-11-23 to 2026-12-02), kept to compare with.
NARROW_FIELDS = ("id", "first_name", "last_name", "email", "company", "title", "updated_at")


def bare_contacts(request):
    """The issue's baseline: `values()` over the API's first page, every column of the rows."""
    rows = list(Contact.objects.order_by("-updated_at", "-id").values()[:100])
    return JsonResponse({"results": rows})


def bare_contacts_narrow(request):
    """Seven columns of the same rows: a lighter baseline, reported beside the other."""
    rows = list(Contact.objects.order_by("-updated_at", "-id").values(*NARROW_FIELDS)[:100])
    return JsonResponse({"results": rows})


urlpatterns = [
    path("bench/bare-contacts/", bare_contacts),
    path("bench/bare-contacts-narrow/", bare_contacts_narrow),
    path("", include("config.urls")),
]
