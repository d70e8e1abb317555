"""Writes of the integrations app: connections, marking links pending, queueing pushes.

Queueing is built for bulk: marking 10,000 contacts pending and queueing their pushes takes a
handful of queries per thousand contacts, never one query per contact.
"""

import datetime
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from crm.models import Contact

from .models import Connection, PushAttempt, RemoteLink

logger = logging.getLogger(__name__)

CHUNK = 1000


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
    """Mark the links of `contacts` to `connections` pending and queue their push on commit.

    `connections` defaults to every enabled auto-push connection. Missing links are created.
    Runs in the caller's transaction; the push is queued once per link per transaction, after
    commit, so the worker reads the final state (admin inlines and tags are saved after the
    contact row). Returns the number of links marked.
    """
    if connections is None:
        connections = Connection.objects.filter(enabled=True, auto_push=True)
    connection_ids = [c.pk for c in connections]
    if not connection_ids:
        return 0
    if isinstance(contacts, QuerySet):
        contact_ids = list(contacts.order_by().values_list("pk", flat=True))
    else:
        contact_ids = list(contacts)
    marked = 0
    now = timezone.now()
    with transaction.atomic():
        for start in range(0, len(contact_ids), CHUNK):
            chunk = contact_ids[start : start + CHUNK]
            RemoteLink.objects.bulk_create(
                [
                    RemoteLink(contact_id=contact_id, connection_id=connection_id)
                    for contact_id in chunk
                    for connection_id in connection_ids
                ],
                ignore_conflicts=True,
            )
            links = RemoteLink.objects.filter(
                contact_id__in=chunk, connection_id__in=connection_ids
            )
            marked += links.update(**_pending_fields(now))
            _enqueue_on_commit(list(links.values_list("pk", flat=True)))
    return marked


def _pending_fields(now) -> dict:
    """A link made pending afresh: a new generation, so any push in flight leaves it pending."""
    return {
        "state": RemoteLink.State.PENDING,
        "generation": F("generation") + 1,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error_code": "",
        "last_error_message": "",
        "updated_at": now,
    }


def links_retry(*, links: QuerySet[RemoteLink]) -> int:
    """Push these links again now, whatever their state (staff's "Retry")."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(links.order_by().values_list("pk", flat=True))
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            RemoteLink.objects.filter(pk__in=chunk).update(**_pending_fields(now))
            _enqueue_on_commit(chunk)
    return len(ids)


def links_enqueue_pending(
    *, connection: Connection | None = None, overdue_for: float | None = None
) -> int:
    """The sweep: queue pending links again, each at its next attempt time. Returns how many.

    A lost task (a worker killed mid-task, a pruned queue) can delay a push but never lose
    it. With `overdue_for`, only links whose push is that many seconds late and not claimed
    by a worker are queued: those whose task is gone, for a periodic sweep. Duplicates are
    harmless anyway: the engine claims a link before pushing and sends an unchanged payload
    once.
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
    rows = [(pk, None) for pk in links.filter(due).values_list("pk", flat=True)]
    rows += list(links.exclude(due).values_list("pk", "next_attempt_at"))
    tasks_enqueue(rows)
    return len(rows)


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


class _PushesOnCommit:
    """The links to queue when the current transaction commits, gathered into one batch."""

    def __init__(self):
        self.link_ids: dict[int, None] = {}

    def flush(self) -> None:
        link_ids, self.link_ids = list(self.link_ids), {}
        tasks_enqueue([(pk, None) for pk in link_ids])


def _enqueue_on_commit(link_ids: list[int]) -> None:
    # One batch per transaction, so a contact saved several times in it (the admin writes the
    # row, then inlines, then tags) is queued once. The batch is found through the
    # transaction's own on-commit list rather than a registry of ours, so it vanishes with a
    # rollback. Each call registers its own flush (the first to run sends the whole batch, the
    # rest find it empty), so tests capturing on-commit callbacks see one. A link marked in a
    # savepoint later rolled back stays in the batch; its push then finds nothing to send.
    connection = transaction.get_connection()
    batch = None
    for _savepoints, callback, _robust in reversed(connection.run_on_commit):
        if isinstance(getattr(callback, "__self__", None), _PushesOnCommit):
            batch = callback.__self__
            break
    if batch is None:
        batch = _PushesOnCommit()
    batch.link_ids.update(dict.fromkeys(link_ids))
    transaction.on_commit(batch.flush)


def tasks_enqueue(rows: list[tuple[int, Any]]) -> None:
    """Queue `push_link` for each (link_id, run_after or None), in bulk on the database backend."""
    from .tasks import push_link

    if not rows:
        return
    backend = push_link.get_backend()
    if not isinstance(backend, DatabaseBackend):
        for link_id, run_after in rows:
            task = push_link.using(run_after=run_after) if run_after else push_link
            task.enqueue(link_id=link_id)
        return
    # The backend's enqueue() costs one INSERT per task; 10,000 contacts must queue in about a
    # second, so the rows are written with one executemany. Every column but three is the
    # same for all rows and is prepared once by the model's own fields, so a new column in a
    # django-tasks-db release is filled from its default. What we skip is the task_enqueued
    # signal, which nothing here listens to.
    template = DBTaskResult(
        args_kwargs={},
        priority=push_link.priority,
        task_path=push_link.module_path,
        queue_name=push_link.queue_name,
        backend_name=backend.alias,
        run_after=get_date_max(),
    )
    db = router.db_for_write(DBTaskResult)
    connection = connections[db]
    fields = DBTaskResult._meta.concrete_fields
    prepared = {
        f.attname: f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields
    }
    by_name = {f.attname: f for f in fields}
    pk_field, args_field, run_after_field = (
        by_name["id"],
        by_name["args_kwargs"],
        by_name["run_after"],
    )
    date_max = prepared["run_after"]
    params = []
    for link_id, run_after in rows:
        prepared["id"] = pk_field.get_db_prep_save(uuid.uuid4(), connection)
        prepared["args_kwargs"] = args_field.get_db_prep_save(
            {"args": [], "kwargs": {"link_id": link_id}}, connection
        )
        prepared["run_after"] = (
            run_after_field.get_db_prep_save(run_after, connection) if run_after else date_max
        )
        params.append([prepared[f.attname] for f in fields])
    quote = connection.ops.quote_name
    # Identifiers from the model's meta, quoted by the backend; every value is a parameter.
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
        quote(DBTaskResult._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    with transaction.atomic(using=db), connection.cursor() as cursor:
        for start in range(0, len(params), 1000):
            cursor.executemany(sql, params[start : start + 1000])
