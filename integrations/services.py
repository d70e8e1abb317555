"""Writes of the integrations app: connections, marking links pending, queueing pushes.

Queueing is built for bulk: marking 10,000 contacts pending and queueing their pushes takes a
handful of queries per thousand contacts, never one query per contact.
"""

import datetime
import functools
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from crm.models import Contact

from .models import Connection, PushAttempt, RemoteLink

logger = logging.getLogger(__name__)

CHUNK = 1000
BATCH = 100  # links per triage task: bounds a task's run time and the size of its queries


def connection_upsert(
    *,
    name: str,
    provider: str,
    api_key: str | None = None,
    base_url: str | None = None,
    options: Mapping[str, Any] | None = None,
    **fields: Any,
) -> tuple[Connection, bool]:
    """Create the connection called `name`, or update it. Returns (connection, created).

    Only what is passed changes: `options` are merged into the stored ones. An empty
    `base_url` means the provider's official URL.
    """
    connection = Connection.objects.filter(name=name).first()
    created = connection is None
    if created:
        connection = Connection(name=name, provider=provider)
    connection.provider = provider
    if api_key is not None:
        connection.api_key = api_key
    if base_url is not None or created:
        connection.base_url = base_url or ""
    if options:
        connection.options = {**(connection.options or {}), **options}
    for field, value in fields.items():
        setattr(connection, field, value)
    if not connection.api_key_encrypted:
        raise ValueError("A new connection needs an API key.")
    connection.full_clean(exclude=["base_url"] if not connection.base_url else None)
    connection.save()
    # A new key is the fix a paused connection waits for (as in the admin): resume it and
    # push what piled up, or the pending links would wait for someone to click Resume.
    if api_key and connection.is_paused:
        connection_resume(connection=connection)
    return connection, created


def connection_pause(*, connection: Connection, reason: str) -> None:
    """Stop pushing to a connection whose credentials were refused, until staff resume it."""
    paused = Connection.objects.filter(pk=connection.pk, paused_at__isnull=True).update(
        paused_at=timezone.now(), paused_reason=reason[:500]
    )
    if paused:
        logger.warning("Connection %s paused: %s", connection.name, reason)


def connection_options_merge(*, connection: Connection, key: str, entries: dict) -> None:
    """Merge `entries` into the object stored under the connection's option `key`, under a
    row lock, so two workers remembering different entries at once both keep theirs."""
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        options = dict(locked.options or {})
        options[key] = {**(options.get(key) or {}), **entries}
        Connection.objects.filter(pk=connection.pk).update(options=options)
    connection.options = options


def connection_resume(*, connection: Connection) -> int:
    """Clear a pause and queue the connection's pending pushes again. Returns how many."""
    Connection.objects.filter(pk=connection.pk).update(paused_at=None, paused_reason="")
    connection.paused_at, connection.paused_reason = None, ""
    return links_enqueue_pending(connection=connection)


def connection_check(*, connection: Connection) -> tuple[bool, str]:
    """Staff's "Test connection": one harmless authenticated read. Returns (ok, message).

    Only reports: a refused key does not pause the connection here (the push engine does
    that when a push is refused), so testing a draft connection changes nothing.
    """
    from .crypto import SecretUnreadable
    from .providers import ProviderError
    from .push import adapter_for

    provider = connection.get_provider_display()
    try:
        adapter_for(connection).check()
    except SecretUnreadable:
        return False, "The stored API key can't be read: enter it again."
    except ProviderError as error:
        answer = f"HTTP {error.status}" if error.status is not None else "no answer"
        return False, f"{provider} refused it ({answer}, {error.code}): {error.message}"
    return True, f"{provider} accepted the API key."


