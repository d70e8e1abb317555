"""The Close adapter against the sandbox, over real HTTP: the seed's fields, custom fields through
the connection's map, the three lead strategies, search lookup, and Close's rate-limit answers."""

import importlib

import pytest
import requests
from django.apps import apps as django_apps
from requests.structures import CaseInsensitiveDict

from crm.models import CustomField
from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
from integrations.providers.base_errors import parse_ratelimit_reset
from integrations.providers.base_http import Answer
from integrations.providers.close import CloseAdapter
from integrations.push import Result, link_push
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import expect_error, provider_sandbox

FIELD_MAP = {"role": "cf_sandboxRole", "industry": "cf_sandboxIndustry", "tags": "cf_sandboxTags"}


@pytest.fixture
def box(sandbox_server):
    box = provider_sandbox(sandbox_server, "close")
    # A text field with a known id, made through Close's own API.
    response = requests.post(
        box.base_url + "/custom_field/contact/",
        json={"name": "Role", "type": "text"},
        auth=(SANDBOX_KEY, ""),
        timeout=5,
    )
    field_id = response.json()["id"]
    box.field_map = {**FIELD_MAP, "role": field_id}
    return box


def make_adapter(box, **options) -> CloseAdapter:
    options = {"custom_field_map": box.field_map, **options}
    return CloseAdapter(base_url=box.base_url, api_key=SANDBOX_KEY, options=options)


@pytest.fixture
def adapter(box) -> CloseAdapter:
    return make_adapter(box)


@pytest.fixture
def john(db, custom_field_factory):
    """The seed's example, as a contact of ours."""
    custom_field_factory(key="role", type=CustomField.Type.TEXT)
    custom_field_factory(key="industry", type=CustomField.Type.CHOICE, choices=["Software"])
    custom_field_factory(key="seats", type=CustomField.Type.NUMBER)  # not mapped: stays home
    return contact_upsert(
        data={
            "first_name": "John",
            "last_name": "Smith",
            "email": "John@Example.com",
            "title": "President",
            "company": "Google",
            "linkedin_url": "https://www.linkedin.com/in/johnsmith",
            "website": "http://twitter.com/google/",
        },
        phone_numbers=[
            {"number": "+1 904 555 1234", "type": "mobile"},
            {"number": "+12125550102", "type": "work"},
        ],
        tags=["vip", "tech"],
        custom_fields={"role": "Account Executive", "industry": "Software", "seats": 12},
    )


def john_payload(box) -> dict:
    return {
        "name": "John Smith",
        "title": "President",
        "emails": [{"email": "john@example.com", "type": "office"}],
        "phones": [
            {"phone": "+19045551234", "type": "mobile"},
            {"phone": "+12125550102", "type": "office"},
        ],
        "urls": [
            {"url": "https://www.linkedin.com/in/johnsmith", "type": "url"},
            {"url": "http://twitter.com/google/", "type": "url"},
        ],
        "custom.cf_sandboxIndustry": "Software",
        f"custom.{box.field_map['role']}": "Account Executive",
        "custom.cf_sandboxTags": ["tech", "vip"],
    }


def test_it_maps_the_seed_fields_and_the_mapped_custom_fields(adapter, box, john):
    assert adapter.build_payload(john) == john_payload(box)
    assert adapter.build_context(john) is None  # Close makes a lead named after the contact


def test_without_a_map_no_custom_field_is_sent(box, john):
    adapter = CloseAdapter(base_url=box.base_url, api_key=SANDBOX_KEY)
    assert not [k for k in adapter.build_payload(john) if k.startswith("custom.")]


def test_create_posts_the_seed_body_and_close_makes_a_lead(adapter, box, john):
    remote_id = adapter.create(adapter.build_payload(john))

    request = box.requests()[-1]
    assert (request["method"], request["path"]) == ("POST", "/contact/")
    assert request["body"] == john_payload(box)
    [stored] = box.contacts()
    assert stored["id"] == remote_id and remote_id.startswith("cont_")
    lead = requests.get(
        f"{box.base_url}/lead/{stored['lead_id']}/", auth=(SANDBOX_KEY, ""), timeout=5
    ).json()
    assert lead["name"] == "John Smith"


