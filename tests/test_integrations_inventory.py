"""One request per new contact and never a duplicate: each provider's create path (create
first at Contactship, the inventory of records at Close, Klen AI and GetRaze) through the push
engine, against the sandbox over real HTTP, counting the requests it received."""

import datetime
import threading
from collections import Counter

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from crm.services import contact_upsert
from integrations.adapters import adapter_for
from integrations.dry_run import CREATE, UPDATE, push_dry_run
from integrations.inventory import InventoryMatch, create_first_step, inventory_match
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.providers import adapter_class
from integrations.push import Result, link_push
from integrations.push_attempts import RequestBudget
from integrations.throttle import slot_acquire, slot_release
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import provider_sandbox

INVENTORIED = ("getraze", "klen", "close")
PAGE = {"getraze": 100, "klen": 100, "close": 200}  # records a list page holds
# A page of each provider's list, as (method, path) the sandbox logs it.
LIST = {
    "getraze": ("GET", "/contacts"),
    "klen": ("GET", "/contacts"),
    "close": ("POST", "/data/search/"),
}


def remote_payload(provider: str, n: int, email: str | None = None) -> dict:
    """The least a provider takes for a record made there by someone else."""
    email = email or f"someone{n}@elsewhere.example"
    phone = f"+1212555{n:04d}"
    return {
        "getraze": {"name": f"Someone {n}", "email": email},
        "klen": {"first_name": f"Someone {n}", "email": email},
        "close": {"name": f"Someone {n}", "emails": [{"email": email, "type": "office"}]},
        "contactship": {"full_name": f"Someone {n}", "phone_number": phone, "email": email},
    }[provider]


@pytest.fixture
def connect(db, sandbox_server):
    def make(provider: str, **fields) -> tuple[Connection, object]:
        box = provider_sandbox(sandbox_server, provider)
        connection = Connection(
            name=provider, provider=provider, base_url=box.base_url, rate_limit=0, **fields
        )
        connection.api_key = SANDBOX_KEY
        connection.save()
        return connection, box

    return make


@pytest.fixture
def inventory_settings(settings):
    """Any backlog reads the inventory (a test's few links stand for a large first push)."""
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "INVENTORY_MIN_BACKLOG": 1}
    return settings


def preload(connection: Connection, box, count: int, *emails: str) -> list[str]:
    """Records the provider holds before our first push: `emails`, then strangers."""
    adapter = adapter_class(connection.provider)(base_url=box.base_url, api_key=SANDBOX_KEY)
    made = [adapter.create(remote_payload(connection.provider, n, e)) for n, e in enumerate(emails)]
    for n in range(len(emails), count):
        made.append(adapter.create(remote_payload(connection.provider, n)))
    return made


def person(email: str, phone: str = "+12125550100"):
    return contact_upsert(
        data={"first_name": email.split("@")[0].title(), "last_name": "Test", "email": email},
        phone_numbers=[{"number": phone}],
    )


def push(contact, connection) -> Result:
    return link_push(link_id=RemoteLink.objects.get(contact=contact, connection=connection).pk)


def sent(box, since: int = 0) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in box.requests()[since:]]


def read_inventory(connection: Connection, box, result=Result.SYNCED) -> None:
    """Read the inventory the way a first push does, with one contact's push: its list pages
    then its create."""
    contact = person("first@ours.example", "+12125550199")
    assert push(contact, connection) == result
    connection.refresh_from_db()
    assert connection.inventory_read_at is not None


@pytest.mark.parametrize("provider", INVENTORIED)
def test_a_new_contact_is_one_request_once_the_inventory_is_read(
    provider, connect, inventory_settings
):
    connection, box = connect(provider)
    preload(connection, box, 3)
    ada = person("ada@ours.example")
    read_inventory(connection, box)
    assert sent(box)[3:] == [LIST[provider], sent(box)[-1]]  # one page, then the create
    before = len(box.requests())

    assert push(ada, connection) == Result.SYNCED
    assert sent(box, before) == [sent(box)[-1]]  # the create alone
    assert sent(box)[-1][0] == "POST"
    assert len(box.contacts()) == 5
    link = RemoteLink.objects.get(contact=ada, connection=connection)
    # Its own create keeps the inventory fresh: the record is known without a request.
    payload = adapter_for(connection).build_payload(ada)
    assert inventory_match(connection=connection, payload=payload) == InventoryMatch(
        True, link.remote_id
    )


