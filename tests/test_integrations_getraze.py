"""The GetRaze adapter against the sandbox, over real HTTP: every documented success and error."""

import socket
import time

import pytest

from crm.models import CustomField
from crm.services import contact_upsert
from integrations.providers import ProviderError
from integrations.providers.getraze import GetRazeAdapter
from tests.integrations_helpers import SANDBOX_KEY


@pytest.fixture
def adapter(sandbox) -> GetRazeAdapter:
    return GetRazeAdapter(base_url=sandbox.base_url, api_key=SANDBOX_KEY)


@pytest.fixture
def jane(db, custom_field_factory):
    custom_field_factory(key="industry", type=CustomField.Type.TEXT)
    custom_field_factory(key="seats", type=CustomField.Type.NUMBER)
    return contact_upsert(
        data={
            "first_name": "Jane",
            "last_name": "Smith",
            "email": "Jane@Company.com",
            "company": "Tech Corp",
            "title": "CTO",
            "linkedin_url": "https://www.linkedin.com/in/janesmith",
            "source": "referral",
        },
        phone_numbers=[
            {"number": "+1 212 555 0101", "type": "work"},
            {"number": "+5511988888888", "is_primary": True},
        ],
        tags=["tech", "Hot-lead"],
        custom_fields={"seats": "12", "industry": "Software"},
    )


JANE_PAYLOAD = {
    "name": "Jane Smith",
    "email": "jane@company.com",
    "phone": "+5511988888888",
    "company": "Tech Corp",
    "position": "CTO",
    "title": "CTO",
    "linkedin_url": "https://www.linkedin.com/in/janesmith",
    "linkedin_profile_url": "https://www.linkedin.com/in/janesmith",
    "source": "referral",
    "tags": ["Hot-lead", "tech"],
    "custom_fields": {"industry": "Software", "seats": 12},
}


def test_it_maps_every_documented_field(adapter, jane):
    assert adapter.build_payload(jane) == JANE_PAYLOAD


def test_it_sends_empty_fields_as_null_so_an_update_clears_them(adapter, db):
    contact = contact_upsert(data={"first_name": "Solo", "email": "solo@example.com"})
    assert adapter.build_payload(contact) == {
        "name": "Solo",
        "email": "solo@example.com",
        "phone": None,
        "company": None,
        "position": None,
        "title": None,
        "linkedin_url": None,
        "linkedin_profile_url": None,
        "source": "other",
        "tags": [],
        "custom_fields": {},
    }


def test_the_source_option_overrides_the_contacts_source(sandbox, jane):
    adapter = GetRazeAdapter(
        base_url=sandbox.base_url, api_key=SANDBOX_KEY, options={"source": "relay-crm"}
    )
    assert adapter.build_payload(jane)["source"] == "relay-crm"


def test_it_skips_a_contact_without_email_and_phone(adapter, db):
    contact = contact_upsert(data={"first_name": "Nameless"})
    reason = adapter.skip_reason(adapter.build_payload(contact))
    assert reason == "GetRaze needs an email or a phone number; this contact has neither."


def test_a_phone_alone_is_enough(adapter, db):
    contact = contact_upsert(
        data={"first_name": "Phone"}, phone_numbers=[{"number": "+12125550102"}]
    )
    assert adapter.skip_reason(adapter.build_payload(contact)) is None


def test_create_posts_the_payload_without_nulls_and_returns_data_id(adapter, sandbox, jane):
    payload = adapter.build_payload(jane)
    remote_id = adapter.create(payload)

    [request] = sandbox.requests()
    assert (request["method"], request["path"]) == ("POST", "/contacts")
    assert request["body"] == JANE_PAYLOAD
    [stored] = sandbox.contacts()
    assert stored["id"] == remote_id
    assert stored["title"] == "CTO"
    assert stored["linkedin_profile_url"] == "https://www.linkedin.com/in/janesmith"
    assert [t["name"] for t in stored["tags"]] == ["Hot-lead", "tech"]