def links_mark_pending(
    *,
    contacts: QuerySet[Contact] | Iterable[int],
    connections: Iterable[Connection] | None = None,
) -> int:
    """Mark the links of `contacts` to `connections` pending and queue their push.

    `connections` defaults to every enabled auto-push connection. Missing links are created.
    Runs in the caller's transaction, and the push is queued once per link per transaction
    (see `_pushes_queue`): a single contact's link gets its own `push_link` task, many links
    go by batches of `BATCH` to `push_links`, which settles the unchanged ones in bulk.
    Returns the number of links marked.
    """
    connection_ids = None if connections is None else [c.pk for c in connections]
    if connection_ids == []:
        return 0
    if isinstance(contacts, QuerySet):
        contact_ids = list(contacts.order_by().values_list("pk", flat=True))
    else:
        contact_ids = list(dict.fromkeys(contacts))
    marked = 0
    now = timezone.now()
    # No savepoint: a failed statement here dooms the caller's transaction anyway, and a
    # contact save is measured in statements (SAVEPOINT and RELEASE would be two more).
    with transaction.atomic(using=router.db_for_write(RemoteLink), savepoint=False):
        for start in range(0, len(contact_ids), CHUNK):
            rows = _links_upsert_pending(
                contact_ids=contact_ids[start : start + CHUNK],
                connection_ids=connection_ids,
                now=now,
            )
            marked += len(rows)
            _pushes_queue(rows)
    return marked


def _pending_values(now) -> dict:
    """The plain values of a link made pending afresh (see `_pending_fields`)."""
    return {
        "state": RemoteLink.State.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error_code": "",
        "last_error_message": "",
        "updated_at": now,
    }


def _pending_fields(now) -> dict:
    """A link made pending afresh: a new generation, so any push in flight leaves it pending."""
    return {**_pending_values(now), "generation": F("generation") + 1}


def _links_upsert_pending(
    *, contact_ids: list[int], connection_ids: list[int] | None, now
) -> list[tuple[int, int]]:
    """Create or mark pending afresh the links of `contact_ids` to `connection_ids` (None:
    the enabled auto-push connections). Returns [(link_id, connection_id)].

    One statement, where the ORM needs four (read the connections, insert the missing links,
    update them all, read their ids): INSERT … SELECT … ON CONFLICT DO UPDATE … RETURNING,
    which PostgreSQL and SQLite ≥ 3.35 both run. It is a contact save's whole bookkeeping,
    so it is what the save pays for an auto-push connection. Contacts deleted meanwhile
    simply get no link (they are joined, not trusted).
    """
    if not contact_ids:
        return []
    db = router.db_for_write(RemoteLink)
    connection = connections[db]
    quote = connection.ops.quote_name
    meta = RemoteLink._meta
    table = quote(meta.db_table)
    # Every other column gets what a new RemoteLink would: the model's defaults, so a column
    # added later is filled like the ORM would fill it, with the pending values on top.
    # A new link starts at generation 1: created, then marked pending once.
    template = RemoteLink(**_pending_values(now), generation=1)
    columns, values = [], []
    for field in meta.concrete_fields:
        if field.primary_key or field.attname in ("contact_id", "connection_id"):
            continue
        columns.append(field.column)
        values.append(field.get_db_prep_save(field.pre_save(template, add=True), connection))
    pending = _pending_values(now)
    assignments, assigned = [], []
    for name, value in pending.items():
        field = meta.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        assigned.append(field.get_db_prep_save(value, connection))
    generation = quote(meta.get_field("generation").column)
    assignments.append(f"{generation} = {table}.{generation} + 1")
    if connection_ids is None:
        enabled = quote(Connection._meta.get_field("enabled").column)
        auto_push = quote(Connection._meta.get_field("auto_push").column)
        which, which_params = f"k.{enabled} AND k.{auto_push}", []
    else:
        which = "k.{} IN ({})".format(quote("id"), ", ".join(["%s"] * len(connection_ids)))
        which_params = connection_ids
    contact_field, connection_field = meta.get_field("contact"), meta.get_field("connection")
    # Identifiers come from the models' meta, quoted by the backend; values are parameters.
    # The WHERE clause also settles SQLite's INSERT … SELECT … ON CONFLICT parsing ambiguity.
    sql = (  # noqa: S608
        "INSERT INTO {table} ({contact}, {conn}, {columns}) "
        "SELECT c.{cid}, k.{kid}, {placeholders} FROM {contacts} c, {conns} k "
        "WHERE c.{cid} IN ({ids}) AND {which} "
        "ON CONFLICT ({contact}, {conn}) DO UPDATE SET {assignments} "
        "RETURNING {table}.{pk}, {table}.{conn}"
    ).format(
        table=table,
        contact=quote(contact_field.column),
        conn=quote(connection_field.column),
        columns=", ".join(quote(c) for c in columns),
        cid=quote(Contact._meta.pk.column),
        kid=quote(Connection._meta.pk.column),
        placeholders=", ".join(["%s"] * len(values)),
        contacts=quote(Contact._meta.db_table),
        conns=quote(Connection._meta.db_table),
        ids=", ".join(["%s"] * len(contact_ids)),
        which=which,
        assignments=", ".join(assignments),
        pk=quote(meta.pk.column),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *contact_ids, *which_params, *assigned])
        return [tuple(row) for row in cursor.fetchall()]


