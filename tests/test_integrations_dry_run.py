"""The dry run of "Push to provider…" (integrations.dry_run): its counts for a mixed selection
equal what the push then does, over real HTTP against the sandbox through the real worker;
it sends and writes nothing; its queries don't grow with the contacts; the admin page shows
it, for ticked contacts and for "select all" across a filtered list."""

from collections import Counter

import pytest
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
