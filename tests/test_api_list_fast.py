"""The contacts list's read path: rows, not instances (api.contacts.representation), and cursors.

The list builds its JSON from values() rows; the detail endpoint renders the serializer.
These tests keep the two identical, and cover the keyset cursor that replaced the count.
"""

import base64
import datetime
import json

import pytest
from django.db import reset_queries
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from crm.models import Contact, CustomField
from integrations.models import Connection, RemoteLink
from tests.api_helpers import CONTACTS_URL, detail_url, error_codes
from tests.factories import ContactFactory, CustomFieldFactory, PhoneNumberFactory, TagFactory


def results(response) -> list[dict]:
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def ids(response) -> list[int]:
    return [row["id"] for row in results(response)]


@pytest.fixture
def custom_fields(db):
    for key, type_, extra in [
        ("industry", CustomField.Type.TEXT, {}),
        ("deal_size", CustomField.Type.NUMBER, {}),
        ("last_meeting", CustomField.Type.DATE, {}),
        ("newsletter", CustomField.Type.BOOLEAN, {}),
        ("segment", CustomField.Type.CHOICE, {"choices": ["smb", "enterprise"]}),
        ("homepage", CustomField.Type.URL, {}),
        ("billing_email", CustomField.Type.EMAIL, {}),
    ]:
        CustomFieldFactory(key=key, type=type_, **extra)


def make_rich_contacts(writer) -> list[int]:
    """Contacts with phones, tags, custom fields of every type, an owner and remote links."""
    bodies = [
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "company": "Analytical Engines",
            "title": "Programmer",
            "linkedin_url": "https://www.linkedin.com/in/ada",
            "website": "https://ada.example.com",
            "address": "12 St James's Square",
            "city": "London",
            "state": "",
            "zip_code": "SW1Y 4JH",
            "country": "gb",
            "stage": "customer",
            "status": "active",
            "source": "referral",
            "description": "First programmer. Ünïcödé ✓",
            "phone_numbers": [
                {"number": "+442079460958", "type": "work", "do_not_call": True},
                {"number": "+14155550100", "type": "mobile", "is_primary": True},
                {"number": "(212) 201-0000", "type": "home"},
            ],
            "tags": ["VIP", "analytical", "Zeta", "beta"],
            "custom_fields": {
                "industry": "Computing",
                "deal_size": "1200.50",
                "last_meeting": "2026-05-01",
                "newsletter": "yes",
                "segment": "Enterprise",
                "homepage": "https://engines.example.com",
                "billing_email": "Billing@Example.com",
            },
        },
        {"first_name": "Solo"},  # nothing else at all
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "phone_numbers": [{"number": "+14155550101"}],
            "tags": ["vip"],
            "custom_fields": {"deal_size": 7, "newsletter": False},
        },
        {"first_name": "Big", "custom_fields": {"deal_size": 10**14, "industry": "x" * 300}},
    ]
    created = []
    for body in bodies:
        response = writer.post(CONTACTS_URL, body, format="json")
        assert response.status_code == 201, response.json()
        created.append(response.json()["id"])

    close = Connection.objects.create(name="Close", provider="close", auto_push=False)
    klen = Connection.objects.create(name="A Klen", provider="klen", auto_push=False)
    ada, _, grace, _ = created
    RemoteLink.objects.create(
        contact_id=ada,
        connection=close,
        remote_id="lead_123",
        state="synced",
        last_pushed_at=datetime.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=datetime.UTC),
    )
    RemoteLink.objects.create(
        contact_id=ada,
        connection=klen,
        state="failed",
        last_error_code="INVALID_EMAIL",
        last_error_message="The provider refused the email.",
        last_pushed_at=datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.UTC),
    )
    RemoteLink.objects.create(contact_id=grace, connection=close, state="pending")
    return created


def test_a_list_item_is_exactly_the_detail_body_of_the_same_contact(
    reader, writer, custom_fields, django_user_model
):
    created = make_rich_contacts(writer)
    owner = django_user_model.objects.create_user("owner", is_staff=True)
    Contact.objects.filter(pk=created[0]).update(owner=owner)

    listed = {item["id"]: item for item in results(reader.get(CONTACTS_URL))}

    assert set(listed) == set(created)
    for pk in created:
        detail = reader.get(detail_url(pk))
        assert detail.status_code == 200
        # Same keys in the same order, same values of the same types.
        assert json.dumps(listed[pk]) == json.dumps(detail.json()), pk
    ada = listed[created[0]]
    assert [p["is_primary"] for p in ada["phone_numbers"]] == [True, False, False]
    assert [link["connection"] for link in ada["remote_links"]] == ["A Klen", "Close"]
    assert ada["owner"] == owner.pk