def links_retry(*, links: QuerySet[RemoteLink]) -> int:
    """Push these links again now, whatever their state (staff's "Retry")."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(links.order_by().values_list("pk", "connection_id"))
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            RemoteLink.objects.filter(pk__in=[pk for pk, _ in chunk]).update(**_pending_fields(now))
            _pushes_queue(chunk)
    return len(rows)


def links_enqueue_pending(
    *, connection: Connection | None = None, overdue_for: float | None = None
) -> int:
    """The sweep: queue pending links again, each at its next attempt time. Returns how many.

    A lost task (a worker killed mid-task, a pruned queue) can delay a push but never lose
    it. With `overdue_for`, only links whose push is that many seconds late and not claimed
    by a worker are queued: those whose task is gone, for a periodic sweep. Duplicates are
    harmless anyway: the engine claims a link before pushing and sends an unchanged payload
    once. Links due now go by batches (most of a large backlog is often unchanged); a link
    waiting for a retry gets its own task at its time.
    """
    links = RemoteLink.objects.filter(
        state=RemoteLink.State.PENDING, connection__enabled=True, connection__paused_at=None
    )
    if connection is not None:
        links = links.filter(connection=connection)
    now = timezone.now()
    if overdue_for is not None:
        late = now - datetime.timedelta(seconds=overdue_for)
        links = links.filter(
            Q(next_attempt_at__lt=late) | Q(next_attempt_at__isnull=True, updated_at__lt=late),
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        )
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    due_rows = list(links.filter(due).values_list("pk", "connection_id"))
    later = list(links.exclude(due).values_list("pk", "next_attempt_at"))
    from .tasks import push_link

    _tasks_insert(
        _push_tasks(due_rows) + [(push_link, {"link_id": pk}, run_after) for pk, run_after in later]
    )
    return len(due_rows) + len(later)


def attempts_prune(*, days: float | None = None) -> int:
    """Delete push attempts older than `days` (default ATTEMPT_RETENTION_DAYS); returns how
    many. Only the audit trail goes: links, and so remote IDs and sync states, stay."""
    if days is None:
        days = settings.INTEGRATIONS["ATTEMPT_RETENTION_DAYS"]
    cutoff = timezone.now() - datetime.timedelta(days=days)
    # Deleted by ID in chunks: one huge DELETE would hold the table (and SQLite's one write
    # lock) while the worker wants to record attempts.
    deleted = 0
    old = PushAttempt.objects.filter(started_at__lt=cutoff).order_by()
    while ids := list(old.values_list("pk", flat=True)[:CHUNK]):
        deleted += PushAttempt.objects.filter(pk__in=ids).delete()[0]
    return deleted


class _QueuedInTransaction:
    """An on-commit entry remembering the pushes one call queued in the current transaction.

    It is how a link is queued once per transaction (the admin writes the contact row, then
    inlines, then tags; an import marks thousands of contacts): the entries live in the
    transaction's own on-commit list, so those registered in a savepoint that is rolled back
    vanish with it, exactly like the task rows that savepoint inserted. With the database
    queue the tasks are already written and committing does nothing more; with another task
    backend `pending` holds the tasks, sent when the transaction commits.
    """

    def __init__(self, link_ids: list[int], pending: list | None = None):
        self.link_ids = set(link_ids)
        self.pending = pending or []

    def __call__(self) -> None:
        pending, self.pending = self.pending, []
        _tasks_insert(pending)


def _pushes_queue(rows: list[tuple[int, int]]) -> None:
    """Queue the pushes of links just marked pending, [(link_id, connection_id)], in the
    current transaction, skipping links already queued in it."""
    db = router.db_for_write(RemoteLink)
    connection = connections[db]
    entries = [c for _s, c, _r in connection.run_on_commit if isinstance(c, _QueuedInTransaction)]
    rows = [row for row in rows if not any(row[0] in entry.link_ids for entry in entries)]
    if not rows:
        return
    tasks = _push_tasks(rows)
    link_ids = [link_id for link_id, _ in rows]
    in_database = _queue_shares_database(db)
    if in_database:
        # DESIGN.md says "enqueue on commit"; with django-tasks-db on the links' own database
        # the task rows are written in the caller's transaction instead. Workers see them only
        # when it commits, so they still read the final state, and the change and its push
        # are atomic: a rollback takes both away, and no crash between commit and enqueue
        # can leave a pending link unqueued until the sweep. It also spares each save a
        # second transaction (and its commit) after the first.
        _tasks_insert(tasks)
    # Many saves in one transaction (an import row by row) extend one entry, so the scan
    # above stays short; a new savepoint level gets its own, to vanish with it.
    last = connection.run_on_commit[-1] if connection.run_on_commit else None
    if (
        last
        and isinstance(last[1], _QueuedInTransaction)
        and last[0] == set(connection.savepoint_ids)
    ):
        last[1].link_ids.update(link_ids)
        last[1].pending += [] if in_database else tasks
    else:
        entry = _QueuedInTransaction(link_ids, None if in_database else tasks)
        transaction.on_commit(entry, using=db)


def _queue_shares_database(db: str) -> bool:
    from .tasks import push_link

    return isinstance(push_link.get_backend(), DatabaseBackend) and (
        router.db_for_write(DBTaskResult) == db
    )


def _push_tasks(rows: list[tuple[int, int]]) -> list[tuple[Any, dict, None]]:
    """The tasks that push these links now: a link alone gets `push_link`; several links of a
    connection go by batches of BATCH to `push_links`, which settles the unchanged ones in
    bulk and queues `push_link` for the others (so per-link claims, concurrency and rate
    limits still apply to every request)."""
    from .tasks import push_link, push_links

    by_connection: dict[int, list[int]] = {}
    for link_id, connection_id in rows:
        by_connection.setdefault(connection_id, []).append(link_id)
    tasks = []
    for link_ids in by_connection.values():
        for start in range(0, len(link_ids), BATCH):
            batch = link_ids[start : start + BATCH]
            if len(batch) == 1:
                tasks.append((push_link, {"link_id": batch[0]}, None))
            else:
                tasks.append((push_links, {"link_ids": batch}, None))
    return tasks


def tasks_enqueue(rows: list[tuple[int, Any]]) -> None:
    """Queue `push_link` for each (link_id, run_after or None), in bulk on the database backend."""
    from .tasks import push_link

    _tasks_insert([(push_link, {"link_id": link_id}, run_after) for link_id, run_after in rows])


def _tasks_insert(tasks: list[tuple[Any, dict, Any]]) -> None:
    """Enqueue each (task, kwargs, run_after or None), in bulk on the database backend."""
    if not tasks:
        return
    backend = tasks[0][0].get_backend()
    if not isinstance(backend, DatabaseBackend):
        for task, kwargs, run_after in tasks:
            (task.using(run_after=run_after) if run_after else task).enqueue(**kwargs)
        return
    # The backend's enqueue() costs one INSERT per task; 10,000 contacts must queue in about a
    # second, so the rows are written with one executemany. What we skip is the
    # task_enqueued signal, which nothing here listens to.
    db = router.db_for_write(DBTaskResult)
    connection = connections[db]
    pk_field, args_field, run_after_field = map(
        DBTaskResult._meta.get_field, ("id", "args_kwargs", "run_after")
    )
    now = timezone.now()
    # A task to run now is due from now, where the backend's enqueue() stores "no time" as
    # the year 9999. Its worker claims the first ready task in (priority, run_after) order
    # with a filter the index cannot apply: with tasks at 9999, every claim walked past
    # every retry not yet due (20,000 of them cost each claim 3.6 ms of PostgreSQL time, for
    # every queue). Due from now, a due task is the index's first entry, and tasks run in
    # the order they became due, retries included.
    due_now = run_after_field.get_db_prep_save(now, connection)
    rows: dict[str, dict] = {}  # per task path: the row's values shared by this call's tasks
    params = []
    sql = ""
    for task, kwargs, run_after in tasks:
        shared = rows.get(task.module_path)
        if shared is None:
            sql, constant, stamped = _task_row_template(
                db, backend.alias, task.module_path, task.priority, task.queue_name
            )
            shared = rows[task.module_path] = {
                **constant,
                **{f.attname: f.get_db_prep_save(now, connection) for f in stamped},
            }
        row = dict(shared)
        row[pk_field.attname] = pk_field.get_db_prep_save(uuid.uuid4(), connection)
        row[args_field.attname] = args_field.get_db_prep_save(
            {"args": [], "kwargs": kwargs}, connection
        )
        row[run_after_field.attname] = (
            run_after_field.get_db_prep_save(run_after, connection) if run_after else due_now
        )
        params.append(list(row.values()))
    with transaction.atomic(using=db, savepoint=False), connection.cursor() as cursor:
        if len(params) == 1:  # a contact save: psycopg's executemany would add a pipeline sync
            cursor.execute(sql, params[0])
            return
        for start in range(0, len(params), 1000):
            cursor.executemany(sql, params[start : start + 1000])


@functools.cache
def _task_row_template(
    db: str, backend: str, task_path: str, priority: int, queue_name: str
) -> tuple[str, dict[str, Any], list]:
    """The INSERT for a task's rows and the values every row of it shares, prepared once per
    process by the model's own fields (a contact save queues one task: preparing fifteen
    columns each time was a fifth of what an auto-push connection adds to the save).

    Returns (sql, {attname: value} in column order, the fields stamped with the enqueue time,
    whose values the caller adds). A column added in a django-tasks-db release is filled
    from its default, as the ORM would fill it.
    """
    connection = connections[db]
    fields = DBTaskResult._meta.concrete_fields
    template = DBTaskResult(
        args_kwargs={},
        priority=priority,
        task_path=task_path,
        queue_name=queue_name,
        backend_name=backend,
        run_after=None,  # each row's own
    )
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    constant: dict[str, Any] = {}
    for field in fields:
        # A stamped field keeps its place (the INSERT lists the columns in this order); its
        # value is each call's.
        prepared = field.get_db_prep_save(field.pre_save(template, add=True), connection)
        constant[field.attname] = None if field in stamped else prepared
    quote = connection.ops.quote_name
    # Identifiers from the model's meta, quoted by the backend; every value is a parameter.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(DBTaskResult._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    return sql, constant, stamped
