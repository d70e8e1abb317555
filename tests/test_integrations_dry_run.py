"""The dry run of "Push to provider…" (integrations.dry_run): its counts for a mixed selection
equal what the push then does, over real HTTP against the sandbox through the real worker;
it sends and writes nothing; its queries don't grow with the contacts; the admin page shows
it, for ticked contacts and for "select all" across a filtered list."""

import re
import sqlite3
from collections import Counter

import pytest
import requests
from django.contrib.admin import helpers
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from crm.models import Contact, PhoneNumber, Tag
from crm.services import contact_upsert
from integrations.dry_run import CREATE, LOOK_UP, NothingSent, push_dry_run
from integrations.links import CHUNK, links_mark_pending
from integrations.models import Connection, RemoteLink
from integrations.push_batches import push_batch_create
from tests.integrations_helpers import SANDBOX_KEY, settle
from tests.integrations_providers import provider_sandbox

CONTACTS = reverse("admin:crm_contact_changelist")
DELETE_KEY = "sandbox-dry-run-key-5e6f7a8b"


def make_connection(box, name: str, provider: str, key: str = SANDBOX_KEY, **fields):
    connection = Connection(
        name=name, provider=provider, base_url=box.base_url, rate_limit=0, auto_push=False
    )
    for field, value in fields.items():
        setattr(connection, field, value)
    connection.api_key = key
    connection.save()
    return connection


def person(name: str, *, email=True, phone: str | None = None, tags=()) -> Contact:
    return contact_upsert(
        data={"first_name": name, "email": f"{name.lower()}@example.com" if email else ""},
        phone_numbers=[{"number": phone}] if phone else None,
        tags=list(tags),
    )


def outcomes(box, connection: Connection, contacts, *, since: int) -> dict:
    """What the push did at `connection` for `contacts`, read from the sandbox's requests and
    the links, in the dry run's terms."""
    writes = Counter(r["method"] for r in box.requests()[since:])
    links = RemoteLink.objects.filter(connection=connection, contact__in=contacts)
    skipped = links.filter(state="skipped").exclude(last_error_code="outside_audience")
    synced = links.filter(state="synced").count()
    created = writes["POST"]
    updated = writes["PUT"] + writes["PATCH"]
    return {
        "create": created,
        "update": updated,
        "unchanged": synced - created - updated,
        "skipped": Counter(skipped.values_list("last_error_message", flat=True)),
        "outside": links.filter(last_error_code="outside_audience").count(),
        "remote_delete": writes["DELETE"],
    }


def counted(run) -> dict:
    return {
        "create": run.create,
        "update": run.update,
        "unchanged": run.unchanged,
        "skipped": run.skipped,
        "outside": run.outside,
        "remote_delete": run.remote_delete,
    }


