"""Two defects of issue 17, over real HTTP through the real worker: a change made while a lost
create waits for its retry must not create a second record, and a push whose contact is
deleted in flight ends quietly."""

import datetime
import threading
import time

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.deletion import contact_delete
from crm.services import contact_upsert
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.push import Result
from tests.integrations_helpers import SANDBOX_KEY, drain, drain_in_thread, settle
from tests.integrations_providers import provider_sandbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def close_box(sandbox_server):
    return provider_sandbox(sandbox_server, "close")


@pytest.fixture
def close_connection(close_box) -> Connection:
    connection = Connection(
        name="close", provider="close", base_url=close_box.base_url, rate_limit=0
    )
    connection.api_key = SANDBOX_KEY
    connection.save()
    return connection


def test_an_edit_while_a_lost_create_waits_for_its_retry_creates_no_second_record(
    close_box, close_connection, time_machine
):
    # The first lookup, the one after the lost create and the one of the edit's push all miss:
    # Close's search index has not caught up with the create yet.
    close_box.faults(drop_after_create_next=1, lookup_misses_next=3)
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    drain()
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.create_unresolved_until is not None) == ("pending", True)
    retry_at = link.next_attempt_at

    # Edited a fraction of a second later: the link is reset and a push queued for now.
    contact_upsert(contact=contact, data={"title": "Engineer"})
    drain()

    link.refresh_from_db()
    assert (link.state, link.last_error_code) == ("pending", "create_unresolved")
    assert link.next_attempt_at == retry_at  # the wait the lost create asked for holds
    assert len(close_box.contacts()) == 1
    settle(close_connection, time_machine)

    [record] = close_box.contacts()
    link.refresh_from_db()
    assert (link.state, link.remote_id, link.create_unresolved_until) == (
        "synced",
        record["id"],
        None,
    )
    assert record["title"] == "Engineer"
    creates = [r for r in close_box.requests() if (r["method"], r["path"]) == ("POST", "/contact/")]
    assert len(creates) == 1


def test_once_its_retry_has_come_a_create_the_lookup_still_misses_is_made(
    close_box, close_connection, time_machine
):
    # Lost for good (never stored): the retry looks once more, then creates.
    close_box.faults(fail_creates_next=1)  # a 500: maybe applied, as far as we can tell
    contact = contact_upsert(data={"first_name": "Bo", "email": "bo@example.com"})
    drain()
    link = RemoteLink.objects.get(contact=contact)
    assert link.create_unresolved_until is not None
    settle(close_connection, time_machine)

    [record] = close_box.contacts()
    link.refresh_from_db()
    assert (link.state, link.remote_id, link.create_unresolved_until) == (
        "synced",
        record["id"],
        None,
    )


def test_a_contact_deleted_while_its_push_is_in_flight_leaves_no_error_in_the_worker(
    sandbox, getraze_connection, settings
):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "HTTP_TIMEOUT": 5.0}
    contact = contact_upsert(data={"first_name": "Cy", "email": "cy@example.com"})
    sandbox.faults(latency=0.5)
    worker = threading.Thread(target=drain_in_thread)
    worker.start()
    try:
        # The lookup before the create is being answered when the contact is deleted.
        _wait_for(lambda: len(sandbox.requests()) >= 1)
        contact_delete(contact=contact)
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive()

    results = list(DBTaskResult.objects.values_list("status", "return_value"))
    assert results == [(TaskResultStatus.SUCCESSFUL, str(Result.GONE))]
    assert not RemoteLink.objects.exists()
    assert not PushAttempt.objects.exists()


def test_a_record_created_by_a_push_in_flight_is_deleted_once_that_push_ends(
    close_box, close_connection, settings, time_machine
):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "HTTP_TIMEOUT": 5.0}
    close_connection.on_delete = "delete"
    close_connection.save()
    contact = contact_upsert(data={"first_name": "Di", "email": "di@example.com"})
    close_box.faults(latency=0.3)
    worker = threading.Thread(target=drain_in_thread)
    worker.start()
    try:
        _wait_for(lambda: len(close_box.requests()) >= 1)  # the lookup before the create
        contact_delete(contact=contact)
    finally:
        worker.join(timeout=60)
    assert not worker.is_alive()
    close_box.faults(latency=0.0)
    # A delete that found the link claimed by the push was queued again a second or two later.
    time_machine.move_to(timezone.now() + datetime.timedelta(seconds=5), tick=True)
    drain()

    link = RemoteLink.objects.get()
    assert (link.contact_id, link.state) == (None, "deleted")
    assert close_box.contacts() == []  # what the push in flight created is deleted after it
    assert not DBTaskResult.objects.failed().exists()


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker's first request")
        time.sleep(0.02)
