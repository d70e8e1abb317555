"""Deletes follow (issue 17): a contact deleted here has its remote record deleted at each
connection whose `on_delete` is "delete", over real HTTP against the sandbox, through the real
worker, with the link kept (contact-less) until the remote delete is settled."""

import pytest
from django.contrib.admin import helpers
from django.db import transaction
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from crm.deletion import contact_delete, contacts_delete
from crm.models import Contact
from crm.services import contact_upsert
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.retention import attempts_prune
from tests.api_helpers import detail_url
from tests.integrations_helpers import SANDBOX_KEY, drain, settle
from tests.integrations_providers import API_ROOTS, provider_sandbox

pytestmark = pytest.mark.django_db(transaction=True)

DELETE_KEY = "sandbox-delete-key-5a6b7c8d"  # a GetRaze key allowed to delete
OPTIONS = {"klen": {"team_id": 1}}
DELETES = {
    "getraze": "/contacts/{}",
    "contactship": "/v1/contacts/{}",
    "close": "/contact/{}/",
}


@pytest.fixture
def boxes(sandbox_server):
    boxes = {provider: provider_sandbox(sandbox_server, provider) for provider in API_ROOTS}
    boxes["getraze"].add_key(DELETE_KEY, ["contacts:read", "contacts:write", "contacts:delete"])
    return boxes


def make_connection(provider: str, box, *, key: str = SANDBOX_KEY, **fields) -> Connection:
    connection = Connection(
        name=f"{provider} sandbox",
        provider=provider,
        base_url=box.base_url,
        options=OPTIONS.get(provider, {}),
        rate_limit=0,
        **{"on_delete": "delete", **fields},
    )
    connection.api_key = key
    connection.save()
    return connection


@pytest.fixture
def connections(boxes) -> dict[str, Connection]:
    keys = {"getraze": DELETE_KEY}
    return {
        provider: make_connection(provider, box, key=keys.get(provider, SANDBOX_KEY))
        for provider, box in boxes.items()
    }