@pytest.mark.parametrize("provider", INVENTORIED)
def test_a_contact_the_provider_holds_is_found_in_the_inventory_and_updated(
    provider, connect, inventory_settings
):
    connection, box = connect(provider)
    [existing, *_] = preload(connection, box, 3, "Grace@Ours.example")
    grace = person("grace@ours.example")
    read_inventory(connection, box)
    before = len(box.requests())

    assert push(grace, connection) == Result.SYNCED
    [(method, path)] = sent(box, before)  # one update, no lookup, no create
    assert method in ("PUT", "PATCH") and existing in path
    assert RemoteLink.objects.get(contact=grace, connection=connection).remote_id == existing
    assert len(box.contacts()) == 4  # the three, and the first push's contact: no duplicate


def test_in_create_only_a_contact_found_in_the_inventory_is_linked_without_a_request(
    connect, inventory_settings
):
    connection, box = connect("getraze", mode=Connection.Mode.CREATE_ONLY)
    [existing] = preload(connection, box, 1, "grace@ours.example")
    grace = person("grace@ours.example")
    read_inventory(connection, box)
    before = len(box.requests())

    assert push(grace, connection) == Result.SYNCED
    assert sent(box, before) == []
    assert RemoteLink.objects.get(contact=grace, connection=connection).remote_id == existing


def test_in_update_only_a_contact_missing_from_the_inventory_is_skipped_without_a_request(
    connect, inventory_settings
):
    connection, box = connect("klen", mode=Connection.Mode.UPDATE_ONLY)
    read_inventory(connection, box, Result.SKIPPED)  # found nothing, but read the inventory
    before = len(box.requests())
    newcomer = person("new@ours.example")

    assert push(newcomer, connection) == Result.SKIPPED
    assert sent(box, before) == []


@pytest.mark.parametrize("provider", INVENTORIED)
def test_a_stale_inventory_falls_back_to_a_lookup_then_the_create(
    provider, connect, inventory_settings, time_machine
):
    connection, box = connect(provider)
    [existing] = preload(connection, box, 1, "old@ours.example")
    read_inventory(connection, box)
    bound = inventory_settings.INTEGRATIONS["INVENTORY_FRESH_SECONDS"]
    time_machine.move_to(timezone.now() + datetime.timedelta(seconds=bound + 1), tick=False)
    # A lone new contact: reading the inventory again would cost more than its lookup.
    inventory_settings.INTEGRATIONS["INVENTORY_MIN_BACKLOG"] = 50
    ada, old = person("ada@ours.example"), person("old@ours.example", "+12125550101")
    before = len(box.requests())

    assert push(ada, connection) == Result.SYNCED
    lookup, create = sent(box, before)
    assert lookup[0] in ("GET", "POST") and create[0] == "POST"
    before = len(box.requests())
    assert push(old, connection) == Result.SYNCED
    assert len(sent(box, before)) == 2  # its lookup found it: updated, not created again
    assert RemoteLink.objects.get(contact=old, connection=connection).remote_id == existing
    connection.refresh_from_db()
    assert connection.inventory_pages == 1  # not read again


@pytest.mark.parametrize("provider", INVENTORIED)
def test_the_inventory_is_read_page_by_page_as_lookup_attempts(
    provider, connect, inventory_settings
):
    connection, box = connect(provider)
    preload(connection, box, PAGE[provider] + 1)

    read_inventory(connection, box)
    pages = [call for call in sent(box) if call == LIST[provider]]
    assert len(pages) == 2
    connection.refresh_from_db()
    assert (connection.inventory_pages, connection.inventory_progress) == (2, None)
    assert connection.inventory_claimed_until is None
    lookups = PushAttempt.objects.filter(operation="lookup", outcome="success")
    assert lookups.count() == 2  # recorded on the push that read them
    # Every record is known by its email (and the first push's contact by its own create).
    emails = connection.remote_references.filter(kind="email")
    assert emails.count() == PAGE[provider] + 2


