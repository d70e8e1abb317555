"""End to end: a contact write queues a push on commit and the real worker drains it."""

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from crm.services import contact_upsert
from integrations.models import RemoteLink
from tests.integrations_helpers import drain, settle

pytestmark = pytest.mark.django_db(transaction=True)


def queued() -> list[int]:
    return [t.args_kwargs["kwargs"]["link_id"] for t in DBTaskResult.objects.filter(status="READY")]


def test_create_edit_and_unchanged_save_through_the_worker(getraze_connection, sandbox):
    contact = contact_upsert(
        data={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        tags=["math"],
    )
    link = RemoteLink.objects.get(contact=contact)
    assert queued() == [link.pk]

    drain()

    [remote] = sandbox.contacts()
    link.refresh_from_db()
    assert (link.state, link.remote_id) == ("synced", remote["id"])
    assert (remote["name"], remote["email"], [t["name"] for t in remote["tags"]]) == (
        "Ada Lovelace",
        "ada@example.com",
        ["math"],
    )

    contact_upsert(contact=contact, data={"company": "Analytical Engines"})
    drain()
    [remote] = sandbox.contacts()
    assert remote["company"] == "Analytical Engines"
    assert sandbox.requests()[-1]["method"] == "PUT"

    sent = len(sandbox.requests())
    contact_upsert(contact=contact, data={"company": "Analytical Engines"})
    drain()
    assert len(sandbox.requests()) == sent
    link.refresh_from_db()
    assert link.state == "synced"


def test_three_500s_then_201_end_with_one_remote_record(getraze_connection, sandbox, time_machine):
    sandbox.faults(fail_creates_next=3)
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})

    settle(getraze_connection, time_machine)  # each retry after its backoff, on the clock

    [remote] = sandbox.contacts()
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.remote_id, link.attempts) == ("synced", remote["id"], 0)
    statuses = [a.http_status for a in link.push_attempts.filter(operation="create")]
    assert sorted(statuses) == [201, 500, 500, 500]


def test_one_push_per_contact_per_transaction_with_the_final_state(getraze_connection, sandbox):
    with transaction.atomic():
        contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
        contact_upsert(contact=contact, phone_numbers=[{"number": "+12125550104"}])
        contact_upsert(contact=contact, tags=["late"])
        # Written in this transaction (workers see it at commit, with the final state), once.
        assert queued() == [RemoteLink.objects.get(contact=contact).pk]

    assert len(queued()) == 1
    drain()
    [create] = [r for r in sandbox.requests() if r["method"] == "POST"]
    assert create["body"]["phone"] == "+12125550104"
    assert create["body"]["tags"] == ["late"]


def test_a_rolled_back_write_queues_nothing(getraze_connection, sandbox):
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
        raise RuntimeError
    assert queued() == []
    contact_upsert(data={"first_name": "Bob", "email": "bob@example.com"})
    assert len(queued()) == 1


def test_a_saved_contact_never_waits_for_the_provider(getraze_connection, sandbox):
    # The sandbox logs a request as it arrives, before its latency: an empty log proves the
    # save sent nothing, whatever the clock says.
    sandbox.faults(latency=2.0)
    contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    assert sandbox.requests() == []
    assert len(queued()) == 1