def test_create_update_and_replay_answer_with_the_detail_body(reader, api_client, custom_fields):
    # A key that may read (a write-only key is answered only id and updated_at).
    body = {
        "first_name": "Ada",
        "email": "ada@example.com",
        "phone_numbers": [{"number": "+14155550100"}, {"number": "+442079460958"}],
        "tags": ["Zeta", "alpha"],
        "custom_fields": {"deal_size": "1200.50", "newsletter": "yes", "industry": "x" * 300},
    }
    created = api_client.post(CONTACTS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    detail = reader.get(detail_url(pk)).json()
    assert json.dumps(created.json()) == json.dumps(detail)

    replayed = api_client.post(CONTACTS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replayed["Idempotent-Replayed"] == "true"
    # The same values; the key order is jsonb's on PostgreSQL, where the record is stored.
    assert replayed.json() == detail

    patched = api_client.patch(
        detail_url(pk), {"tags": ["beta"], "custom_fields": {"newsletter": None}}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert json.dumps(patched.json()) == json.dumps(reader.get(detail_url(pk)).json())
    assert patched.json()["tags"] == ["beta"]
    assert "newsletter" not in patched.json()["custom_fields"]


def test_list_and_detail_agree_in_another_time_zone(reader, writer, custom_fields, settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    created = make_rich_contacts(writer)
    timezone.deactivate()

    listed = {item["id"]: item for item in results(reader.get(CONTACTS_URL))}

    for pk in created:
        assert json.dumps(listed[pk]) == json.dumps(reader.get(detail_url(pk)).json())
    assert listed[created[0]]["created_at"].endswith("-03:00")


def test_a_page_costs_a_fixed_number_of_queries_whatever_its_size(
    reader, django_assert_max_num_queries, connection_vendor
):
    # The key, the page and the names of its tags. Elsewhere than on PostgreSQL, which reads
    # them in the page's statement: the page's phone numbers, its tags and its remote links.
    bound = 3 if connection_vendor == "postgresql" else 5

    def make(count):
        tags = [TagFactory(), TagFactory()]
        for contact in ContactFactory.create_batch(count, tags=tags):
            PhoneNumberFactory(contact=contact)
            PhoneNumberFactory(contact=contact)

    make(10)
    with django_assert_max_num_queries(bound) as page_of_10:
        assert len(ids(reader.get(CONTACTS_URL, {"page_size": 100}))) == 10
    make(90)
    reset_queries()
    with django_assert_max_num_queries(bound) as page_of_100:
        assert len(ids(reader.get(CONTACTS_URL, {"page_size": 100}))) == 100
    first = reader.get(CONTACTS_URL, {"page_size": 30}).json()
    # The log keeps 9,000 queries, and a capture counts what it grew by: start afresh.
    reset_queries()
    with django_assert_max_num_queries(bound) as next_page:
        assert len(results(reader.get(first["next"]))) == 30

    assert len(page_of_100) == len(page_of_10)
    assert not any("COUNT(" in q["sql"].upper() for q in page_of_100.captured_queries)
    assert len(next_page) == len(page_of_10)


@pytest.fixture
def connection_vendor(db):
    from django.db import connection

    return connection.vendor


# --- the cursor ----------------------------------------------------------------------------


def walk(client, url, params=None) -> tuple[list[int], list[dict]]:
    """Follow `next` from the first page to the last: every id seen, and each page's body."""
    seen, pages = [], []
    response = client.get(url, params)
    while True:
        body = response.json()
        assert response.status_code == 200, body
        pages.append(body)
        seen += [row["id"] for row in body["results"]]
        if not body["next"]:
            return seen, pages
        response = client.get(body["next"])


def test_the_first_page_has_no_count_and_no_previous_link(reader):
    ContactFactory.create_batch(3)

    body = reader.get(CONTACTS_URL, {"page_size": 2}).json()

    assert set(body) == {"next", "previous", "results"}
    assert body["previous"] is None
    assert "cursor=" in body["next"] and "page_size=2" in body["next"]


def test_following_next_lists_every_contact_once_newest_change_first(reader):
    contacts = ContactFactory.create_batch(7)
    # Several contacts changed at the same instant: the id breaks the tie.
    same = timezone.now()
    Contact.objects.filter(pk__in=[c.pk for c in contacts[:4]]).update(updated_at=same)

    seen, pages = walk(reader, CONTACTS_URL, {"page_size": 3})

    expected = list(Contact.objects.order_by("-updated_at", "-id").values_list("id", flat=True))
    assert seen == expected
    assert [len(page["results"]) for page in pages] == [3, 3, 1]
    assert pages[-1]["next"] is None


@pytest.mark.parametrize(
    "ordering, order_by",
    [
        ("company", ["company", "id"]),
        ("-company", ["-company", "-id"]),
        ("company,-created_at", ["company", "-created_at", "id"]),
        ("-last_name,first_name", ["-last_name", "first_name", "id"]),
        ("email", ["email", "id"]),
    ],
)
def test_the_cursor_honours_the_ordering_with_ties(reader, ordering, order_by):
    for i in range(9):
        ContactFactory(company=["B", "A", ""][i % 3], last_name=["x", "y"][i % 2])

    seen, _ = walk(reader, CONTACTS_URL, {"page_size": 2, "ordering": ordering})

    assert seen == list(Contact.objects.order_by(*order_by).values_list("id", flat=True))


def test_following_previous_walks_back_to_the_first_page(reader):
    ContactFactory.create_batch(7)
    _, pages = walk(reader, CONTACTS_URL, {"page_size": 3, "ordering": "first_name"})

    back = reader.get(pages[-1]["previous"]).json()
    assert back["results"] == pages[1]["results"]
    first = reader.get(back["previous"]).json()
    assert first["results"] == pages[0]["results"]
    assert first["previous"] is None
    # And forward again from a page reached backwards.
    assert reader.get(first["next"]).json()["results"] == pages[1]["results"]


def test_pages_do_not_shift_when_contacts_are_added_meanwhile(reader):
    ContactFactory.create_batch(4)
    first = reader.get(CONTACTS_URL, {"page_size": 2}).json()
    shown = [row["id"] for row in first["results"]]

    ContactFactory.create_batch(3)  # newer: they would push page 2 along with page numbers
    second = [row["id"] for row in results(reader.get(first["next"]))]

    older = Contact.objects.exclude(pk__in=shown).order_by("-updated_at", "-id")
    assert second == [c.pk for c in older if c.pk < min(shown)][:2]


def test_a_cursor_past_the_end_gives_an_empty_page_that_links_back_to_the_last(reader):
    contacts = ContactFactory.create_batch(3)
    first = reader.get(CONTACTS_URL, {"page_size": 2}).json()
    Contact.objects.filter(pk__in=[c.pk for c in contacts]).exclude(
        pk__in=[row["id"] for row in first["results"]]
    ).delete()

    after = reader.get(first["next"]).json()

    assert after["results"] == [] and after["next"] is None
    assert reader.get(after["previous"]).json()["results"] == first["results"]


def encode(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        encode([1, 2]),
        encode({"o": ["-updated_at", "-id"], "p": "x"}),
        encode({"o": ["-updated_at", "-id"], "p": ["2026-01-01T00:00:00Z"]}),
        encode({"o": ["-updated_at", "-id"], "p": ["yesterday", 5]}),
        encode({"o": ["-updated_at", "-id"], "p": ["2026-01-01T00:00:00Z", 2**70]}),
        encode({"o": ["-updated_at", "-id"], "p": ["2026-01-01T00:00:00Z", "x"]}),
        encode({"o": ["-updated_at", "-id"], "p": [None, 5]}),
        encode({"o": ["-updated_at", "-id"], "p": [True, 5]}),
        encode({"o": ["-updated_at", "-id"], "p": ["2026-01-01T00:00:00Z", 5], "r": "yes"}),
        encode({"o": ["first_name", "id"], "p": ["a\x00b", 5]}),
        "x" * 5000,
    ],
)
def test_a_cursor_this_api_did_not_make_is_400_invalid_cursor(reader, cursor):
    ContactFactory()
    params = {"cursor": cursor}
    if "first_name" in base64.urlsafe_b64decode(cursor + "===").decode(errors="ignore"):
        params["ordering"] = "first_name"

    response = reader.get(CONTACTS_URL, params)

    assert response.status_code == 400
    assert error_codes(response) == {"cursor": ["invalid_cursor"]}


def test_a_cursor_used_with_another_ordering_is_400_invalid_cursor(reader):
    ContactFactory.create_batch(3)
    next_url = reader.get(CONTACTS_URL, {"page_size": 1, "ordering": "company"}).json()["next"]

    response = reader.get(next_url.replace("ordering=company", "ordering=-email"))

    assert response.status_code == 400
    assert error_codes(response) == {"cursor": ["invalid_cursor"]}
    assert "another ordering" in response.json()["errors"][0]["detail"]


# --- clients of the page-number API --------------------------------------------------------


def test_page_numbers_still_work_with_a_count_for_existing_clients(reader):
    ContactFactory.create_batch(5)

    body = reader.get(CONTACTS_URL, {"page": 2, "page_size": 2}).json()

    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert "page=3" in body["next"] and body["previous"]


def test_page_numbers_serve_the_same_items_as_the_cursor(reader, writer, custom_fields):
    make_rich_contacts(writer)

    by_page = reader.get(CONTACTS_URL, {"page": 1}).json()["results"]

    assert json.dumps(by_page) == json.dumps(results(reader.get(CONTACTS_URL)))


def test_page_and_cursor_together_are_400(reader):
    ContactFactory.create_batch(3)
    next_url = reader.get(CONTACTS_URL, {"page_size": 1}).json()["next"]

    response = reader.get(next_url + "&page=2")

    assert response.status_code == 400
    assert error_codes(response) == {"page": ["invalid"]}


# --- the schema ----------------------------------------------------------------------------


def test_the_schema_documents_the_cursor_envelope_and_the_deprecated_page():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"][CONTACTS_URL]["get"]

    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"cursor", "page_size", "page"} <= set(parameters)
    assert parameters["page"]["deprecated"] is True
    envelope = operation["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in envelope:
        envelope = schema["components"]["schemas"][envelope["$ref"].rsplit("/", 1)[-1]]
    assert envelope["required"] == ["next", "previous", "results"]
    assert {"count", "next", "previous", "results"} == set(envelope["properties"])
    errors = json.dumps(operation["responses"]["400"])
    assert "invalid_cursor" in json.dumps(schema["components"]) and "400" in errors
