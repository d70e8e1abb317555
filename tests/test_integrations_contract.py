"""One contract, every provider: the push engine and each adapter against its sandbox emulation,
over real HTTP. Create, update, no-op, lookup-and-link, and each error class."""

import datetime
from dataclasses import dataclass

import pytest
from django.utils import timezone

from crm.services import contact_upsert
from integrations.links import links_retry
from integrations.models import Connection, RemoteLink
from integrations.providers import adapter_class
from integrations.providers.base import CREATE_FIRST
from integrations.push import Result, link_push
from tests.integrations_helpers import SANDBOX_KEY, Sandbox
from tests.integrations_providers import provider_sandbox


@dataclass
class Spec:
    create: tuple[str, str]
    update: tuple[str, str]  # {id} is the remote ID
    invalid_email_code: str  # the code kept on the link for an email the provider refuses
    answers_409: bool  # a duplicate create is refused (else it is accepted silently)
    options: dict


SPECS = {
    "getraze": Spec(("POST", "/contacts"), ("PUT", "/contacts/{id}"), "INVALID_EMAIL", True, {}),
    "contactship": Spec(
        ("POST", "/v1/contacts"), ("PATCH", "/v1/contacts/{id}"), "http_400", True, {}
    ),
    "klen": Spec(
        ("POST", "/contacts/create"),
        ("PATCH", "/contacts/{id}/update"),
        "validation_error",
        False,
        {"team_id": 1},
    ),
    "close": Spec(
        ("POST", "/contact/"),
        ("PUT", "/contact/{id}/"),
        "http_400",
        False,
        {"custom_field_map": {"tags": "cf_sandboxTags"}},
    ),
}
PROVIDERS = list(SPECS)


@dataclass
class Case:
    provider: str
    spec: Spec
    box: Sandbox
    connection: Connection

    def writes(self) -> list[tuple[str, str]]:
        return [
            (r["method"], r["path"])
            for r in self.box.requests()
            if r["method"] in ("POST", "PUT", "PATCH") and r["path"] not in LOOKUP_POSTS
        ]

    def adapter(self):
        cls = adapter_class(self.provider)
        return cls(base_url=self.box.base_url, api_key=SANDBOX_KEY, options=self.spec.options)


# POSTs that read rather than write (Close's search).
LOOKUP_POSTS = {"/data/search/"}


@pytest.fixture(params=PROVIDERS)
def case(request, sandbox_server, db) -> Case:
    provider = request.param
    spec = SPECS[provider]
    box = provider_sandbox(sandbox_server, provider)
    connection = Connection(
        name=f"{provider}-contract",
        provider=provider,
        base_url=box.base_url,
        options=spec.options,
        rate_limit=0,
    )
    connection.api_key = SANDBOX_KEY
    connection.save()
    return Case(provider, spec, box, connection)


def ada(email: str = "ada@example.com"):
    return contact_upsert(
        data={"first_name": "Ada", "last_name": "Lovelace", "email": email, "title": "CTO"},
        phone_numbers=[{"number": "+14155552671", "type": "mobile"}],
        tags=["vip"],
    )


def link_of(contact, case: Case) -> RemoteLink:
    return RemoteLink.objects.get(contact=contact, connection=case.connection)


def push(contact, case: Case) -> Result:
    return link_push(link_id=link_of(contact, case).pk)


def stored_email(record: dict) -> str | None:
    if "emails" in record:  # Close
        return record["emails"][0]["email"] if record["emails"] else None
    return record.get("email")


def test_it_creates_the_remote_record_and_links_it(case):
    contact = ada()
    assert push(contact, case) == Result.SYNCED

    [record] = case.box.contacts()
    link = link_of(contact, case)
    assert (link.state, link.remote_id) == ("synced", str(record["id"]))
    assert case.writes() == [case.spec.create]


def test_a_change_is_sent_as_an_update_of_the_same_record(case):
    contact = ada()
    push(contact, case)
    remote_id = link_of(contact, case).remote_id

    contact_upsert(contact=contact, data={"email": "ada@lovelace.org"})
    assert push(contact, case) == Result.SYNCED

    method, path = case.spec.update
    assert case.writes()[-1] == (method, path.format(id=remote_id))
    [record] = case.box.contacts()
    assert stored_email(record) == "ada@lovelace.org"
    assert link_of(contact, case).remote_id == remote_id


