"""Write answers: what a write shows, writes that change nothing, ETag and If-Match."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from crm.services import contact_upsert
from crm.signals import contact_changed
from integrations.models import Connection, RemoteLink
from tests.api_helpers import CONTACTS_URL, READ, WRITE, detail_url, error_codes

pytestmark = pytest.mark.django_db

BODY = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "country": "gb",
    "phone_numbers": [{"number": "+1 415 555 0100"}, {"number": "+14155550101", "type": "work"}],
    "tags": ["VIP", "tech"],
}


@pytest.fixture
def changes():
    """The contact_changed signals sent during the test (each would mark links pending)."""
    sent = []

    def receiver(sender, contact, created, **kwargs):
        sent.append((contact.pk, created))

    contact_changed.connect(receiver)
    yield sent
    contact_changed.disconnect(receiver)


@pytest.fixture
def stored(api_client) -> dict:
    response = api_client.post(CONTACTS_URL, BODY, format="json")
    assert response.status_code == 201
    return response.json()


# --- a write answer shows no more than the caller may read ----------------------------------


def test_a_write_only_key_gets_the_id_and_updated_at_of_what_it_updated(writer, stored):
    response = writer.patch(detail_url(stored["id"]), {}, format="json")

    assert response.status_code == 200
    assert response.json() == {"id": stored["id"], "updated_at": stored["updated_at"]}


def test_a_write_only_key_gets_only_the_id_and_updated_at_of_what_it_created(writer):
    response = writer.post(CONTACTS_URL, BODY, format="json")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "updated_at"}
    assert response["Location"].endswith(detail_url(body["id"]))
    assert Contact.objects.get(pk=body["id"]).email == "ada@example.com"


def test_a_write_only_key_put_shows_nothing_of_the_contact(writer, stored):
    response = writer.put(detail_url(stored["id"]), {"first_name": "Augusta"}, format="json")

    assert response.status_code == 200
    assert set(response.json()) == {"id", "updated_at"}


def test_a_key_that_may_read_gets_the_whole_contact(make_client, stored):
    response = make_client(READ, WRITE).patch(
        detail_url(stored["id"]), {"title": "Countess"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    assert response.json()["title"] == "Countess"


def test_a_staff_session_that_may_only_add_contacts_gets_the_receipt(client, django_user_model):
    user = django_user_model.objects.create_user("adder", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_contact"))
    client.force_login(user)

    response = client.post(
        CONTACTS_URL, BODY, content_type="application/json", HTTP_ACCEPT="application/json"
    )

    assert response.status_code == 201
    assert set(response.json()) == {"id", "updated_at"}


# --- a write that changes nothing changes nothing -------------------------------------------


@pytest.mark.parametrize(
    "method, body",
    [
        ("patch", {}),
        ("patch", {"first_name": "Ada", "country": "GB", "tags": ["tech", "vip"]}),
        (
            "patch",
            {
                "phone_numbers": [
                    {"number": "+14155550101", "type": "work"},
                    {"number": "4155550100", "is_primary": True},
                ]
            },
        ),
        ("put", {"first_name": "Ada", "email": "ADA@example.com", "country": "United Kingdom"}),
        ("patch", {"custom_fields": {}}),
    ],
)
def test_a_write_with_the_stored_values_writes_nothing_and_pushes_nothing(
    api_client, stored, changes, method, body
):
    before = Contact.objects.get(pk=stored["id"])
    phone_ids = sorted(before.phone_numbers.values_list("pk", flat=True))

    with CaptureQueriesContext(db_connection) as queries:
        response = getattr(api_client, method)(detail_url(stored["id"]), body, format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == stored
    writes = [q["sql"] for q in queries if q["sql"].startswith(("UPDATE", "INSERT", "DELETE"))]
    assert writes == []
    assert changes == []
    after = Contact.objects.get(pk=stored["id"])
    assert after.updated_at == before.updated_at
    assert sorted(after.phone_numbers.values_list("pk", flat=True)) == phone_ids


def test_putting_back_the_body_a_get_returned_writes_nothing(api_client, stored, changes):
    with CaptureQueriesContext(db_connection) as queries:
        response = api_client.put(detail_url(stored["id"]), stored, format="json")

    assert response.status_code == 200, response.json()
    assert response.json() == stored
    assert not [q for q in queries if q["sql"].startswith(("UPDATE", "INSERT", "DELETE"))]
    assert changes == []


def test_a_write_that_changes_one_thing_still_saves_and_pushes(api_client, stored, changes):
    response = api_client.patch(detail_url(stored["id"]), {"tags": ["VIP"]}, format="json")

    assert response.status_code == 200
    assert response.json()["tags"] == ["VIP"]
    assert response.json()["updated_at"] > stored["updated_at"]
    assert changes == [(stored["id"], False)]


def test_an_unchanged_phone_flag_change_is_a_change(api_client, stored, changes):
    phones = [
        {"number": "+14155550100", "do_not_call": True},
        {"number": "+14155550101", "type": "work"},
    ]
    response = api_client.patch(detail_url(stored["id"]), {"phone_numbers": phones}, format="json")

    assert response.status_code == 200
    assert response.json()["phone_numbers"][0]["do_not_call"] is True
    assert changes == [(stored["id"], False)]


# --- ETag and If-Match ----------------------------------------------------------------------


def test_every_contact_answer_carries_the_same_etag_for_the_same_representation(api_client, stored):
    created = api_client.post(CONTACTS_URL, {**BODY, "email": "b@example.com"}, format="json")
    got = api_client.get(detail_url(created.json()["id"]))
    unchanged = api_client.patch(detail_url(created.json()["id"]), {}, format="json")

    assert created["ETag"].startswith('"') and created["ETag"].endswith('"')
    assert got["ETag"] == created["ETag"] == unchanged["ETag"]


def test_the_etag_changes_when_the_contact_changes(api_client, stored):
    before = api_client.get(detail_url(stored["id"]))["ETag"]
    updated = api_client.patch(detail_url(stored["id"]), {"city": "London"}, format="json")

    assert updated["ETag"] != before
    assert api_client.get(detail_url(stored["id"]))["ETag"] == updated["ETag"]


def test_the_etag_changes_when_only_remote_links_change(api_client, stored):
    before = api_client.get(detail_url(stored["id"]))["ETag"]
    target = Connection.objects.create(name="Etag target", provider="getraze", api_key="k")
    RemoteLink.objects.create(contact_id=stored["id"], connection=target)

    assert api_client.get(detail_url(stored["id"]))["ETag"] != before


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_write_with_the_current_etag_is_applied(api_client, stored, method):
    etag = api_client.get(detail_url(stored["id"]))["ETag"]

    response = getattr(api_client, method)(
        detail_url(stored["id"]), {"first_name": "Augusta"}, format="json", HTTP_IF_MATCH=etag
    )

    assert response.status_code == 200
    assert response.json()["first_name"] == "Augusta"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_write_with_a_stale_etag_is_412_and_writes_nothing(api_client, stored, changes, method):
    stale = api_client.get(detail_url(stored["id"]))["ETag"]
    api_client.patch(detail_url(stored["id"]), {"city": "London"}, format="json")
    changes.clear()

    response = getattr(api_client, method)(
        detail_url(stored["id"]), {"first_name": "Augusta"}, format="json", HTTP_IF_MATCH=stale
    )

    assert response.status_code == 412
    assert response.json()["type"] == "client_error"
    assert error_codes(response) == {None: ["precondition_failed"]}
    contact = Contact.objects.get(pk=stored["id"])
    assert (contact.first_name, contact.city) == ("Ada", "London")
    assert changes == []


@pytest.mark.parametrize(
    "header",
    ["*", 'W/"x", {etag}', '"other", {etag}'],
)
def test_if_match_accepts_a_star_or_a_list_holding_the_current_etag(api_client, stored, header):
    etag = api_client.get(detail_url(stored["id"]))["ETag"]

    response = api_client.patch(
        detail_url(stored["id"]),
        {"title": "Countess"},
        format="json",
        HTTP_IF_MATCH=header.format(etag=etag),
    )

    assert response.status_code == 200


@pytest.mark.parametrize("header", ["W/{etag}", "garbage", ""])
def test_if_match_compares_strongly_and_refuses_what_is_not_an_etag(api_client, stored, header):
    etag = api_client.get(detail_url(stored["id"]))["ETag"]

    response = api_client.patch(
        detail_url(stored["id"]),
        {"title": "Countess"},
        format="json",
        HTTP_IF_MATCH=header.format(etag=etag),
    )

    assert response.status_code == 412
    assert error_codes(response) == {None: ["precondition_failed"]}


def test_delete_with_the_current_etag_deletes(api_client, stored):
    etag = api_client.get(detail_url(stored["id"]))["ETag"]

    response = api_client.delete(detail_url(stored["id"]), HTTP_IF_MATCH=etag)

    assert response.status_code == 204
    assert not Contact.objects.filter(pk=stored["id"]).exists()


def test_if_match_on_a_missing_contact_is_404(api_client):
    response = api_client.patch(detail_url(999999), {}, format="json", HTTP_IF_MATCH='"abc"')

    assert response.status_code == 404


def test_a_write_only_key_gets_the_etag_it_needs_for_if_match(writer, api_client, stored):
    etag = api_client.get(detail_url(stored["id"]))["ETag"]
    first = writer.patch(detail_url(stored["id"]), {}, format="json")

    assert first["ETag"] == etag
    response = writer.patch(
        detail_url(stored["id"]), {"city": "Paris"}, format="json", HTTP_IF_MATCH=etag
    )
    assert response.status_code == 200


def test_the_schema_documents_etag_if_match_412_and_the_receipt(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    item = schema["paths"]["/api/v1/contacts/{id}/"]

    for method in ("put", "patch", "delete"):
        names = {(p["name"], p["in"]) for p in item[method]["parameters"]}
        assert ("If-Match", "header") in names
        assert "412" in item[method]["responses"]
    for method in ("get", "put", "patch"):
        assert "ETag" in item[method]["responses"]["200"]["headers"]
    assert "ETag" in schema["paths"]["/api/v1/contacts/"]["post"]["responses"]["201"]["headers"]
    answer = item["patch"]["responses"]["200"]["content"]["application/json"]["schema"]
    receipt = answer["oneOf"][1]
    assert receipt["required"] == ["id", "updated_at"]
    assert receipt["additionalProperties"] is False


def test_the_service_itself_skips_a_write_that_changes_nothing(stored, changes):
    contact = Contact.objects.get(pk=stored["id"])
    before = contact.updated_at

    contact_upsert(
        contact=contact,
        data={"first_name": "Ada", "email": " Ada@Example.com "},
        phone_numbers=[{"number": "+14155550100"}, {"number": "+14155550101", "type": "work"}],
        tags=["tech", "vip"],
    )

    assert Contact.objects.get(pk=stored["id"]).updated_at == before
    assert changes == []
