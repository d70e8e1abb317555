"""The queue: pushes go through the tasks framework's public enqueue(), in the caller's
transaction, once per link per transaction, whatever savepoints roll back."""

import pytest
from django.db import transaction
from django.tasks.signals import task_enqueued
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from integrations import tasks
from integrations.links import links_mark_pending, links_retry
from integrations.models import RemoteLink
from integrations.queue import push_tasks

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
    DBTaskResult.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        mark(ada)
        raise RuntimeError
    with transaction.atomic():
        mark(ada)
    [link] = RemoteLink.objects.filter(contact=ada)
    assert queued_links() == [link.pk]


@pytest.mark.django_db(transaction=True)
def test_each_committed_transaction_queues_its_own_push(ada):
    for _ in range(2):
        with transaction.atomic():
            mark(ada)
            mark(ada)
    [link] = RemoteLink.objects.filter(contact=ada)
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