def test_a_record_the_provider_forgot_is_created_again_on_the_next_push(case):
    # The sandbox restarted (as after stopping `make run`): every record and Close lead is
    # gone, while the link and Close's remembered lead per company still point at them.
    case.connection.options = {**case.spec.options, "lead_strategy": "by_company"}
    case.connection.save()
    contact = ada()
    contact_upsert(contact=contact, data={"company": "Analytical Engines"})
    assert push(contact, case) == Result.SYNCED
    case.box.reset()

    contact_upsert(contact=contact, data={"last_name": "King"})  # sent to every provider
    assert push(contact, case) == Result.SYNCED

    [record] = case.box.contacts()
    link = link_of(contact, case)
    assert (link.state, link.remote_id) == ("synced", str(record["id"]))


def test_an_unchanged_contact_is_not_sent_again(case):
    contact = ada()
    push(contact, case)
    sent = len(case.box.requests())

    links_retry(links=RemoteLink.objects.filter(contact=contact))
    assert push(contact, case) == Result.UNCHANGED
    assert len(case.box.requests()) == sent
    assert link_of(contact, case).state == "synced"


def test_a_record_that_exists_remotely_is_found_and_linked_not_duplicated(case):
    contact = ada()
    existing = case.adapter().create(case.adapter().build_payload(contact))

    assert push(contact, case) == Result.SYNCED
    assert link_of(contact, case).remote_id == existing
    assert len(case.box.contacts()) == 1


def test_a_lost_create_answer_is_looked_up_not_created_twice(case):
    case.box.faults(drop_after_create_next=1)
    contact = ada()

    assert push(contact, case) == Result.SYNCED
    [record] = case.box.contacts()
    assert link_of(contact, case).remote_id == str(record["id"])


@pytest.mark.parametrize(
    "case", [p for p in PROVIDERS if SPECS[p].answers_409], indirect=True
)  # the others accept duplicates: they never answer 409
def test_a_409_is_followed_by_a_lookup_and_a_link(case):
    contact = ada()
    existing = case.adapter().create(case.adapter().build_payload(contact))
    if case.adapter().create_path != CREATE_FIRST:  # (create first: no lookup before it)
        case.box.faults(lookup_misses_next=1)  # the first lookup misses, so the create gets a 409

    assert push(contact, case) == Result.SYNCED
    assert link_of(contact, case).remote_id == existing
    assert len(case.box.contacts()) == 1
    assert case.writes()[-2][0] == "POST"  # the refused create, then the update of the found


def test_a_refused_payload_fails_the_link_with_the_providers_code(case):
    contact = ada(email="ada@localhost")  # valid for us, refused by every provider

    assert push(contact, case) == Result.FAILED
    link = link_of(contact, case)
    assert (link.state, link.last_error_code) == ("failed", case.spec.invalid_email_code)
    assert link.last_error_message
    assert case.box.contacts() == []


def test_a_server_error_is_retried_later(case):
    case.box.faults(fail_next=1)
    contact = ada()

    assert push(contact, case) == Result.RETRY
    link = link_of(contact, case)
    assert (link.state, link.attempts) == ("pending", 1)
    assert link.next_attempt_at is not None and link.last_error_code


def test_a_429_is_retried_after_the_providers_wait(case):
    case.box.faults(rate_limit=1, rate_window=60)
    case.adapter().check()  # the window's one request: the push's first request is refused
    contact = ada()

    assert push(contact, case) == Result.RETRY
    link = link_of(contact, case)
    assert link.state == "pending"
    # No backoff in tests (fast_integrations): a positive wait is the provider's.
    wait = link.next_attempt_at - timezone.now()
    assert datetime.timedelta(0) < wait <= datetime.timedelta(seconds=70)


def test_refused_credentials_pause_the_connection(case):
    case.connection.api_key = "wrong-key-0000000000"
    case.connection.save()
    contact = ada()

    assert push(contact, case) == Result.PAUSED
    case.connection.refresh_from_db()
    assert case.connection.is_paused
    assert link_of(contact, case).state == "pending"