@pytest.mark.django_db(transaction=True)
def test_the_dry_run_counts_what_the_push_then_does(
    sandbox, sandbox_server, time_machine, django_user_model
):
    contactship_box = provider_sandbox(sandbox_server, "contactship")
    sandbox.add_key(DELETE_KEY, ["contacts:read", "contacts:write", "contacts:delete"])
    getraze = make_connection(
        sandbox, "VIPs <b>", "getraze", DELETE_KEY, audience="tag=vip", on_leave="delete"
    )
    contactship = make_connection(contactship_box, "Calls", "contactship", mode="create_only")

    # Pushed once before: synced at both (outside the audience: skipped at GetRaze).
    same = [person(f"Same{n}", phone=f"+1415555010{n}", tags=["vip"]) for n in range(2)]
    changed = person("Changed", phone="+14155550110", tags=["vip"])
    leaving = person("Leaving", phone="+14155550111", tags=["vip"])
    earlier = [*same, changed, leaving]
    links_mark_pending(contacts=[c.pk for c in earlier], connections=[getraze, contactship])
    settle(getraze, time_machine)
    settle(contactship, time_machine)
    assert RemoteLink.objects.filter(state="synced").count() == 8

    contact_upsert(contact=changed, data={"title": "Changed since"})  # no auto-push: pending
    contact_upsert(contact=leaving, tags=[])  # out of the audience; its record goes
    new = [person(f"New{n}", phone=f"+1415555012{n}", tags=["vip"]) for n in range(3)]
    no_phone = person("NoPhone", tags=["vip"])  # Contactship requires one
    nothing = person("Nothing", email=False, tags=["vip"])  # GetRaze needs an email or phone
    outside = person("Outside", phone="+14155550130")  # no vip tag
    selection = Contact.objects.filter(pk__in=[c.pk for c in [*earlier, *new, no_phone]])
    selection |= Contact.objects.filter(pk__in=[nothing.pk, outside.pk])

    sent = {sandbox: len(sandbox.requests()), contactship_box: len(contactship_box.requests())}
    links_before = list(RemoteLink.objects.order_by("pk").values())
    with CaptureQueriesContext(db_connection) as queries:
        getraze_run, contactship_run = push_dry_run(
            connections=[getraze, contactship], contacts=selection
        )

    # Nothing sent, nothing written.
    assert len(sandbox.requests()) == sent[sandbox]
    assert len(contactship_box.requests()) == sent[contactship_box]
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in queries.captured_queries)
    assert list(RemoteLink.objects.order_by("pk").values()) == links_before

    getraze_reason = "GetRaze needs an email or a phone number; this contact has neither."
    assert counted(getraze_run) == {
        "create": 4,  # the three new ones and NoPhone
        "update": 1,
        "unchanged": 2,
        "skipped": Counter({getraze_reason: 1}),
        "outside": 2,  # Outside, and Leaving, whose record is deleted (on_leave delete)
        "remote_delete": 1,
    }
    assert counted(contactship_run) == {
        "create": 4,  # the three new ones and Outside (no audience here)
        "update": 0,
        "unchanged": 2,
        "skipped": Counter(
            {
                "Contactship requires a phone number": 2,
                "Create only: changes are not sent to Calls.": 2,  # Changed and Leaving
            }
        ),
        "outside": 0,
        "remote_delete": 0,
    }
    assert contactship_run.contacts == getraze_run.contacts == 10

    # The push itself, through the worker, for the same selection.
    push_batch_create(
        contacts=selection,
        connections=[getraze, contactship],
        created_by=django_user_model.objects.create_user("staff"),
        select_across=False,
        contact_ids=selection.values_list("pk", flat=True),
    )
    settle(getraze, time_machine)
    settle(contactship, time_machine)

    assert outcomes(sandbox, getraze, selection, since=sent[sandbox]) == counted(getraze_run)
    assert outcomes(contactship_box, contactship, selection, since=sent[contactship_box]) == (
        counted(contactship_run)
    )


@pytest.mark.django_db(transaction=True)
def test_update_only_counts_lookups_which_the_push_splits_into_found_and_skipped(
    sandbox, time_machine, django_user_model
):
    connection = make_connection(sandbox, "Known only", "getraze", mode="update_only")
    known, unknown = person("Known"), person("Unknown")
    at_getraze = {"name": "Known Old", "email": "known@example.com", "source": "other"}
    requests.post(
        sandbox.base_url + "/contacts",
        json=at_getraze,
        headers={"X-API-Key": SANDBOX_KEY},
        timeout=5,
    ).raise_for_status()
    selection = Contact.objects.filter(pk__in=[known.pk, unknown.pk])

    [run] = push_dry_run(connections=[connection], contacts=selection)
    # Which of them GetRaze has, only its lookup tells: both are "looked up".
    assert (run.look_up, run.create, run.update) == (2, 0, 0)

    push_batch_create(
        contacts=selection,
        connections=[connection],
        created_by=django_user_model.objects.create_user("staff"),
        select_across=False,
        contact_ids=[known.pk, unknown.pk],
    )
    settle(connection, time_machine)
    states = dict(RemoteLink.objects.values_list("contact_id", "last_error_code"))
    assert states == {known.pk: "", unknown.pk: "not_at_provider"}
    assert RemoteLink.objects.get(contact=known).state == "synced"


def test_a_new_link_is_created_or_matched_as_the_seam_says(db, monkeypatch):
    """The one place an inventory of the provider's records would decide (new_record_actions),
    called once per chunk of contacts."""
    from integrations import dry_run

    connection = Connection.objects.create(name="G", provider="getraze", base_url="http://x")
    contact = person("Ada")
    [run] = push_dry_run(connections=[connection], contacts=[contact.pk])
    assert run.counts == Counter({CREATE: 1})

    calls = []

    def inventory(*, connection, adapter, payloads):
        calls.append(len(payloads))
        return [LOOK_UP] * len(payloads)

    monkeypatch.setattr(dry_run, "new_record_actions", inventory)
    [run] = push_dry_run(connections=[connection], contacts=[contact.pk])
    assert run.counts == Counter({LOOK_UP: 1})
    assert calls == [1]