def test_the_fixed_strategy_puts_every_contact_in_one_lead(box, john):
    lead_id = requests.post(
        box.base_url + "/lead/", json={"name": "Inbox"}, auth=(SANDBOX_KEY, ""), timeout=5
    ).json()["id"]
    adapter = make_adapter(box, lead_strategy="fixed", lead_id=lead_id)

    adapter.create(adapter.build_payload(john), context=adapter.build_context(john))

    body = box.requests()[-1]["body"]
    assert body == {"lead_id": lead_id, **john_payload(box)}


def test_the_fixed_strategy_without_a_lead_id_is_a_connection_error(box, john):
    adapter = make_adapter(box, lead_strategy="fixed")
    context = adapter.build_context(john)
    error = expect_error(lambda: adapter.create(adapter.build_payload(john), context=context))
    assert (error.code, error.misconfigured, error.auth) == ("invalid_lead_strategy", True, False)
    assert box.requests()[-1]["method"] == "POST"  # only the field set-up: nothing sent


def test_by_company_makes_one_lead_per_company_and_reuses_it(box, db):
    adapter = make_adapter(box, lead_strategy="by_company")
    first = contact_upsert(data={"first_name": "A", "email": "a@acme.com", "company": "Acme"})
    second = contact_upsert(data={"first_name": "B", "email": "b@acme.com", "company": " acme "})

    for contact in (first, second):
        adapter.create(adapter.build_payload(contact), context=adapter.build_context(contact))

    leads = [r for r in box.requests() if r["path"] == "/lead/"]
    assert [r["body"] for r in leads] == [{"name": "Acme"}]
    a, b = box.contacts()
    assert a["lead_id"] == b["lead_id"] == adapter.references.get("lead", "acme")


def test_by_company_remembers_the_lead_on_the_connection(box, db):
    connection = Connection(
        name="close",
        provider="close",
        base_url=box.base_url,
        rate_limit=0,
        options={"lead_strategy": "by_company", "custom_field_map": {}},
    )
    connection.api_key = SANDBOX_KEY
    connection.save()
    first = contact_upsert(data={"first_name": "A", "email": "a@acme.com", "company": "Acme"})
    second = contact_upsert(data={"first_name": "B", "email": "b@acme.com", "company": "Acme"})

    for contact in (first, second):
        link = RemoteLink.objects.get(contact=contact, connection=connection)
        assert link_push(link_id=link.pk) == Result.SYNCED

    connection.refresh_from_db()
    assert len([r for r in box.requests() if r["path"] == "/lead/"]) == 1
    # Kept apart from the options staff edit: saving the options can't lose it.
    leads = connection.remote_references.filter(kind="lead")  # (the others: the inventory)
    assert list(leads.values_list("kind", "key", "remote_id")) == [
        ("lead", "acme", box.contacts()[0]["lead_id"])
    ]
    assert connection.options == {"lead_strategy": "by_company", "custom_field_map": {}}


def close_connection(box, **options) -> Connection:
    connection = Connection(
        name="close", provider="close", base_url=box.base_url, rate_limit=0, options=options
    )
    connection.api_key = SANDBOX_KEY
    connection.save()
    return connection


def test_a_remembered_lead_deleted_at_close_is_made_again_and_the_contact_ends_synced(box, db):
    connection = close_connection(box, lead_strategy="by_company")
    contact = contact_upsert(data={"first_name": "A", "email": "a@acme.com", "company": "Acme"})
    link = RemoteLink.objects.get(contact=contact, connection=connection)
    assert link_push(link_id=link.pk) == Result.SYNCED
    [old] = box.contacts()
    # Deleted at Close (its contacts go with it): the connection still remembers the lead.
    response = requests.delete(
        f"{box.base_url}/lead/{old['lead_id']}/", auth=(SANDBOX_KEY, ""), timeout=5
    )
    assert response.status_code == 200 and box.contacts() == []

    contact_upsert(contact=contact, data={"title": "Founder"})
    assert link_push(link_id=link.pk) == Result.SYNCED

    [new] = box.contacts()
    link.refresh_from_db()
    assert (link.state, link.remote_id, new["title"]) == ("synced", new["id"], "Founder")
    assert new["lead_id"] != old["lead_id"]
    assert connection.remote_references.get(kind="lead").remote_id == new["lead_id"]
    calls = [(r["method"], r["path"]) for r in box.requests()][-5:]
    assert calls == [
        ("PUT", f"/contact/{old['id']}/"),  # 404: gone with its lead
        ("POST", "/data/search/"),
        ("POST", "/contact/"),  # 400: lead_id: Object does not exist.
        ("POST", "/lead/"),
        ("POST", "/contact/"),
    ]


