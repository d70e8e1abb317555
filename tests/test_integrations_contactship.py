"""The Contactship adapter against the sandbox, over real HTTP: the seed's fields, its 409 and
lookup by phone, the skip without a phone, and each error class."""

import pytest
import requests

from crm.models import CustomField
from crm.services import contact_upsert
from integrations.models import RemoteLink
from integrations.providers.contactship import ContactshipAdapter
from integrations.push import Result, link_push
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import expect_error, provider_sandbox


@pytest.fixture
def box(sandbox_server):
    return provider_sandbox(sandbox_server, "contactship")


@pytest.fixture
def adapter(box) -> ContactshipAdapter:
    return ContactshipAdapter(base_url=box.base_url, api_key=SANDBOX_KEY)


@pytest.fixture
def juan(db, custom_field_factory):
    """The seed's "complete" example, as a contact of ours."""
    custom_field_factory(key="notas", type=CustomField.Type.TEXT)
    custom_field_factory(key="seats", type=CustomField.Type.NUMBER)
    custom_field_factory(key="renewal", type=CustomField.Type.DATE)
    custom_field_factory(key="vip", type=CustomField.Type.BOOLEAN)
    return contact_upsert(
        data={
            "first_name": "Juan",
            "last_name": "Pérez",
            "email": "juan@ejemplo.com",
            "country": "MX",
            "description": "Lead from LinkedIn campaign",
            "company": "Ejemplo SA",
            "title": "CTO",
            "address": "Av. Insurgentes 123",
            "city": "Ciudad de México",
            "zip_code": "03100",
        },
        phone_numbers=[{"number": "+1 212 456 7890"}],
        tags=["vip", "Premium"],
        custom_fields={
            "notas": "Cliente potencial para servicio premium",
            "seats": "12",
            "renewal": "2027-01-31",
            "vip": True,
        },
    )


JUAN_PAYLOAD = {
    "full_name": "Juan Pérez",
    "phone_number": "+12124567890",
    "country": "Mexico",
    "email": "juan@ejemplo.com",
    "description": "Lead from LinkedIn campaign",
    "additional_data": [
        {"type": "text", "field": "company", "value": "Ejemplo SA"},
        {"type": "text", "field": "job_title", "value": "CTO"},
        {
            "type": "location",
            "field": "address",
            "value": "Av. Insurgentes 123, Ciudad de México, 03100",
        },
        {"type": "text", "field": "tags", "value": "Premium, vip"},
        {"type": "text", "field": "notas", "value": "Cliente potencial para servicio premium"},
        {"type": "date", "field": "renewal", "value": "2027-01-31"},
        {"type": "number", "field": "seats", "value": "12"},
        {"type": "text", "field": "vip", "value": "true"},
    ],
}


def test_it_maps_the_seed_fields_and_types_the_additional_data(adapter, juan):
    assert adapter.build_payload(juan) == JUAN_PAYLOAD


def test_empty_fields_are_null_and_no_additional_data_is_an_empty_list(adapter, db):
    contact = contact_upsert(
        data={"first_name": "Ana"}, phone_numbers=[{"number": "+525512345678"}]
    )
    assert adapter.build_payload(contact) == {
        "full_name": "Ana",
        "phone_number": "+525512345678",
        "country": None,
        "email": None,
        "description": None,
        "additional_data": [],
    }


def test_create_posts_the_seed_body_with_the_key_header_and_returns_the_id(adapter, box, juan):
    remote_id = adapter.create(adapter.build_payload(juan))

    [request] = box.requests()
    assert (request["method"], request["path"]) == ("POST", "/v1/contacts")
    assert request["body"] == JUAN_PAYLOAD
    [stored] = box.contacts()
    assert stored["id"] == remote_id and stored["organization_id"]


def test_create_leaves_out_empty_fields(adapter, box, db):
    contact = contact_upsert(
        data={"first_name": "Ana"}, phone_numbers=[{"number": "+525512345678"}]
    )
    adapter.create(adapter.build_payload(contact))
    assert box.requests()[0]["body"] == {
        "full_name": "Ana",
        "phone_number": "+525512345678",
        "additional_data": [],
    }


def test_update_patches_the_whole_payload_nulls_included(adapter, box, juan):
    remote_id = adapter.create(adapter.build_payload(juan))
    payload = {**adapter.build_payload(juan), "email": None, "additional_data": []}

    adapter.update(remote_id, payload)

    request = box.requests()[-1]
    assert (request["method"], request["path"]) == ("PATCH", f"/v1/contacts/{remote_id}")
    assert request["body"] == payload
    [stored] = box.contacts()
    assert (stored["email"], stored["additional_data"]) == (None, [])