def test_create_leaves_out_empty_fields(adapter, sandbox, db):
    contact = contact_upsert(data={"first_name": "Solo", "email": "solo@example.com"})
    adapter.create(adapter.build_payload(contact))
    assert sandbox.requests()[0]["body"] == {
        "name": "Solo",
        "email": "solo@example.com",
        "source": "other",
        "tags": [],
        "custom_fields": {},
    }


def test_update_puts_the_full_payload_with_nulls(adapter, sandbox, jane):
    remote_id = adapter.create(adapter.build_payload(jane))
    payload = {**adapter.build_payload(jane), "company": None, "tags": ["tech"]}

    adapter.update(remote_id, payload)

    request = sandbox.requests()[-1]
    assert (request["method"], request["path"]) == ("PUT", f"/contacts/{remote_id}")
    assert request["body"] == payload
    [stored] = sandbox.contacts()
    assert stored["company"] is None
    assert [t["name"] for t in stored["tags"]] == ["tech"]


def test_lookup_matches_the_email_exactly_not_as_a_substring(adapter, sandbox, db):
    other = adapter.create({"name": "Jo Ann", "email": "joann@example.com"})
    assert adapter.lookup({"email": "ann@example.com", "phone": None}) is None
    assert adapter.lookup({"email": "JOANN@example.com", "phone": None}) == other
    request = sandbox.requests()[-1]
    assert (request["method"], request["path"]) == ("GET", "/contacts")
    assert request["query"] == {"email": "joann@example.com", "limit": "100", "page": "1"}


def test_lookup_pages_through_substring_matches(adapter, sandbox, db):
    for n in range(120):
        adapter.create({"name": f"N{n}", "email": f"{n}x@example.com"})
    wanted = adapter.create({"name": "Last", "email": "x@example.com"})

    assert adapter.lookup({"email": "x@example.com", "phone": None}) == wanted
    pages = [r["query"]["page"] for r in sandbox.requests() if r["method"] == "GET"]
    assert pages == ["1", "2"]


def test_lookup_by_phone_when_there_is_no_email(adapter, sandbox, db):
    remote_id = adapter.create({"name": "Phone", "phone": "+12125550102"})
    assert adapter.lookup({"email": None, "phone": "+12125550102"}) == remote_id
    assert sandbox.requests()[-1]["query"]["phone"] == "+12125550102"


def test_it_reads_both_list_shapes(adapter):
    row = {"id": "1", "email": "a@b.co"}
    code = {"data": [row], "pagination": {"page": 1, "has_next": False}}
    docs = {"data": {"contacts": [row], "pagination": {"page": 1, "total_pages": 3}}}
    assert adapter.read_page(code, 1) == ([row], False)
    assert adapter.read_page(docs, 1) == ([row], True)
    assert adapter.read_page(docs, 3) == ([row], False)


def expect_error(call) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call()
    return info.value


def test_it_reports_validation_error_as_permanent_with_code_and_fields(adapter):
    error = expect_error(lambda: adapter.create({"name": " ", "email": "a@example.com"}))
    assert (error.status, error.code, error.permanent, error.auth) == (
        400,
        "VALIDATION_ERROR",
        True,
        False,
    )
    assert error.message == "Name is required (name: Name is required)"


def test_it_reports_invalid_email_as_permanent(adapter):
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@localhost"}))
    assert (error.status, error.code, error.permanent) == (400, "INVALID_EMAIL", True)


def test_it_reports_already_exists_as_a_409(adapter):
    adapter.create({"name": "A", "email": "a@example.com"})
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@example.com"}))
    assert (error.status, error.code, error.permanent) == (409, "ALREADY_EXISTS", True)