def test_a_fixed_lead_deleted_at_close_pauses_the_connection_with_the_reason(box, db):
    lead = requests.post(
        f"{box.base_url}/lead/", json={"name": "All"}, auth=(SANDBOX_KEY, ""), timeout=5
    ).json()["id"]
    connection = close_connection(box, lead_strategy="fixed", lead_id=lead)
    requests.delete(f"{box.base_url}/lead/{lead}/", auth=(SANDBOX_KEY, ""), timeout=5)
    contact = contact_upsert(data={"first_name": "A", "email": "a@example.com"})
    link = RemoteLink.objects.get(contact=contact, connection=connection)

    assert link_push(link_id=link.pk) == Result.PAUSED
    connection.refresh_from_db()
    assert f"The lead {lead} in the option lead_id no longer exists" in connection.paused_reason
    link.refresh_from_db()
    assert link.state == "pending"  # pushed once staff fix the option and resume


def test_by_company_without_a_company_lets_close_make_a_lead(box, db):
    adapter = make_adapter(box, lead_strategy="by_company")
    contact = contact_upsert(data={"first_name": "Solo", "email": "solo@example.com"})
    assert adapter.build_context(contact) is None
    adapter.create(adapter.build_payload(contact))
    assert "lead_id" not in box.requests()[-1]["body"]


def test_update_puts_the_payload_with_nulls_and_no_lead(adapter, box, john):
    remote_id = adapter.create(adapter.build_payload(john))
    payload = {**adapter.build_payload(john), "title": None, "custom.cf_sandboxIndustry": None}

    adapter.update(remote_id, payload)

    request = box.requests()[-1]
    assert (request["method"], request["path"]) == ("PUT", f"/contact/{remote_id}/")
    assert request["body"] == payload
    [stored] = box.contacts()
    assert stored["title"] is None and "custom.cf_sandboxIndustry" not in stored


def test_a_mapped_field_with_an_invalid_value_fails_clearly(adapter, john):
    payload = {**adapter.build_payload(john), "custom.cf_sandboxTags": ["tech", "newcomer"]}
    error = expect_error(lambda: adapter.create(payload))
    assert (error.status, error.code, error.permanent) == (400, "http_400", True)
    assert error.message == "custom.cf_sandboxTags (tags): Invalid choice: 'newcomer'."


def test_lookup_searches_the_email_like_closes_own_scripts(adapter, box, john):
    remote_id = adapter.create(adapter.build_payload(john))

    assert adapter.lookup({"emails": [{"email": "JOHN@example.com"}]}) == remote_id
    assert adapter.lookup({"emails": [{"email": "ohn@example.com"}]}) is None
    request = box.requests()[-2]
    assert (request["method"], request["path"]) == ("POST", "/data/search/")
    condition = {"type": "text", "mode": "exact_value", "value": "john@example.com"}
    assert request["body"] == {
        "query": {
            "type": "and",
            "queries": [
                {"type": "object_type", "object_type": "contact"},
                {
                    "type": "has_related",
                    "this_object_type": "contact",
                    "related_object_type": "contact_email",
                    "related_query": {
                        "type": "field_condition",
                        "field": {
                            "type": "regular_field",
                            "object_type": "contact_email",
                            "field_name": "email",
                        },
                        "condition": condition,
                    },
                },
            ],
        },
        "_fields": {"contact": ["id", "lead_id", "emails", "phones"]},
        "_limit": 200,
        "results_limit": 1,
    }