def test_lookup_gets_by_phone_number_identifier(adapter, box, juan):
    remote_id = adapter.create(adapter.build_payload(juan))
    assert adapter.lookup({"phone_number": "+12124567890"}) == remote_id
    assert adapter.lookup({"phone_number": "+12124567891"}) is None
    request = box.requests()[1]
    # The "+" travels percent-encoded, as the docs ask.
    assert (request["method"], request["path"]) == ("GET", "/v1/contacts/%2B12124567890")
    assert request["query"] == {"identifierType": "phone_number"}


def test_a_contact_without_phone_is_skipped_with_the_reason(adapter, db):
    contact = contact_upsert(data={"first_name": "Ana", "email": "ana@example.com"})
    assert adapter.skip_reason(adapter.build_payload(contact)) == (
        "Contactship requires a phone number"
    )


def test_the_skipped_link_is_pushed_once_a_phone_is_added(box, db):
    from integrations.connections import connection_upsert

    connection, _ = connection_upsert(
        name="cs", provider="contactship", api_key=SANDBOX_KEY, base_url=box.base_url,
        auto_push=True, rate_limit=0,
    )  # fmt: skip
    contact = contact_upsert(data={"first_name": "Ana", "email": "ana@example.com"})
    link = RemoteLink.objects.get(contact=contact, connection=connection)
    assert link_push(link_id=link.pk) == Result.SKIPPED
    link.refresh_from_db()
    assert (link.state, link.last_error_message) == (
        "skipped",
        "Contactship requires a phone number",
    )
    assert box.requests() == []

    contact_upsert(contact=contact, phone_numbers=[{"number": "+525512345678"}])
    link.refresh_from_db()
    assert link.state == "pending"
    assert link_push(link_id=link.pk) == Result.SYNCED
    assert box.contacts()[0]["phone_number"] == "+525512345678"


def test_a_duplicate_phone_is_a_409(adapter, juan):
    adapter.create(adapter.build_payload(juan))
    error = expect_error(lambda: adapter.create(adapter.build_payload(juan)))
    assert (error.status, error.code, error.permanent) == (409, "http_409", True)
    assert error.message == "Contact with the same phone number already exists"


def test_invalid_input_is_permanent_with_the_messages(adapter):
    error = expect_error(
        lambda: adapter.create({"full_name": "A", "phone_number": "2124567890", "email": "a@b"})
    )
    assert (error.status, error.code, error.permanent, error.auth) == (400, "http_400", True, False)
    assert error.message == (
        "phone_number must be a valid phone number in international format; email must be an email"
    )


def test_not_found_on_update(adapter):
    error = expect_error(
        lambda: adapter.update("0b6f2c8e-1d7a-4c51-9b8e-3f2d6a7c9e10", {"full_name": "A"})
    )
    assert error.status == 404


def test_a_wrong_key_is_auth_without_leaking_it(box):
    secret = "cs_live_wrong_key_that_must_not_leak"
    adapter = ContactshipAdapter(base_url=box.base_url, api_key=secret)
    error = expect_error(lambda: adapter.lookup({"phone_number": "+12124567890"}))
    assert (error.status, error.auth, error.message) == (401, True, "Invalid or missing API key")
    assert secret not in str(error)


def test_only_the_x_api_key_header_is_accepted(box):
    url = box.base_url + "/v1/contacts"
    bearer = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    assert requests.get(url, headers=bearer, timeout=5).status_code == 401
    assert requests.get(url, headers={"x-api-key": SANDBOX_KEY}, timeout=5).status_code == 200


def test_a_429_honours_retry_after(adapter, box):
    box.faults(rate_limit=1, rate_window=60)
    adapter.lookup({"phone_number": "+12124567890"})
    error = expect_error(lambda: adapter.lookup({"phone_number": "+12124567890"}))
    assert (error.status, error.retryable) == (429, True)
    assert 0 < error.retry_after <= 60


def test_a_500_is_retryable_and_ambiguous(adapter, box):
    box.faults(fail_next=1)
    error = expect_error(lambda: adapter.create({"full_name": "A", "phone_number": "+12125550100"}))
    assert (error.status, error.retryable, error.ambiguous) == (500, True, True)
    assert error.message == "Injected failure."


def test_an_update_to_a_phone_another_contact_has_is_a_409(adapter, juan):
    adapter.create({"full_name": "Other", "phone_number": "+12125550100"})
    remote_id = adapter.create(adapter.build_payload(juan))
    payload = {**adapter.build_payload(juan), "phone_number": "+12125550100"}
    error = expect_error(lambda: adapter.update(remote_id, payload))
    assert (error.status, error.permanent) == (409, True)
    assert error.message == "Another contact already has this phone number"
