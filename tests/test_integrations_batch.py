"""Bulk pushes go by batches: unchanged and skipped links are settled without a request, the
others get their own push_link; and a contact save queues its push in its own transaction."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from crm.services import contact_upsert
from integrations import triage as engine
from integrations.links import links_enqueue_pending, links_mark_pending
from integrations.models import RemoteLink
from integrations.push import Result
from integrations.queue import BATCH, queued_pushes_start, tasks_enqueue
from integrations.triage import links_triage
from tests.integrations_helpers import drain

PUSH_LINK = "integrations.tasks.push_link"
PUSH_LINKS = "integrations.tasks.push_links"


def tasks() -> list[tuple[str, list[int]]]:
    """The queued tasks as (task, link ids), in no particular order."""
    found = []
    for task in DBTaskResult.objects.filter(status="READY"):
        kwargs = task.args_kwargs["kwargs"]
        found.append((task.task_path, kwargs.get("link_ids") or [kwargs["link_id"]]))
    return found


def synced_contacts(connection, count: int) -> list[Contact]:
    """`count` contacts pushed once through the worker, so their links hold a remote ID."""
    Contact.objects.bulk_create(
        [Contact(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(count)]
    )
    contacts = list(Contact.objects.order_by("pk"))
    links_mark_pending(contacts=[c.pk for c in contacts], connections=[connection])
    drain()
    assert set(RemoteLink.objects.values_list("state", flat=True)) == {"synced"}
    DBTaskResult.objects.all().delete()
    return contacts


def states(contacts) -> list[str]:
    links = RemoteLink.objects.filter(contact__in=contacts).order_by("contact_id")
    return list(links.values_list("state", flat=True))


@pytest.fixture
def marked(getraze_connection):
    """Mark links pending and return their ids, dropping the queued tasks (run by hand)."""

    def mark(contacts) -> list[int]:
        links_mark_pending(contacts=[c.pk for c in contacts], connections=[getraze_connection])
        DBTaskResult.objects.all().delete()
        links = RemoteLink.objects.filter(contact__in=contacts, connection=getraze_connection)
        return list(links.order_by("contact_id").values_list("pk", flat=True))

    return mark


# --- queueing -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_single_contact_gets_its_own_push_and_many_go_by_batches(getraze_connection):
    Contact.objects.bulk_create(
        [Contact(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(BATCH * 2 + 5)]
    )
    [one] = Contact.objects.order_by("pk")[:1]
    links_mark_pending(contacts=[one.pk], connections=[getraze_connection])
    assert [task for task, _ in tasks()] == [PUSH_LINK]

    queued_pushes_start(link_ids=list(RemoteLink.objects.values_list("pk", flat=True)))
    DBTaskResult.objects.all().delete()  # as if the worker had run it
    links_mark_pending(contacts=Contact.objects.all(), connections=[getraze_connection])
    sizes = sorted(len(ids) for task, ids in tasks() if task == PUSH_LINKS)
    assert sizes == [5, BATCH, BATCH]
    assert {i for _, ids in tasks() for i in ids} == set(
        RemoteLink.objects.values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_a_task_queued_in_bulk_is_the_row_the_backends_enqueue_writes():
    from integrations.tasks import push_link

    later = timezone.now() + datetime.timedelta(minutes=5)
    push_link.enqueue(link_id=1)
    push_link.using(run_after=later).enqueue(link_id=2)
    before = timezone.now()
    tasks_enqueue([(1, None), (2, later)])

    ignored = {"id", "enqueued_at", "run_after"}
    columns = [f.attname for f in DBTaskResult._meta.concrete_fields if f.attname not in ignored]
    rows = DBTaskResult.objects.values_list(*columns)

    def by_link(rows):
        return sorted(rows, key=lambda row: row[columns.index("args_kwargs")]["kwargs"]["link_id"])

    ours, theirs = rows.filter(enqueued_at__gte=before), rows.filter(enqueued_at__lt=before)
    assert by_link(ours) == by_link(theirs)
    # The enqueue time is each call's own.
    tasks_enqueue([(3, None)])
    stamps = DBTaskResult.objects.order_by("enqueued_at").values_list("enqueued_at", flat=True)
    assert stamps[4] > stamps[3] >= before


@pytest.mark.django_db
def test_a_task_to_run_now_is_claimed_before_tasks_not_yet_due():
    # The worker claims the first ready task in the model's order, filtering out those not
    # yet due as it goes: a due task must come first, or each claim walks every retry
    # waiting for its time. Due from its enqueue time, it also runs in the order it became
    # due among retries that came due earlier.
    now = timezone.now()
    tasks_enqueue([(n, now + datetime.timedelta(minutes=n)) for n in range(1, 4)])
    tasks_enqueue([(10, now - datetime.timedelta(seconds=1)), (20, None)])

    order = DBTaskResult.objects.filter(status="READY").order_by(*DBTaskResult._meta.ordering)
    assert [t.args_kwargs["kwargs"]["link_id"] for t in order] == [10, 20, 1, 2, 3]
    fresh = DBTaskResult.objects.get(args_kwargs__kwargs__link_id=20)
    # Due from the moment it is queued (the backend stamps enqueued_at just after).
    assert fresh.enqueued_at - datetime.timedelta(seconds=1) < fresh.run_after <= fresh.enqueued_at
    assert DBTaskResult.objects.ready().count() == 2


@pytest.mark.django_db
def test_the_sweep_batches_due_links_and_queues_a_retry_at_its_time(getraze_connection):
    Contact.objects.bulk_create([Contact(first_name=f"C{n}") for n in range(3)])
    links_mark_pending(contacts=Contact.objects.all(), connections=[getraze_connection])
    later = timezone.now() + datetime.timedelta(minutes=5)
    waiting = RemoteLink.objects.order_by("pk").first()
    RemoteLink.objects.filter(pk=waiting.pk).update(next_attempt_at=later)
    DBTaskResult.objects.all().delete()

    assert links_enqueue_pending(connection=getraze_connection) == 3

    assert sorted(tasks()) == sorted(
        [
            (
                PUSH_LINKS,
                sorted(set(RemoteLink.objects.values_list("pk", flat=True)) - {waiting.pk}),
            ),
            (PUSH_LINK, [waiting.pk]),
        ]
    )
    assert DBTaskResult.objects.get(task_path=PUSH_LINK).run_after == later


@pytest.mark.django_db
def test_a_contact_save_marks_and_queues_in_two_statements(
    getraze_connection, django_assert_num_queries
):
    contact = Contact.objects.create(first_name="Ada", email="ada@example.com")
    # One upsert for the link (auto-push connections read in the same statement), one insert
    # for the task, in the caller's transaction: no savepoint, no second transaction.
    with django_assert_num_queries(2):
        assert links_mark_pending(contacts=[contact.pk]) == 1
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.generation) == ("pending", 1)
    assert tasks() == [(PUSH_LINK, [link.pk])]

    RemoteLink.objects.filter(pk=link.pk).update(state="synced", last_error_code="x")
    with django_assert_num_queries(1):  # queued already in this transaction: not again
        links_mark_pending(contacts=[contact.pk])
    link.refresh_from_db()
    assert (link.state, link.generation, link.last_error_code) == ("pending", 2, "")
    assert len(tasks()) == 1


@pytest.mark.django_db
def test_no_auto_push_connection_costs_one_statement(getraze_connection, django_assert_num_queries):
    getraze_connection.auto_push = False
    getraze_connection.save()
    contact = Contact.objects.create(first_name="Ada", email="ada@example.com")
    with django_assert_num_queries(1):
        assert links_mark_pending(contacts=[contact.pk]) == 0
    assert not RemoteLink.objects.exists()
    assert tasks() == []


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_save_leaves_no_task_and_no_pending_link(getraze_connection, sandbox):
    contact = Contact.objects.create(first_name="Ada", email="ada@example.com")
    with pytest.raises(RuntimeError), transaction.atomic():
        contact_upsert(contact=contact, data={"title": "CTO"})
        assert len(tasks()) == 1  # written in the transaction, seen by workers at commit
        raise RuntimeError
    assert tasks() == []
    assert not RemoteLink.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_save_rolled_back_in_a_savepoint_does_not_stop_a_later_save_queueing(
    getraze_connection, sandbox
):
    contact = Contact.objects.create(first_name="Ada", email="ada@example.com")
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            contact_upsert(contact=contact, data={"title": "CTO"})
            raise RuntimeError
        assert tasks() == []
        contact_upsert(contact=contact, data={"title": "CEO"})
    [link] = RemoteLink.objects.filter(contact=contact)
    assert tasks() == [(PUSH_LINK, [link.pk])]
    drain()
    assert sandbox.contacts()[0]["title"] == "CEO"


# --- the batch ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_batch_settles_unchanged_and_skipped_links_without_a_request(
    getraze_connection, sandbox, marked
):
    contacts = synced_contacts(getraze_connection, 4)
    changed, skipped = contacts[0], contacts[1]
    contact_upsert(contact=changed, data={"title": "CTO"})
    contact_upsert(contact=skipped, data={"email": ""})  # GetRaze needs an email or a phone
    link_ids = marked(contacts)
    sent = len(sandbox.requests())

    counts = links_triage(link_ids=link_ids)

    assert len(sandbox.requests()) == sent
    assert counts == {Result.UNCHANGED: 2, Result.SKIPPED: 1, "queued": 1}
    assert states(contacts) == ["pending", "skipped", "synced", "synced"]
    assert tasks() == [(PUSH_LINK, [link_ids[0]])]
    assert not RemoteLink.objects.exclude(claimed_by="").exists()
    skipped_link = RemoteLink.objects.get(contact=skipped)
    assert skipped_link.last_error["message"].startswith("GetRaze needs an email or a phone")

    drain()
    assert [r["method"] for r in sandbox.requests()[sent:]] == ["PUT"]
    assert states(contacts) == ["synced", "skipped", "synced", "synced"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_leaves_a_link_changed_meanwhile_pending(
    getraze_connection, sandbox, marked, monkeypatch
):
    contacts = synced_contacts(getraze_connection, 3)
    link_ids = marked(contacts)
    original = engine.payload_hash
    changes = iter([contacts[1]])

    def hash_then_change(payload):
        # Another writer saves a contact while the batch builds the payloads.
        for contact in changes:
            contact_upsert(contact=contact, data={"title": "CEO"})
        return original(payload)

    monkeypatch.setattr(engine, "payload_hash", hash_then_change)
    counts = links_triage(link_ids=link_ids)
    monkeypatch.undo()

    assert counts == {Result.UNCHANGED: 2, "changed": 1}
    assert states(contacts)[1] == "pending"
    assert tasks() == [(PUSH_LINK, [link_ids[1]])]  # queued by the change itself
    drain()
    assert states(contacts) == ["synced"] * 3
    assert [c["title"] for c in sandbox.contacts() if c["email"] == contacts[1].email] == ["CEO"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_hands_a_link_claimed_elsewhere_to_its_own_push(
    getraze_connection, sandbox, marked
):
    contacts = synced_contacts(getraze_connection, 3)
    link_ids = marked(contacts)
    until = timezone.now() + datetime.timedelta(minutes=1)
    RemoteLink.objects.filter(pk=link_ids[0]).update(claimed_by="other", claimed_until=until)

    counts = links_triage(link_ids=link_ids)

    assert counts == {Result.UNCHANGED: 2, Result.BUSY: 1}
    held = RemoteLink.objects.get(pk=link_ids[0])
    assert (held.state, held.claimed_by) == ("pending", "other")  # untouched
    assert tasks() == [(PUSH_LINK, [link_ids[0]])]


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_hands_every_link_to_its_own_push(
    getraze_connection, sandbox, marked, monkeypatch
):
    contacts = synced_contacts(getraze_connection, 3)
    link_ids = marked(contacts)

    queue_calls = []

    def crash_then_queue(*args, **kwargs):
        # The batch's own queueing fails, after its links were settled in the same
        # transaction; the handing over to push_link that follows works.
        queue_calls.append(args)
        if len(queue_calls) == 1:
            raise RuntimeError("worker trouble")
        return tasks_enqueue(*args, **kwargs)

    monkeypatch.setattr(engine, "tasks_enqueue", crash_then_queue)
    with pytest.raises(RuntimeError):
        links_triage(link_ids=link_ids)
    monkeypatch.undo()

    assert states(contacts) == ["pending"] * 3
    assert not RemoteLink.objects.exclude(claimed_by="").exists()
    assert sorted(ids[0] for _, ids in tasks()) == link_ids
    sent = len(sandbox.requests())
    drain()
    assert states(contacts) == ["synced"] * 3
    assert len(sandbox.requests()) == sent  # unchanged: still nothing sent


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_worker_died_is_queued_again_by_the_sweep(
    getraze_connection, sandbox, marked
):
    contacts = synced_contacts(getraze_connection, 3)
    link_ids = marked(contacts)
    expired = timezone.now() - datetime.timedelta(seconds=1)
    # The claim a killed worker left behind, once its lease ran out.
    RemoteLink.objects.filter(pk__in=link_ids).update(claimed_by="dead", claimed_until=expired)
    RemoteLink.objects.filter(pk__in=link_ids).update(
        next_attempt_at=timezone.now() - datetime.timedelta(hours=1)
    )

    assert links_enqueue_pending(connection=getraze_connection, overdue_for=60) == 3
    drain()
    assert states(contacts) == ["synced"] * 3


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_for_ten_links_or_a_hundred(
    getraze_connection, django_assert_max_num_queries
):
    Contact.objects.bulk_create(
        [Contact(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(BATCH)]
    )
    contacts = list(Contact.objects.order_by("pk"))
    links_mark_pending(contacts=[c.pk for c in contacts], connections=[getraze_connection])
    # As if pushed before with this very payload: every link is unchanged.
    adapter = engine.adapter_for(getraze_connection)
    for contact in Contact.objects.prefetch_related("tags", "phone_numbers"):
        RemoteLink.objects.filter(contact=contact).update(
            remote_id=f"r{contact.pk}",
            payload_hash=engine.payload_hash(adapter.build_payload(contact)),
        )
    link_ids = list(RemoteLink.objects.order_by("pk").values_list("pk", flat=True))

    # Claim, read links and their connection, contacts with phones and tags, settle, release,
    # queue: 10 per batch, whatever its size (and 2 savepoints here, inside the test's
    # transaction).
    with django_assert_max_num_queries(12):
        assert links_triage(link_ids=link_ids[:10]) == {Result.UNCHANGED: 10}
    with django_assert_max_num_queries(12):
        assert links_triage(link_ids=link_ids[10:]) == {
            Result.UNCHANGED: BATCH - 10,
        }


@pytest.mark.django_db(transaction=True)
def test_a_re_push_of_unchanged_contacts_through_the_worker_sends_nothing(
    getraze_connection, sandbox
):
    contacts = synced_contacts(getraze_connection, BATCH + 20)
    sent = len(sandbox.requests())

    links_mark_pending(contacts=[c.pk for c in contacts], connections=[getraze_connection])
    assert sorted(task for task, _ in tasks()) == [PUSH_LINKS, PUSH_LINKS]
    drain()

    assert len(sandbox.requests()) == sent
    assert set(states(contacts)) == {"synced"}
    assert DBTaskResult.objects.count() == 2  # no push_link at all


@pytest.mark.django_db(transaction=True)
def test_a_save_that_rode_on_a_batch_while_it_ran_is_pushed(getraze_connection, sandbox, marked):
    """A save writing a link as its batch starts finds the batch's mark, so queues nothing:
    the batch skips the locked link and hands it to its own push, which reads the save."""
    import threading

    from django.db import connection as db_connection
    from django.db import connections

    if db_connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: no row locks to skip")
    contacts = synced_contacts(getraze_connection, 3)
    link_ids = marked(contacts)
    locked, release = threading.Event(), threading.Event()

    def writer() -> None:
        with transaction.atomic():
            contact_upsert(contact=contacts[0], data={"title": "Changed meanwhile"})
            locked.set()
            release.wait(timeout=30)
        connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        counts = links_triage(link_ids=link_ids)
    finally:
        release.set()
        thread.join(timeout=30)

    assert counts == {Result.UNCHANGED: 2, Result.BUSY: 1}
    assert tasks() == [(PUSH_LINK, [link_ids[0]])]  # the save queued nothing of its own
    drain()
    assert states(contacts) == ["synced"] * 3
    [changed] = [c for c in sandbox.contacts() if c["title"] == "Changed meanwhile"]
    assert changed["email"] == contacts[0].email


@pytest.mark.django_db(transaction=True)
def test_with_another_task_backend_the_push_is_queued_on_commit_once(getraze_connection, settings):
    from django.tasks import task_backends

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    backend = task_backends["default"]
    contacts = [Contact.objects.create(first_name=n, email=f"{n}@example.com") for n in "ab"]
    with transaction.atomic():
        for contact in contacts + contacts:  # each saved twice in the transaction
            contact_upsert(contact=contact, data={"title": "CTO"})
        assert backend.results == []  # nothing before commit

    queued = sorted(result.kwargs["link_id"] for result in backend.results)
    assert queued == sorted(RemoteLink.objects.values_list("pk", flat=True))
    assert tasks() == []


@pytest.mark.django_db(transaction=True)
def test_a_batch_skips_a_link_another_transaction_is_writing(getraze_connection, sandbox, marked):
    import threading

    from django.db import connection as db_connection
    from django.db import connections

    if db_connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: no row locks to skip")
    contacts = synced_contacts(getraze_connection, 3)
    link_ids = marked(contacts)
    locked, release = threading.Event(), threading.Event()

    def writer() -> None:
        # A save marking this link pending, its transaction still open.
        with transaction.atomic():
            list(RemoteLink.objects.select_for_update().filter(pk=link_ids[0]).order_by())
            locked.set()
            release.wait(timeout=30)
        connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        counts = links_triage(link_ids=link_ids)  # does not wait for the writer
    finally:
        release.set()
        thread.join(timeout=30)

    assert counts == {Result.UNCHANGED: 2, Result.BUSY: 1}
    assert tasks() == [(PUSH_LINK, [link_ids[0]])]