def test_lookup_by_phone_without_email(adapter, box):
    remote_id = adapter.create(
        {"name": "P", "phones": [{"phone": "+12125550102", "type": "mobile"}]}
    )
    assert adapter.lookup({"emails": [], "phones": [{"phone": "+12125550102"}]}) == remote_id
    assert adapter.lookup({"emails": [], "phones": []}) is None


def test_a_lagging_index_after_a_lost_create_retries_instead_of_duplicating(box, db):
    connection = Connection(name="close", provider="close", base_url=box.base_url, rate_limit=0)
    connection.api_key = SANDBOX_KEY
    connection.save()
    contact = contact_upsert(data={"first_name": "A", "email": "a@example.com"})
    link = RemoteLink.objects.get(contact=contact, connection=connection)
    # The create is stored but its answer lost, and the search doesn't see it yet.
    box.faults(drop_after_create_next=1, lookup_misses_next=2)

    assert link_push(link_id=link.pk) == Result.RETRY
    assert link_push(link_id=link.pk) == Result.SYNCED  # indexed by now: found, not re-created
    [stored] = box.contacts()
    link.refresh_from_db()
    assert link.remote_id == stored["id"]


def test_a_429_waits_for_the_ratelimit_reset(adapter, box):
    box.faults(rate_limit=1, rate_window=60)
    response = requests.get(box.base_url + "/me/", auth=(SANDBOX_KEY, ""), timeout=5)
    assert response.headers["RateLimit"].startswith("limit=1, remaining=0, reset=")

    error = expect_error(lambda: adapter.lookup({"emails": [{"email": "a@example.com"}]}))
    assert (error.status, error.retryable) == (429, True)
    assert 0 < error.retry_after <= 60
    assert error.message.startswith("API call count exceeded")


def test_the_ratelimit_reset_wins_over_retry_after(adapter):
    headers = CaseInsensitiveDict({"RateLimit": "limit=100, remaining=0, reset=1.5"})
    headers["Retry-After"] = "2"
    assert adapter.retry_after(Answer(429, None, headers)) == 1.5
    assert adapter.retry_after(Answer(429, None, {"Retry-After": "2"})) == 2.0
    assert parse_ratelimit_reset("limit=10, remaining=0, reset=3, limit=5, reset=7.25") == 7.25
    assert parse_ratelimit_reset("limit=10") is None


def test_a_wrong_key_or_a_bearer_is_refused_as_auth(box):
    url = box.base_url + "/me/"
    assert (
        requests.get(url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}, timeout=5).status_code
        == 401
    )
    adapter = CloseAdapter(base_url=box.base_url, api_key="api_wrong_key_that_must_not_leak")
    error = expect_error(lambda: adapter.lookup({"emails": [{"email": "a@example.com"}]}))
    assert (error.status, error.auth, error.message) == (
        401,
        True,
        "The API key is missing or invalid.",
    )


def test_fetch_fields_lists_the_close_field_ids(adapter, box):
    fields = {f["id"]: f for f in adapter.fetch_fields()}
    assert fields[box.field_map["role"]] == {
        "id": box.field_map["role"],
        "name": "Role",
        "type": "text",
        "accepts_multiple_values": False,
        "choices": [],
    }
    assert fields["cf_sandboxTags"]["accepts_multiple_values"] is True


def test_the_migration_moves_remembered_leads_out_of_the_options(db):
    migration = importlib.import_module("integrations.migrations.0005_remote_references")
    connection = Connection(
        name="close",
        provider="close",
        base_url="http://127.0.0.1:9/close/api/v1",
        options={"lead_strategy": "by_company", "lead_ids": {"acme": "lead_1", "beta": "lead_2"}},
    )
    connection.api_key = SANDBOX_KEY
    connection.save()

    migration.lead_ids_to_references(django_apps, None)

    connection.refresh_from_db()
    assert connection.options == {"lead_strategy": "by_company"}
    leads = connection.remote_references.filter(kind="lead")  # (the others: the inventory)
    assert list(leads.values_list("kind", "key", "remote_id")) == [
        ("lead", "acme", "lead_1"),
        ("lead", "beta", "lead_2"),
    ]
    migration.references_to_lead_ids(django_apps, None)  # and back
    connection.refresh_from_db()
    assert connection.options["lead_ids"] == {"acme": "lead_1", "beta": "lead_2"}
