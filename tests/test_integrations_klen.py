"""The Klen AI adapter against the sandbox, over real HTTP: every field of the seed, the lookup by
email, and each documented error code in its class, kept on the link."""

import pytest
import requests

from crm.models import CustomField
from crm.services import contact_upsert
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.providers.klen import KlenAdapter
from integrations.push import Result, link_push
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import expect_error, provider_sandbox


@pytest.fixture
def box(sandbox_server):
    return provider_sandbox(sandbox_server, "klen")


def make_adapter(box, **options) -> KlenAdapter:
    return KlenAdapter(base_url=box.base_url, api_key=SANDBOX_KEY, options=options)


@pytest.fixture
def adapter(box) -> KlenAdapter:
    return make_adapter(box, team_id=2)


@pytest.fixture
def john(db, custom_field_factory):
    custom_field_factory(key="industry", type=CustomField.Type.TEXT)
    custom_field_factory(key="seats", type=CustomField.Type.NUMBER)
    custom_field_factory(key="vip", type=CustomField.Type.BOOLEAN)
    return contact_upsert(
        data={
            "first_name": "John",
            "last_name": "Doe",
            "email": "John@Acme.com",
            "company": "Acme Corp",
            "website": "https://acme.example.com",
            "address": "1 Market St",
            "city": "San Francisco",
            "state": "CA",
            "zip_code": "94105",
            "country": "US",
            "status": "contacted",
            "stage": "qualified_lead",
            "title": "CTO",  # Klen has no title field
        },
        phone_numbers=[
            {"number": "+1 415 555 2671", "type": "work", "do_not_call": True},
            {"number": "+12125550102", "type": "mobile", "is_primary": True},
        ],
        tags=["VIP", "enterprise"],
        custom_fields={"industry": "Software", "seats": "12", "vip": "yes"},
    )


JOHN_PAYLOAD = {
    "first_name": "John",
    "last_name": "Doe",
    "email": "john@acme.com",
    "company": "Acme Corp",
    "website": "https://acme.example.com",
    "address": "1 Market St",
    "city": "San Francisco",
    "state": "CA",
    "zip_code": "94105",
    "country": "US",
    "status": "contacted",
    "stage": "qualified_lead",
    "tags": ["enterprise", "VIP"],
    "phone_numbers": [
        {
            "phone_number": "+12125550102",
            "phone_type": "mobile",
            "primary": True,
            "do_not_call": False,
        },
        {
            "phone_number": "+14155552671",
            "phone_type": "work",
            "primary": False,
            "do_not_call": True,
        },
    ],
    "custom_context": {"industry": "Software", "seats": 12, "vip": True},
    "team_id": 2,
}


def test_it_maps_every_field_of_the_seed(adapter, john):
    assert adapter.build_payload(john) == JOHN_PAYLOAD


def test_team_id_is_sent_only_when_the_connection_sets_it(box, john):
    assert "team_id" not in make_adapter(box).build_payload(john)
    assert make_adapter(box, team_id="1").build_payload(john)["team_id"] == 1


def test_create_posts_to_the_create_path_with_a_bearer_key_and_stores_the_id_as_text(
    adapter, box, john
):
    remote_id = adapter.create(adapter.build_payload(john))

    [request] = box.requests()
    assert (request["method"], request["path"]) == ("POST", "/contacts/create")
    assert request["body"] == JOHN_PAYLOAD
    [stored] = box.contacts()
    assert remote_id == str(stored["id"]) and isinstance(stored["id"], int)
    assert stored["address"]["street"] == "1 Market St"
    assert [p["primary"] for p in stored["phone_numbers"]] == [True, False]


def test_create_leaves_out_empty_fields(box, db):
    adapter = make_adapter(box)
    contact = contact_upsert(data={"first_name": "Solo"})
    adapter.create(adapter.build_payload(contact))
    assert box.requests()[0]["body"] == {
        "first_name": "Solo",
        "status": "not_contacted",
        "stage": "lead",
        "tags": [],
        "phone_numbers": [],
        "custom_context": {},
    }


def test_update_patches_the_update_path_with_nulls(adapter, box, john):
    remote_id = adapter.create(adapter.build_payload(john))
    payload = {**adapter.build_payload(john), "company": None, "tags": ["VIP"]}

    adapter.update(remote_id, payload)

    request = box.requests()[-1]
    assert (request["method"], request["path"]) == ("PATCH", f"/contacts/{remote_id}/update")
    assert request["body"] == payload
    [stored] = box.contacts()
    assert (stored["company"], stored["tags"]) == (None, ["VIP"])


def test_lookup_searches_the_email_and_matches_it_exactly(adapter, box, db):
    adapter.create({"first_name": "Jo", "email": "joann@example.com"})
    wanted = adapter.create({"first_name": "Ann", "email": "ann@example.com"})

    assert adapter.lookup({"email": "ANN@example.com"}) == wanted
    assert adapter.lookup({"email": "nn@example.com"}) is None
    assert adapter.lookup({"email": None}) is None
    request = box.requests()[2]
    assert (request["method"], request["path"]) == ("GET", "/contacts")
    assert request["query"] == {"search": "ann@example.com", "limit": "100", "page": "1"}