def test_a_provider_without_a_delete_keeps_the_record_of_a_contact_that_left(db):
    # Klen AI documents no delete: the push leaves the link skipped, the record stays.
    contact = person("Ada")
    klen = Connection.objects.create(
        name="K", provider="klen", options={"team_id": 1}, audience="tag=vip", on_leave="delete"
    )
    getraze = Connection.objects.create(
        name="G", provider="getraze", audience="tag=vip", on_leave="delete"
    )
    for connection in (klen, getraze):
        RemoteLink.objects.create(contact=contact, connection=connection, remote_id="r1")
    klen_run, getraze_run = push_dry_run(connections=[klen, getraze], contacts=[contact.pk])
    assert (klen_run.outside, klen_run.remote_delete) == (1, 0)
    assert (getraze_run.outside, getraze_run.remote_delete) == (1, 1)


def test_what_holds_a_connections_pushes_back_is_noted(db):
    from django.utils import timezone

    paused = Connection.objects.create(name="P", provider="getraze", paused_at=timezone.now())
    [run] = push_dry_run(connections=[paused], contacts=[person("Ada").pk])
    assert run.notes == ["Paused: its pushes wait until it is resumed."]
    assert run.create == 1  # what it will do once resumed


def test_a_payload_that_cannot_be_built_is_counted_as_failing(db, monkeypatch):
    from integrations.providers.getraze import GetRazeAdapter

    def broken(self, contact):
        raise ValueError("bad data")

    monkeypatch.setattr(GetRazeAdapter, "build_payload", broken)
    connection = Connection.objects.create(name="G", provider="getraze")
    [run] = push_dry_run(connections=[connection], contacts=[person("Ada").pk])
    assert (run.fails, run.create) == (1, 0)


def test_a_webhook_connection_is_dry_run_too(db):
    contact = person("Ada")
    hook = Connection(name="W", provider="webhook", base_url="https://hooks.example.com/in")
    hook.api_key = "whsec_" + "A" * 32
    hook.auto_push = False
    hook.save()
    [run] = push_dry_run(connections=[hook], contacts=[contact.pk])
    assert (run.create, run.fails, run.skipped_total) == (1, 0, 0)  # contact.created


def test_the_dry_runs_adapters_cannot_send(db):
    with pytest.raises(RuntimeError, match="A dry run sends nothing"):
        NothingSent().get("http://127.0.0.1:9/contacts")


def many_contacts(number: int, start: int = 0) -> list[int]:
    """Contacts with tags, phone numbers and custom fields, as the payloads read them."""
    vip, other = Tag.objects.get_or_create(name="vip")[0], Tag.objects.get_or_create(name="x")[0]
    contacts = Contact.objects.bulk_create(
        Contact(first_name=f"C{n}", email=f"c{n}@example.com", custom_fields={"plan": "pro"})
        for n in range(start, start + number)
    )
    Contact.tags.through.objects.bulk_create(
        Contact.tags.through(contact_id=c.pk, tag_id=(vip if n % 2 else other).pk)
        for n, c in enumerate(contacts)
    )
    PhoneNumber.objects.bulk_create(
        PhoneNumber(contact=c, number=f"+1415555{n % 10_000:04d}", is_primary=True)
        for n, c in enumerate(contacts)
    )
    return [c.pk for c in contacts]


