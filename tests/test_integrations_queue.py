"""The queue: pushes go through the tasks framework's public enqueue(), in the caller's
transaction, at most one task per link waiting to start, whatever savepoints roll back."""

import pytest
import time_machine
from django.db import transaction
from django.tasks.signals import task_enqueued
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from crm.services import contact_upsert
from integrations import push as integrations_push
from integrations import tasks
from integrations.links import links_mark_pending, links_retry
from integrations.models import RemoteLink
from integrations.queue import push_tasks, queued_pushes_start
from tests.integrations_helpers import drain

PUSH_LINK = "integrations.tasks.push_link"


def queued_links() -> list[int]:
    return sorted(
        task.args_kwargs["kwargs"]["link_id"]
        for task in DBTaskResult.objects.filter(task_path=PUSH_LINK)
    )


@pytest.fixture
def ada(getraze_connection) -> Contact:
    return Contact.objects.create(first_name="Ada", email="ada@example.com")


def mark(contact: Contact) -> None:
    links_mark_pending(contacts=[contact.pk])


def queued_tasks_run() -> None:
    """As if the worker had run every queued task."""
    queued_pushes_start(link_ids=list(RemoteLink.objects.values_list("pk", flat=True)))
    DBTaskResult.objects.all().delete()


def test_the_queue_uses_the_tasks_the_worker_runs():
    assert push_tasks() == (tasks.push_link, tasks.push_links)
    assert tasks.push_link.module_path == PUSH_LINK


@pytest.mark.django_db
def test_each_push_is_queued_through_the_backends_enqueue(ada):
    seen = []

    def listener(sender, task_result, **kwargs):
        seen.append((task_result.task.module_path, task_result.kwargs))

    task_enqueued.connect(listener)
    try:
        mark(ada)
    finally:
        task_enqueued.disconnect(listener)
    link = RemoteLink.objects.get(contact=ada)
    assert seen == [(PUSH_LINK, {"link_id": link.pk})]


@pytest.mark.django_db(transaction=True)
def test_a_mark_rolled_back_with_its_savepoint_after_the_push_was_queued_keeps_it_queued(ada):
    with transaction.atomic():
        mark(ada)
        with pytest.raises(RuntimeError), transaction.atomic():
            mark(ada)  # queued already: only the link changes, and that is rolled back
            raise RuntimeError
        mark(ada)
    [link] = RemoteLink.objects.filter(contact=ada)
    assert queued_links() == [link.pk]


@pytest.mark.django_db(transaction=True)
def test_a_push_queued_in_a_nested_savepoint_that_rolls_back_is_queued_again(ada):
    with transaction.atomic():
        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                mark(ada)
                raise RuntimeError
            mark(ada)
        mark(ada)
    [link] = RemoteLink.objects.filter(contact=ada)
    assert queued_links() == [link.pk]


@pytest.mark.django_db(transaction=True)
def test_after_a_rolled_back_transaction_the_next_one_queues_afresh(ada):
    links_mark_pending(contacts=[ada.pk])  # the link exists, its push queued and committed
    queued_tasks_run()
    with pytest.raises(RuntimeError), transaction.atomic():
        mark(ada)
        raise RuntimeError
    with transaction.atomic():
        mark(ada)
    [link] = RemoteLink.objects.filter(contact=ada)
    assert queued_links() == [link.pk]


@pytest.mark.django_db(transaction=True)
def test_a_change_while_the_push_is_queued_rides_on_that_task(ada):
    for _ in range(3):
        with transaction.atomic():
            mark(ada)
            mark(ada)
    [link] = RemoteLink.objects.filter(contact=ada)
    assert (link.generation, queued_links()) == (6, [link.pk])


@pytest.mark.django_db(transaction=True)
def test_a_change_after_the_push_task_started_queues_a_new_one(ada):
    mark(ada)
    [link] = RemoteLink.objects.filter(contact=ada)
    queued_pushes_start(link_ids=[link.pk])  # what push_link does first
    mark(ada)
    assert queued_links() == [link.pk, link.pk]


@pytest.mark.django_db(transaction=True)
def test_a_mark_too_old_to_trust_queues_a_new_task(ada, settings):
    trusted = settings.INTEGRATIONS["QUEUED_TASK_TRUSTED_SECONDS"]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        mark(ada)
        clock.shift(trusted - 1)
        mark(ada)  # the first task may still be in the queue's backlog
        [link] = RemoteLink.objects.filter(contact=ada)
        assert queued_links() == [link.pk]
        clock.shift(2)
        mark(ada)  # its task may be lost (a worker killed as it started it)
    assert queued_links() == [link.pk, link.pk]


@pytest.mark.django_db(transaction=True)
def test_a_staff_retry_rides_on_a_queued_push_and_queues_one_after_it_started(ada):
    mark(ada)
    links = RemoteLink.objects.filter(contact=ada)
    assert links_retry(links=links) == 1
    [link] = links
    assert queued_links() == [link.pk]
    queued_pushes_start(link_ids=[link.pk])
    assert links_retry(links=links) == 1
    assert queued_links() == [link.pk, link.pk]


@pytest.mark.django_db(transaction=True)
def test_a_retry_in_a_transaction_that_queued_the_link_adds_no_task(ada):
    with transaction.atomic():
        mark(ada)
        assert links_retry(links=RemoteLink.objects.filter(contact=ada)) == 1
    [link] = RemoteLink.objects.filter(contact=ada)
    assert (link.generation, queued_links()) == (2, [link.pk])


@pytest.mark.django_db(transaction=True)
def test_a_push_rolled_back_with_its_savepoint_is_queued_again_beside_one_that_stays(ada):
    bob = Contact.objects.create(first_name="Bob", email="bob@example.com")
    with transaction.atomic():
        mark(ada)  # queued at the transaction's level: it stays
        with pytest.raises(RuntimeError), transaction.atomic():
            mark(bob)
            raise RuntimeError
        mark(bob)
        mark(ada)
    links = RemoteLink.objects.order_by("contact_id").values_list("pk", flat=True)
    assert queued_links() == sorted(links)


@pytest.mark.django_db(transaction=True)
def test_a_contact_saved_many_times_before_its_push_starts_is_pushed_once_with_its_last_data(
    ada, sandbox
):
    for n in range(5):
        contact_upsert(contact=ada, data={"title": f"Engineer {n}"})
    [link] = RemoteLink.objects.filter(contact=ada)
    assert queued_links() == [link.pk]

    drain()

    link.refresh_from_db()
    assert link.state == RemoteLink.State.SYNCED
    [created] = sandbox.contacts()
    assert created["title"] == "Engineer 4"
    assert [r["method"] for r in sandbox.writes()] == ["POST"]


@pytest.mark.django_db(transaction=True)
def test_a_save_just_after_a_push_task_started_queues_its_own_and_loses_nothing(
    ada, sandbox, monkeypatch
):
    contact_upsert(contact=ada, data={"title": "First"})
    [link] = RemoteLink.objects.filter(contact=ada)
    started = []

    def start_then_save(*, link_ids):
        queued_pushes_start(link_ids=link_ids)
        if not started:
            started.append(link_ids)
            contact_upsert(contact=ada, data={"title": "Second"})
            assert queued_links().count(link.pk) == 2  # the running task's and its own

    monkeypatch.setattr(integrations_push, "queued_pushes_start", start_then_save)
    drain()

    link.refresh_from_db()
    assert link.state == RemoteLink.State.SYNCED
    assert [c["title"] for c in sandbox.contacts()] == ["Second"]
