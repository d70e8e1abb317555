"""The push queue: the one module that queues pushes, through django.tasks' public enqueue().

With django-tasks-db on the links' own database, a task is a row written in the caller's
transaction. Workers see it when the transaction commits, so they read the final state, and a
change and its push are atomic: a rollback takes both away, and no crash between a commit and
an enqueue can leave a pending link unqueued until the sweep. With any other backend, the
tasks are sent when the transaction commits.

A link waits in the queue as at most one task to run now: a change to a link whose push task
is queued and not yet started rides on that task (`queued_trusted_after`), which reads the
link when it starts. Retries at a later time, the sweep and staff's bulk pushes queue as
before; a duplicate task is harmless, as the engine claims a link before pushing it.

The queue's tasks run the push engine, and the engine queues pushes: so the queue does not
import its tasks. `integrations.tasks` defines them and the app hands them over at startup
(`push_tasks_use`, called from `IntegrationsConfig.ready`).
"""

import datetime
import functools
from collections.abc import Iterable
from typing import NamedTuple

from django.conf import settings
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


def link_pushes_queue(*, links: list[tuple[int, int]]) -> None:
    """Queue the pushes of links just marked pending, [(link_id, connection_id)], whose mark
    set `push_queued_at` (see `queued_trusted_after`): in the caller's transaction, or when
    it commits for a backend outside the links' database."""
    tasks = _push_tasks_for(links)
    if not tasks:
        return
    db = router.db_for_write(RemoteLink)
    if _queue_shares_database(db):
        _enqueue(tasks)
    else:
        transaction.on_commit(functools.partial(_enqueue, tasks), using=db)


def queued_trusted_after(now: datetime.datetime) -> datetime.datetime:
    """A link whose `push_queued_at` is later than this has a push task queued and not yet
    started, and a change to it rides on that task instead of queueing another.

    A contact saved forty times while its provider hangs then waits in the queue as one
    task, not forty, and the admin's several writes of one save (the contact row, its
    inlines, its tags) queue one. The mark and its task are written in one transaction, so
    a rollback, whole or to a savepoint, takes both. Each task clears the mark of its links
    before reading them (`link_push` through `queued_pushes_start`, a batch with its claim),
    so a change made after that queues anew, and one made before is read by the task. A
    mark older than QUEUED_TASK_TRUSTED_SECONDS is not trusted: its task may be lost (a
    worker killed as the task started, a pruned queue), and the next change queues one.
    """
    trusted = settings.INTEGRATIONS["QUEUED_TASK_TRUSTED_SECONDS"]
    return now - datetime.timedelta(seconds=trusted)


def queued_pushes_start(*, link_ids: list[int]) -> None:
    """Called first by a task that pushes these links: from now on, a change to one of them
    queues a push of its own (see `queued_trusted_after`). The update waits for a save
    that is writing one of the links, so the task then reads that save's change."""
    RemoteLink.objects.filter(pk__in=link_ids, push_queued_at__isnull=False).update(
        push_queued_at=None
    )


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