def test_it_reports_not_found_on_update(adapter):
    missing = "0b6f2c8e-1d7a-4c51-9b8e-3f2d6a7c9e10"
    error = expect_error(lambda: adapter.update(missing, {"name": "A"}))
    assert (error.status, error.code, error.permanent) == (404, "NOT_FOUND", True)


def test_it_flags_an_invalid_key_as_auth_without_printing_the_key(sandbox):
    secret = "lr_live_wrong_key_that_must_not_leak"
    adapter = GetRazeAdapter(base_url=sandbox.base_url, api_key=secret)
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@example.com"}))
    assert (error.status, error.code, error.auth, error.permanent) == (
        401,
        "INVALID_API_KEY",
        True,
        False,
    )
    assert secret not in str(error) and secret not in repr(adapter)


def test_it_flags_missing_permissions_as_auth(sandbox):
    sandbox.add_key("read-only-key-000000", ["contacts:read"])
    adapter = GetRazeAdapter(base_url=sandbox.base_url, api_key="read-only-key-000000")
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@example.com"}))
    assert (error.status, error.code, error.auth) == (403, "INSUFFICIENT_PERMISSIONS", True)


def test_a_5xx_is_retryable_and_ambiguous(adapter, sandbox):
    sandbox.faults(fail_next=1)
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@example.com"}))
    assert (error.status, error.code, error.retryable, error.ambiguous) == (
        500,
        "INTERNAL_ERROR",
        True,
        True,
    )


def test_a_429_carries_the_wait_from_the_body(adapter, sandbox):
    sandbox.faults(rate_limit=1, rate_window=3600)
    adapter.lookup({"email": "a@example.com", "phone": None})
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@example.com"}))
    assert (error.status, error.code, error.retryable) == (429, "RATE_LIMIT_EXCEEDED", True)
    seconds_to_hour_end = 3600 - time.time() % 3600
    assert abs(error.retry_after - seconds_to_hour_end) < 3


def test_a_429_prefers_a_retry_after_header(adapter, sandbox):
    sandbox.faults(rate_limit=1, rate_window=60, retry_after_header=True)
    adapter.lookup({"email": "a@example.com", "phone": None})
    error = expect_error(lambda: adapter.lookup({"email": "a@example.com", "phone": None}))
    assert error.status == 429 and 0 < error.retry_after <= 60


def test_no_answer_in_time_is_a_retryable_ambiguous_timeout(adapter, sandbox):
    sandbox.faults(timeout_next=1, timeout_seconds=1.0)
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@example.com"}))
    assert (error.status, error.code, error.retryable, error.ambiguous) == (
        None,
        "timeout",
        True,
        True,
    )
    assert sandbox.contacts() == []


def test_a_dropped_answer_after_create_is_ambiguous_and_the_record_exists(adapter, sandbox):
    sandbox.faults(drop_after_create_next=1)
    error = expect_error(lambda: adapter.create({"name": "A", "email": "a@example.com"}))
    assert (error.code, error.retryable, error.ambiguous) == ("connection_error", True, True)
    assert len(sandbox.contacts()) == 1


def test_a_refused_connection_is_retryable(db):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = GetRazeAdapter(base_url=f"http://127.0.0.1:{port}/external/v1", api_key="k")
    error = expect_error(lambda: adapter.lookup({"email": "a@example.com", "phone": None}))
    assert error.code == "connection_error" and error.retryable


def test_it_accepts_every_documented_key_transport(sandbox):
    import requests

    for headers, params in (
        ({"X-API-Key": SANDBOX_KEY}, {}),
        ({"Authorization": f"Bearer {SANDBOX_KEY}"}, {}),
        ({}, {"api_key": SANDBOX_KEY}),
    ):
        response = requests.get(sandbox.base_url + "/", headers=headers, params=params, timeout=5)
        assert response.status_code == 200
    response = requests.get(sandbox.base_url + "/contacts", timeout=5)
    assert response.json()["error"]["code"] == "MISSING_API_KEY"