def test_the_read_keeps_to_the_rate_budget_and_is_continued_not_restarted(
    connect, inventory_settings, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    inventory_settings.INTEGRATIONS["MAX_INLINE_WAIT"] = 0.0
    connection, box = connect("klen")
    preload(connection, box, 201)  # three pages
    # Klen's documented pace: one request a second.
    Connection.objects.filter(pk=connection.pk).update(rate_limit=None)
    ada = person("ada@ours.example")
    before = len(box.requests())

    results = []
    for _ in range(4):
        results.append(push(ada, connection))
        time_machine.shift(datetime.timedelta(seconds=1))
    # Each push got one request's worth of budget: a page each, then the create.
    assert results == [Result.THROTTLED] * 3 + [Result.SYNCED]
    pages = [r["query"]["page"] for r in box.requests()[before:] if r["method"] == "GET"]
    assert pages == ["1", "2", "3"]
    assert sent(box)[-1] == ("POST", "/contacts/create")
    connection.refresh_from_db()
    assert connection.inventory_pages == 3


def test_a_push_waits_for_the_read_another_worker_holds_instead_of_reading_it_too(
    connect, inventory_settings
):
    inventory_settings.INTEGRATIONS["MAX_INLINE_WAIT"] = 0.3
    connection, box = connect("klen")
    held = timezone.now() + datetime.timedelta(seconds=60)
    Connection.objects.filter(pk=connection.pk).update(inventory_claimed_until=held)
    ada = person("ada@ours.example")

    assert push(ada, connection) == Result.THROTTLED  # queued again, to find it read
    assert box.requests() == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_pushing_at_once_read_the_inventory_once(sandbox_server, settings):
    if db_connection.vendor != "postgresql":
        pytest.skip("needs a database that serves concurrent connections (PostgreSQL)")
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "INVENTORY_MIN_BACKLOG": 1,
        "MAX_INLINE_WAIT": 5.0,
        "HTTP_TIMEOUT": 5.0,
    }
    box = provider_sandbox(sandbox_server, "getraze")
    connection = Connection(name="g", provider="getraze", base_url=box.base_url, rate_limit=0)
    connection.api_key = SANDBOX_KEY
    connection.save()
    preload(connection, box, 150)
    # The concurrency slots' rows exist before the race (the first push makes them).
    assert slot_acquire(connection=connection, holder="warm-up")
    slot_release(connection=connection, holder="warm-up")
    box.faults(latency=0.2)  # the read takes a while: the second worker comes during it
    ada, bob = person("ada@ours.example"), person("bob@ours.example", "+12125550102")
    results = {}

    def worker(contact):
        try:
            results[contact.email] = push(contact, connection)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in (ada, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert results == {"ada@ours.example": Result.SYNCED, "bob@ours.example": Result.SYNCED}
    calls = sent(box)[150:]
    assert calls.count(("GET", "/contacts")) == 2  # two pages, read once
    assert calls.count(("POST", "/contacts")) == 2  # a create each, no lookup


# --- Contactship: create first --------------------------------------------------------------


def test_contactship_creates_a_new_contact_with_one_request(connect):
    connection, box = connect("contactship")
    ada = person("ada@ours.example")

    assert push(ada, connection) == Result.SYNCED
    assert sent(box) == [("POST", "/v1/contacts")]


def test_contactship_refuses_a_contact_it_holds_then_it_is_looked_up_and_updated(connect):
    connection, box = connect("contactship")
    [existing] = preload(connection, box, 1)  # the same phone number as ada's
    ada = person("ada@ours.example", "+12125550000")
    before = len(box.requests())

    assert push(ada, connection) == Result.SYNCED
    assert sent(box, before) == [
        ("POST", "/v1/contacts"),  # refused: 409
        ("GET", "/v1/contacts/%2B12125550000"),
        ("PATCH", f"/v1/contacts/{existing}"),
    ]
    assert len(box.contacts()) == 1
    assert RemoteLink.objects.get(contact=ada, connection=connection).remote_id == existing


@pytest.mark.parametrize("provider", ("contactship", *INVENTORIED))
def test_a_lost_create_answer_is_looked_up_never_created_twice(
    provider, connect, inventory_settings
):
    connection, box = connect(provider)
    if provider != "contactship":
        read_inventory(connection, box)
    ada = person("ada@ours.example")
    box.faults(drop_after_create_next=1)  # stored, then the connection is cut
    before = len(box.requests())

    assert push(ada, connection) == Result.SYNCED
    methods = [method for method, _ in sent(box, before)]
    assert methods[0] == "POST" and methods[-1] in ("PUT", "PATCH")  # create, lookup, update
    assert len(methods) == 3
    remote_ids = {c["id"] for c in box.contacts()}
    assert len(remote_ids) == (1 if provider == "contactship" else 2)
    assert str(RemoteLink.objects.get(contact=ada, connection=connection).remote_id) in {
        str(i) for i in remote_ids
    }


def test_an_email_changed_by_our_update_no_longer_matches_its_old_key(connect, inventory_settings):
    connection, box = connect("getraze")
    read_inventory(connection, box)
    ada = person("ada@ours.example")
    push(ada, connection)
    adapter = adapter_for(connection)
    old_payload = adapter.build_payload(ada)
    contact_upsert(contact=ada, data={"email": "ada.lovelace@ours.example"})

    assert push(ada, connection) == Result.SYNCED
    link = RemoteLink.objects.get(contact=ada, connection=connection)
    assert inventory_match(connection=connection, payload=old_payload) == InventoryMatch(True, "")
    new_payload = adapter.build_payload(ada)
    assert inventory_match(connection=connection, payload=new_payload) == InventoryMatch(
        True, link.remote_id
    )


def test_the_connection_page_sums_the_inventory_up_and_lists_the_other_references(
    connect, inventory_settings, staff_client
):
    connection, box = connect("close")
    preload(connection, box, 2)
    read_inventory(connection, box)
    connection.remote_references.create(kind="lead", key="acme", remote_id="lead_1")

    page = staff_client.get(f"/admin/integrations/connection/{connection.pk}/change/")
    text = page.content.decode()
    assert "Inventory: 4 keys of records, read from 1 pages" in text  # 3 emails, 1 phone
    assert "lead acme: lead_1" in text
    assert "someone0@elsewhere.example" not in text  # the keys themselves are not listed


@pytest.mark.parametrize(
    ("mode", "first_push", "expected_counts", "expected_skips", "expected_methods"),
    [
        ("upsert", Result.SYNCED, {UPDATE: 1, CREATE: 1}, 0, ["POST", "PUT"]),
        # Grace's record is linked as it is: counted with "created or matched", no request.
        ("create_only", Result.SYNCED, {CREATE: 2}, 0, ["POST"]),
        ("update_only", Result.SKIPPED, {UPDATE: 1}, 1, ["PUT"]),
    ],
)
def test_the_dry_run_tells_a_match_from_a_create_by_the_inventory_as_the_push_then_does(
    mode, first_push, expected_counts, expected_skips, expected_methods, connect, inventory_settings
):
    connection, box = connect("getraze", mode=mode)
    [existing, *_] = preload(connection, box, 3, "grace@ours.example")
    grace = person("grace@ours.example")
    ada = person("ada@ours.example", "+12125550101")
    read_inventory(connection, box, result=first_push)
    before = len(box.requests())

    [run] = push_dry_run(connections=[connection], contacts=[grace.pk, ada.pk])
    assert run.counts == Counter(expected_counts)
    assert run.skipped_total == expected_skips
    assert len(box.requests()) == before  # the inventory answered: nothing was asked

    assert push(grace, connection) in (Result.SYNCED,)
    assert push(ada, connection) in (Result.SYNCED, Result.SKIPPED)
    assert sorted(method for method, _ in sent(box, before)) == expected_methods
    links = RemoteLink.objects.filter(connection=connection)
    assert links.get(contact=grace).remote_id == existing  # matched, never duplicated
    skipped = links.filter(contact__in=[grace, ada], state=RemoteLink.State.SKIPPED)
    assert skipped.count() == expected_skips


def test_a_push_that_found_the_inventory_stale_does_not_read_it_again_once_another_has(
    connect, inventory_settings
):
    """A worker decides to read while another is finishing the read: once it holds the claim,
    the inventory is fresh, and reading it again would cost every page a second time."""
    connection, box = connect("getraze")
    preload(connection, box, 3)
    loaded_before_the_read = Connection.objects.get(pk=connection.pk)
    read_inventory(connection, box)  # another worker's read, finished
    person("ada@ours.example")  # a backlog of first creates
    before = len(box.requests())

    first = create_first_step(
        connection=loaded_before_the_read,
        adapter=adapter_for(loaded_before_the_read),
        budget=RequestBudget(loaded_before_the_read),
        payload=adapter_for(connection).build_payload(person("bo@ours.example")),
    )
    assert first == ""  # not held by the provider: create at once
    assert sent(box, before) == []  # no page read again