def ada() -> Contact:
    return contact_upsert(
        data={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        phone_numbers=[{"number": "+14155552671"}],
    )


def settle_all(connections, clock) -> None:
    for connection in connections.values():
        settle(connection, clock)


def deletes(box) -> list[str]:
    return [r["path"] for r in box.requests() if r["method"] == "DELETE"]


def test_a_contact_deleted_through_the_api_is_deleted_at_each_provider_that_can(
    api_client, boxes, connections, time_machine
):
    contact = ada()
    settle_all(connections, time_machine)
    remote = {p: RemoteLink.objects.get(connection=c).remote_id for p, c in connections.items()}
    assert all(remote.values())

    assert api_client.delete(detail_url(contact.pk)).status_code == 204
    links = {link.connection.provider: link for link in RemoteLink.objects.all()}
    assert {p: (link.contact_id, link.state) for p, link in links.items()} == {
        p: (None, "deleting") for p in connections
    }
    drain()

    for provider, path in DELETES.items():
        assert deletes(boxes[provider]) == [path.format(remote[provider])], provider
        assert boxes[provider].contacts() == [], provider
        link = RemoteLink.objects.get(connection=connections[provider])
        assert (link.contact_id, link.state, link.remote_id) == (None, "deleted", remote[provider])
        [attempt] = link.push_attempts.filter(operation="delete")
        assert (attempt.method, attempt.outcome) == ("DELETE", "success")
    klen = RemoteLink.objects.get(connection=connections["klen"])
    assert (klen.state, klen.last_error_code) == ("skipped", "delete_not_supported")
    assert klen.last_error_message == (
        "Klen AI documents no delete endpoint: the record stays there."
    )
    assert deletes(boxes["klen"]) == [] and len(boxes["klen"].contacts()) == 1
    assert not DBTaskResult.objects.failed().exists()


def test_a_getraze_key_without_delete_permission_fails_the_delete_and_pushes_go_on(
    boxes, time_machine
):
    connection = make_connection("getraze", boxes["getraze"])  # read and write only
    contact = ada()
    settle(connection, time_machine)

    contact_delete(contact=contact)
    drain()

    link = RemoteLink.objects.get(contact=None)
    assert (link.state, link.last_error_code, link.last_error_message) == (
        "failed",
        "INSUFFICIENT_PERMISSIONS",
        "Insufficient permissions. Required permission: contacts:delete",
    )
    [attempt] = link.push_attempts.filter(operation="delete")
    assert (attempt.http_status, attempt.outcome) == (403, "auth")
    connection.refresh_from_db()
    assert not connection.is_paused
    grace = contact_upsert(data={"first_name": "Grace", "email": "grace@example.com"})
    settle(connection, time_machine)
    assert RemoteLink.objects.get(contact=grace).state == "synced"


def test_a_record_already_gone_at_the_provider_counts_as_deleted(boxes, time_machine):
    connection = make_connection("contactship", boxes["contactship"])
    contact = ada()
    settle(connection, time_machine)
    boxes["contactship"].reset()  # forgotten there

    contact_delete(contact=contact)
    drain()

    link = RemoteLink.objects.get(contact=None)
    assert (link.state, link.last_error_code) == ("deleted", "")
    [attempt] = link.push_attempts.filter(operation="delete")
    assert (attempt.http_status, attempt.outcome) == (404, "not_found")


def test_a_retryable_error_retries_the_delete_with_its_attempts_kept(boxes, time_machine):
    connection = make_connection("close", boxes["close"])
    contact = ada()
    settle(connection, time_machine)
    boxes["close"].faults(fail_next=1)

    contact_delete(contact=contact)
    settle(connection, time_machine)  # nothing pending…
    link = RemoteLink.objects.get(contact=None)
    assert link.state == "deleting"  # …but the delete waits for its retry
    time_machine.move_to(link.next_attempt_at, tick=True)
    drain()

    link.refresh_from_db()
    assert link.state == "deleted"
    outcomes = list(
        link.push_attempts.filter(operation="delete").order_by("id").values_list("outcome")
    )
    assert outcomes == [("retry",), ("success",)]
    assert boxes["close"].contacts() == []


def test_with_keep_the_link_goes_with_the_contact_and_nothing_is_deleted(boxes, time_machine):
    connection = make_connection("close", boxes["close"], on_delete="keep")
    contact = ada()
    settle(connection, time_machine)

    contact_delete(contact=contact)
    drain()

    assert not RemoteLink.objects.exists() and not PushAttempt.objects.exists()
    assert deletes(boxes["close"]) == [] and len(boxes["close"].contacts()) == 1


def test_a_contact_deleted_from_its_admin_page_is_deleted_at_the_provider(
    staff_client, boxes, time_machine
):
    connection = make_connection("close", boxes["close"])
    contact = ada()
    settle(connection, time_machine)

    page = reverse("admin:crm_contact_delete", args=[contact.pk])
    assert staff_client.post(page, {"post": "yes"}).status_code == 302
    assert not Contact.objects.exists()
    drain()

    assert len(deletes(boxes["close"])) == 1 and boxes["close"].contacts() == []
    assert RemoteLink.objects.get().state == "deleted"


def test_a_bulk_delete_from_the_admin_deletes_every_remote_record(
    staff_client, boxes, time_machine
):
    connection = make_connection("close", boxes["close"])
    for i in range(3):
        contact_upsert(data={"first_name": f"P{i}", "email": f"p{i}@example.com"})
    settle(connection, time_machine)

    response = staff_client.post(
        reverse("admin:crm_contact_changelist"),
        {
            "action": "delete_selected",
            "post": "yes",
            helpers.ACTION_CHECKBOX_NAME: list(Contact.objects.values_list("pk", flat=True)),
        },
    )
    assert response.status_code == 302
    assert not Contact.objects.exists()
    drain()

    assert len(deletes(boxes["close"])) == 3 and boxes["close"].contacts() == []
    assert set(RemoteLink.objects.values_list("state", flat=True)) == {"deleted"}


def test_a_delete_in_chunks_queues_each_remote_delete_once(boxes, time_machine):
    connection = make_connection("contactship", boxes["contactship"])
    for i in range(3):
        contact_upsert(
            data={"first_name": f"P{i}", "email": f"p{i}@example.com"},
            phone_numbers=[{"number": f"+1415555267{i}"}],
        )
    settle(connection, time_machine)
    DBTaskResult.objects.all().delete()

    # Two chunks, each its own transaction, as a chunked bulk delete does.
    first, *rest = Contact.objects.order_by("pk")
    contacts_delete(contacts=Contact.objects.filter(pk=first.pk))
    contacts_delete(contacts=Contact.objects.filter(pk__in=[c.pk for c in rest]))

    queued = []
    for task in DBTaskResult.objects.all():
        kwargs = task.args_kwargs["kwargs"]
        queued += kwargs.get("link_ids", [kwargs.get("link_id")])
    assert sorted(queued) == sorted(RemoteLink.objects.values_list("pk", flat=True))
    drain()
    assert len(deletes(boxes["contactship"])) == 3


def test_a_rolled_back_delete_keeps_the_contact_its_link_and_queues_nothing(boxes, time_machine):
    connection = make_connection("close", boxes["close"])
    contact = ada()
    settle(connection, time_machine)
    DBTaskResult.objects.all().delete()
    contact_id = contact.pk

    with pytest.raises(RuntimeError), transaction.atomic():
        contact_delete(contact=contact)
        raise RuntimeError("rolled back")

    link = RemoteLink.objects.get()
    assert (link.contact_id, link.state) == (contact_id, "synced")
    assert not DBTaskResult.objects.exists()


def test_settled_deletes_are_pruned_with_old_attempts(boxes, time_machine):
    connection = make_connection("close", boxes["close"])
    contact = ada()
    settle(connection, time_machine)
    contact_delete(contact=contact)
    drain()
    failed = RemoteLink.objects.create(connection=connection, state="failed", remote_id="x")

    attempts_prune(days=-1)  # everything is older than tomorrow

    assert list(RemoteLink.objects.all()) == [failed]  # a failed delete waits for staff