def test_lookup_pages_through_substring_matches(adapter, box, db):
    for n in range(105):
        adapter.create({"first_name": f"N{n}", "email": f"{n}x@example.com"})
    wanted = adapter.create({"first_name": "Last", "email": "x@example.com"})

    assert adapter.lookup({"email": "x@example.com"}) == wanted
    assert [r["query"]["page"] for r in box.requests() if r["method"] == "GET"] == ["1", "2"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"last_name": "Doe"}, 400, "missing_first_name"),
        ({"first_name": "A", "email": "a@b"}, 400, "validation_error"),
        ({"first_name": "A", "phone_numbers": [{"phone_number": "555"}]}, 400, "validation_error"),
    ],
)
def test_validation_codes_are_permanent(adapter, body, status, code):
    error = expect_error(lambda: adapter.create(body))
    assert (error.status, error.code, error.permanent, error.auth) == (status, code, True, False)


def test_validation_details_are_in_the_message(adapter):
    error = expect_error(lambda: adapter.create({"first_name": "A", "email": "a@b"}))
    assert error.message == "Validation error (email: Enter a valid email address.)"


@pytest.mark.parametrize(
    ("team_id", "status", "code"),
    [(404, 404, "team_not_found"), (9, 403, "team_access_denied")],
)
def test_team_errors_are_connection_errors(box, team_id, status, code):
    error = expect_error(lambda: make_adapter(box).create({"first_name": "A", "team_id": team_id}))
    assert (error.status, error.code, error.misconfigured) == (status, code, True)
    assert error.auth is (status == 403)  # auth means 401/403 only


@pytest.mark.parametrize(
    ("key", "code"),
    [("", "authentication_required"), ("klen_wrong_key_that_must_not_leak", "invalid_key")],
)
def test_key_errors_are_auth(box, key, code):
    adapter = KlenAdapter(base_url=box.base_url, api_key=key)
    error = expect_error(lambda: adapter.lookup({"email": "a@example.com"}))
    assert (error.status, error.code, error.auth) == (401, code, True)
    assert not key or key not in str(error)


def test_a_key_without_contact_permission_is_denied(box):
    box.add_key("klen_calls_only_000000", ["can_read_calls"])
    adapter = KlenAdapter(base_url=box.base_url, api_key="klen_calls_only_000000")
    error = expect_error(lambda: adapter.lookup({"email": "a@example.com"}))
    assert (error.status, error.code, error.auth) == (403, "permission_denied", True)


def test_server_error_is_retryable(adapter, box):
    box.faults(fail_next=1)
    error = expect_error(lambda: adapter.create({"first_name": "A"}))
    assert (error.status, error.code, error.retryable) == (500, "server_error", True)


def test_rate_limit_exceeded_carries_retry_after(adapter, box):
    box.faults(rate_limit=1, rate_window=60)
    adapter.lookup({"email": "a@example.com"})
    error = expect_error(lambda: adapter.lookup({"email": "a@example.com"}))
    assert (error.status, error.code, error.retryable) == (429, "rate_limit_exceeded", True)
    assert 0 < error.retry_after <= 60


def test_every_documented_key_transport_works(box):
    url = box.base_url + "/contacts"
    for headers, params in (
        ({"Authorization": f"Bearer {SANDBOX_KEY}"}, {}),
        ({"X-API-Key": SANDBOX_KEY}, {}),
        ({}, {"api_key": SANDBOX_KEY}),
    ):
        assert requests.get(url, headers=headers, params=params, timeout=5).status_code == 200


def test_an_unknown_team_pauses_the_connection_and_keeps_the_code(box, db):
    connection = Connection(
        name="klen", provider="klen", base_url=box.base_url, options={"team_id": 404}, rate_limit=0
    )
    connection.api_key = SANDBOX_KEY
    connection.save()
    contact = contact_upsert(data={"first_name": "A", "email": "a@example.com"})
    link = RemoteLink.objects.get(contact=contact, connection=connection)

    assert link_push(link_id=link.pk) == Result.PAUSED
    link.refresh_from_db()
    connection.refresh_from_db()
    assert (link.state, link.last_error_code) == ("pending", "team_not_found")
    assert "team_not_found" in connection.paused_reason
    # The attempt says what went wrong: the connection's settings, not its key.
    attempt = PushAttempt.objects.filter(link=link).latest("pk")
    assert (attempt.outcome, attempt.get_outcome_display()) == (
        "misconfigured",
        "Connection misconfigured",
    )


def test_a_refused_key_is_an_authentication_error_on_the_attempt(box, db):
    connection = Connection(name="klen", provider="klen", base_url=box.base_url, rate_limit=0)
    connection.api_key = "klen_wrong_key_000000"
    connection.save()
    contact = contact_upsert(data={"first_name": "A", "email": "a@example.com"})
    link = RemoteLink.objects.get(contact=contact, connection=connection)

    assert link_push(link_id=link.pk) == Result.PAUSED
    assert list(PushAttempt.objects.filter(link=link).values_list("outcome", flat=True)) == ["auth"]


def test_an_unknown_team_on_update_pauses_without_recreating(box, db):
    connection = Connection(name="klen", provider="klen", base_url=box.base_url, rate_limit=0)
    connection.api_key = SANDBOX_KEY
    connection.save()
    contact = contact_upsert(data={"first_name": "A", "email": "a@example.com"})
    link = RemoteLink.objects.get(contact=contact, connection=connection)
    assert link_push(link_id=link.pk) == Result.SYNCED
    Connection.objects.filter(pk=connection.pk).update(options={"team_id": 404})
    contact_upsert(contact=contact, data={"last_name": "B"})

    assert link_push(link_id=link.pk) == Result.PAUSED
    assert [r["method"] for r in box.requests()][-1] == "PATCH"  # no lookup, no second create
    assert len(box.contacts()) == 1
