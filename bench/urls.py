"""The product's URLs plus the bare baseline view the API list is compared with."""

from django.http import JsonResponse
from django.urls import include, path

from crm.models import Contact

BARE_FIELDS = ("id", "first_name", "last_name", "email", "company", "title", "updated_at")


def bare_contacts(request):
    rows = list(Contact.objects.order_by("-updated_at", "-id").values(*BARE_FIELDS)[:100])
    return JsonResponse({"results": rows})


urlpatterns = [
    path("bench/bare-contacts/", bare_contacts),
    path("", include("config.urls")),
]