def test_queries_grow_with_chunks_of_contacts_never_per_contact(db):
    """Per chunk: the contacts, their tags, their phone numbers, their links, and one per
    connection with an audience. Besides: the selection's ids and Contactship's field types."""
    connections = [
        Connection.objects.create(name="G", provider="getraze", audience="tag=vip"),
        Connection.objects.create(name="C", provider="contactship"),
        Connection.objects.create(name="K", provider="klen", options={"team_id": 1}),
        Connection.objects.create(name="L", provider="close"),
    ]
    ids = many_contacts(CHUNK + 10)
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=connections[0], remote_id=f"r{pk}", state="synced")
        for pk in ids[:50]
    )

    def queries(contact_ids) -> int:
        with CaptureQueriesContext(db_connection) as captured:
            runs = push_dry_run(
                connections=connections, contacts=Contact.objects.filter(pk__in=contact_ids)
            )
        assert all(run.contacts == len(contact_ids) for run in runs)
        return len(captured)

    few, many = queries(ids[:20]), queries(ids)
    chunks = -(-len(ids) // CHUNK)
    per_chunk = 4 + 1  # contacts, tags, phone numbers, links; G's audience
    assert few == 2 + per_chunk
    assert many == 2 + chunks * per_chunk
    [g, *_] = push_dry_run(connections=connections, contacts=ids)
    assert (g.update, g.outside) == (25, len(ids) // 2)


# --- the admin page -----------------------------------------------------------------------------


def dry_run_post(client, connections, query: str = "", **data):
    posted = {
        "action": "push_to_provider",
        "index": "0",
        "apply": "1",  # the page's hidden field: the "Dry run" button wins over it
        "dry_run": "Dry run",
        "connections": [c.pk for c in connections],
        **data,
    }
    return client.post(CONTACTS + query, posted)


def test_the_page_shows_the_dry_run_of_a_select_all_and_queues_nothing(staff_client, db):
    connection = Connection.objects.create(
        name="<script>alert(1)</script>", provider="contactship", auto_push=False
    )
    ids = many_contacts(30)
    Contact.objects.create(first_name="Cust", email="cust@example.com", stage="customer")
    PhoneNumber.objects.filter(contact_id__in=ids[:5]).delete()
    response = dry_run_post(
        staff_client,
        [connection],
        "?stage__exact=lead",
        select_across="1",
        **{helpers.ACTION_CHECKBOX_NAME: [ids[0]]},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="dry-run"' in html
    assert 'data-count="create">25<' in html  # the customer is not in the filtered list
    assert "Contactship requires a phone number \u00d7 5" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not RemoteLink.objects.exists() and not DBTaskResult.objects.exists()
    # The page still carries the selection and the choice, for the push after the dry run.
    assert 'name="select_across" value="1"' in html
    assert re.search(rf'name="connections" value="{connection.pk}"[^>]*checked', html)


def test_a_dry_run_needs_a_connection(staff_client, db):
    Connection.objects.create(name="G", provider="getraze", auto_push=False)
    contact = person("Ada")
    response = dry_run_post(staff_client, [], **{helpers.ACTION_CHECKBOX_NAME: [contact.pk]})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert 'id="dry-run"' not in response.content.decode()


def test_the_ticked_contacts_are_dry_run(staff_client, db):
    connection = Connection.objects.create(name="G", provider="getraze", auto_push=False)
    ids = many_contacts(10)
    response = dry_run_post(staff_client, [connection], **{helpers.ACTION_CHECKBOX_NAME: ids[:3]})
    assert 'data-count="create">3<' in response.content.decode()


@pytest.fixture
def few_parameters():
    """On SQLite, at most 999 parameters a statement, as in tests/test_selection_size.py: a
    larger IN list fails there, as one past 65,535 does on PostgreSQL."""
    if db_connection.vendor != "sqlite":
        yield
        return
    db_connection.ensure_connection()
    raw = db_connection.connection
    before = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    yield
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


def test_a_large_selection_stays_below_the_databases_parameter_limit(db, few_parameters):
    """An audience's own values are bound beside a chunk's ids."""
    connection = Connection.objects.create(
        name="G", provider="getraze", auto_push=False, audience="tag=vip&stage=lead&has_phone=true"
    )
    many_contacts(2500)
    [run] = push_dry_run(connections=[connection], contacts=Contact.objects.all())
    assert run.contacts == 2500
    assert (run.create, run.outside) == (1250, 1250)  # every other contact is tagged vip


def test_values_a_mapping_leaves_out_are_counted(sandbox_server, db, staff_client):
    from integrations.connections import connection_fields_fetch, connection_upsert

    box = provider_sandbox(sandbox_server, "close")
    connection, _ = connection_upsert(
        name="Close",
        provider="close",
        api_key=SANDBOX_KEY,
        base_url=box.base_url,
        field_map=[{"target": "custom.cf_sandboxTags", "source": "field:tags"}],
        auto_push=False,
    )
    connection_fields_fetch(connection=connection)  # Close's choices, kept on the connection
    connection.refresh_from_db()
    sent = len(box.requests())
    ids = [person(f"P{n}", tags=["vip", "brand-new-tag"]).pk for n in range(2)]
    ids.append(person("Plain", tags=["vip"]).pk)

    [run] = push_dry_run(connections=[connection], contacts=ids)

    warning = "tag 'brand-new-tag' is not a choice of Close field Tags."
    assert run.warnings == Counter({warning: 2})
    assert run.create == 3 and len(box.requests()) == sent
    response = dry_run_post(staff_client, [connection], **{helpers.ACTION_CHECKBOX_NAME: ids})
    assert "Left out: tag &#x27;brand-new-tag&#x27; is not a choice" in response.text
