"""The push queue: the one module that queues pushes, through django.tasks' public enqueue().

With django-tasks-db on the links' own database, a task is a row written in the caller's
transaction. Workers see it when the transaction commits, so they read the final state, and a
change and its push are atomic: a rollback takes both away, and no crash between a commit and
an enqueue can leave a pending link unqueued until the sweep. With any other backend, the
tasks are sent when the transaction commits.

The queue's tasks run the push engine, and the engine queues pushes: so the queue does not
import its tasks. `integrations.tasks` defines them and the app hands them over at startup
(`push_tasks_use`, called from `IntegrationsConfig.ready`).
"""

import datetime
import weakref
from collections.abc import Iterable
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.tasks import Task
from django.utils import timezone
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from .models import RemoteLink

BATCH = 100  # links per triage task: bounds a task's run time and the size of its queries


class PushTasks(NamedTuple):
    push_link: Task  # push one link
    push_links: Task  # triage a batch of links of one connection


_push_tasks: list[PushTasks] = []  # the one set of tasks, once the app is ready


def push_tasks_use(*, push_link: Task, push_links: Task) -> None:
    """Hand the queue the tasks it queues pushes as."""
    _push_tasks[:] = [PushTasks(push_link, push_links)]


def push_tasks() -> PushTasks:
    if not _push_tasks:
        raise ImproperlyConfigured("The push tasks are handed to the queue when the app is ready.")
    return _push_tasks[0]


Queued = tuple[Task, dict, datetime.datetime | None]  # (task, its kwargs, run after or None: now)


def tasks_enqueue(rows: Iterable[tuple[int, datetime.datetime | None]]) -> None:
    """Queue `push_link` for each (link_id, run_after or None: now), in the caller's
    transaction. No check for a push already queued: a retry, a re-queue, the sweep."""
    push_link = push_tasks().push_link
    _enqueue([(push_link, {"link_id": link_id}, run_after) for link_id, run_after in rows])


def link_pushes_enqueue(*, links: list[tuple[int, int]]) -> None:
    """Queue the pushes of these links, [(link_id, connection_id)], to run now, by batches."""
    _enqueue(_push_tasks_for(links))


def link_pushes_queue(*, links: list[tuple[int, int, int]]) -> None:
    """Queue the pushes of links just marked pending, [(link_id, connection_id, generation)],
    skipping those already queued in the current transaction.

    A link is marked several times in one transaction (the admin writes the contact row, then
    its inlines, then its tags; an import row by row), and pushed once. What this transaction
    queued is recorded with the generation each mark gave the link: a later mark that finds
    the link at that generation or below means the first mark was rolled back with its
    savepoint, and its task with it, so the push is queued again.
    """
    db = router.db_for_write(RemoteLink)
    record = _TransactionRecord.current(db)
    queued = record.generations
    fresh = [row for row in links if row[0] not in queued or row[2] <= queued[row[0]]]
    if not fresh:
        return
    queued.update((link_id, generation) for link_id, _, generation in fresh)
    tasks = _push_tasks_for([(link_id, connection_id) for link_id, connection_id, _ in fresh])
    in_database = _queue_shares_database(db)
    if in_database:
        _enqueue(tasks)
    # Registered with each call that queued, at the caller's savepoint level: it lives exactly
    # as long as the pushes it stands for, and tells the record its transaction committed.
    transaction.on_commit(_OnCommit(record, [] if in_database else tasks), using=db)


class _TransactionRecord:
    """The links one transaction queued, by the generation their mark gave them.

    Kept only by the on-commit callbacks of its calls (the registry holds it weakly), so a
    transaction that rolls back drops it with them; the first callback run at commit closes
    it, so the next transaction starts afresh. Should a record outlive a rollback, the
    generations still tell: the rollback took every mark it recorded back.
    """

    by_database: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection: its record

    def __init__(self):
        self.generations: dict[int, int] = {}
        self.committed = False

    @classmethod
    def current(cls, db: str) -> "_TransactionRecord":
        connection = transaction.get_connection(db)
        found = cls.by_database.get(connection)
        record = found() if found is not None else None
        if record is None or record.committed:
            record = cls()
            cls.by_database[connection] = weakref.ref(record)
        return record


class _OnCommit:
    """One call's on-commit callback: closes the transaction's record and sends the tasks a
    backend outside the transaction's database could not write in it."""

    def __init__(self, record: _TransactionRecord, tasks: list[Queued]):
        self.record = record
        self.tasks = tasks

    def __call__(self) -> None:
        self.record.committed = True
        tasks, self.tasks = self.tasks, []
        _enqueue(tasks)


def _queue_shares_database(db: str) -> bool:
    return isinstance(push_tasks().push_link.get_backend(), DatabaseBackend) and (
        router.db_for_write(DBTaskResult) == db
    )


def _push_tasks_for(links: list[tuple[int, int]]) -> list[Queued]:
    """The tasks that push these links now: a link alone gets `push_link`; several links of a
    connection go by batches of BATCH to `push_links`, which settles the unchanged ones in
    bulk and queues `push_link` for the others (so per-link claims, concurrency and rate
    limits still apply to every request)."""
    push_link, push_links = push_tasks()
    by_connection: dict[int, list[int]] = {}
    for link_id, connection_id in links:
        by_connection.setdefault(connection_id, []).append(link_id)
    tasks: list[Queued] = []
    for link_ids in by_connection.values():
        for start in range(0, len(link_ids), BATCH):
            batch = link_ids[start : start + BATCH]
            if len(batch) == 1:
                tasks.append((push_link, {"link_id": batch[0]}, None))
            else:
                tasks.append((push_links, {"link_ids": batch}, None))
    return tasks


def _enqueue(tasks: list[Queued]) -> None:
    """Enqueue each (task, kwargs, run_after or None: now)."""
    if not tasks:
        return
    # The database backend stores a task to run now as due in the year 9999, and its worker
    # claims the first ready task in (priority, run_after) order: such tasks would sort after
    # every retry not yet due, and each claim would walk past all of those. Due from its
    # enqueue time, a task to run now is the index's first entry, and tasks run in the order
    # they became due, retries included.
    due_now = isinstance(tasks[0][0].get_backend(), DatabaseBackend)
    for task, kwargs, run_after in tasks:
        if run_after is None and due_now:
            run_after = timezone.now()
        (task.using(run_after=run_after) if run_after is not None else task).enqueue(**kwargs)
