"""Admin contact changelist on the bench dataset: queries per page and median time."""

from common import median_ms, report
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from crm.models import Contact

URL = "/admin/crm/contact/"


def staff_client() -> Client:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def run() -> None:
    client = staff_client()
    sample = Contact.objects.filter(email__endswith="@bench.example").order_by("pk")[5000]
    phone = sample.phone_numbers.get(is_primary=True).number.as_national  # "(212) 555-0123"
    pages = {"page 1": {}, "page 500": {"p": "500"}, "stage filter": {"stage__exact": "lead"}}
    counts = []
    for label, params in pages.items():
        client.get(URL, params)  # warm: the country filter's choices are cached for a minute
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, params).status_code == 200
        counts.append(len(queries))
        ms = median_ms(lambda params=params: client.get(URL, params))
        report(
            f"admin changelist, 100 rows, {label}: median", f"{ms:.0f} ms", "≤ 150 ms", ms <= 150
        )
    report(
        "admin changelist: queries per page (any page)",
        "/".join(map(str, counts)),
        "fixed, ≤ 10",
        max(counts) <= 10 and len(set(counts)) == 1,
    )
    for label, term in (("email", sample.email), ("phone", phone)):
        response = client.get(URL, {"q": term})
        assert sample.email in response.content.decode(), label
        ms = median_ms(lambda term=term: client.get(URL, {"q": term}))
        report(f"admin search by {label} ({term}): median", f"{ms:.0f} ms", "≤ 200 ms", ms <= 200)


if __name__ == "__main__":
    run()
