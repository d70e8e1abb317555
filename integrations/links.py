"""Links between contacts and connections: marking them pending (a contact changed, staff
asked for a push or a retry) and the sweep that queues pending links again.

Built for bulk: marking 10,000 contacts pending and queueing their pushes takes a handful of
queries per thousand contacts and one per batch of pushes, never one query per contact.
"""

import datetime
from collections.abc import Iterable

from django.db import connections, router, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from crm.models import Contact

from .models import Connection, RemoteLink
from .queue import (
    link_pushes_enqueue,
    link_pushes_queue,
    queued_trusted_after,
    tasks_enqueue,
)

CHUNK = 1000  # contacts or links per statement, at most


def ids_per_statement(*, using: str, reserved: int = 0) -> int:
    """How many ids one statement may bind besides `reserved` other parameters: CHUNK, or
    fewer where the database allows fewer parameters (SQLite may be built, or set, lower)."""
    limit = connections[using].features.max_query_params
    return CHUNK if limit is None else max(1, min(CHUNK, limit - reserved))


def links_mark_pending(
    *,
    contacts: QuerySet[Contact] | Iterable[int],
    connections: Iterable[Connection] | None = None,
) -> int:
    """Mark the links of `contacts` to `connections` pending and queue their push.

    `connections` defaults to every enabled auto-push connection. Missing links are created.
    Runs in the caller's transaction. A link whose push task is queued and not yet started
    rides on it (see `queue.queued_trusted_after`); for the others, a single contact's link
    gets its own `push_link` task, many links go by batches to `push_links`, which settles
    the unchanged ones in bulk.
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
    db = router.db_for_write(RemoteLink)
    # The upsert also binds the connections and two values per column of a link.
    reserved = len(connection_ids or ()) + 2 * len(RemoteLink._meta.concrete_fields)
    chunk = ids_per_statement(using=db, reserved=reserved)
    with transaction.atomic(using=db, savepoint=False):
        for start in range(0, len(contact_ids), chunk):
            rows = _links_upsert_pending(
                contact_ids=contact_ids[start : start + chunk],
                connection_ids=connection_ids,
                now=now,
            )
            marked += len(rows)
            link_pushes_queue(links=[(pk, conn) for pk, conn, queue_it in rows if queue_it])
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


def _queued_mark(now) -> Case:
    """A link's `push_queued_at` once marked pending at `now`: kept while its queued task has
    not started (that task will read the change), else `now`, and a task is queued."""
    return Case(
        When(push_queued_at__gt=queued_trusted_after(now), then=F("push_queued_at")),
        default=Value(now),
    )


def _links_upsert_pending(
    *, contact_ids: list[int], connection_ids: list[int] | None, now
) -> list[tuple[int, int, bool]]:
    """Create or mark pending afresh the links of `contact_ids` to `connection_ids` (None:
    the enabled auto-push connections). Returns [(link_id, connection_id, queue_it)]:
    `queue_it` is false for a link whose queued push task will read this change.

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
    template = RemoteLink(**_pending_values(now), generation=1, push_queued_at=now)
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
    # A queued push that has not started keeps its mark (it will read this change); any
    # other link is marked now, and RETURNING tells which: those are queued by the caller.
    queued_field = meta.get_field("push_queued_at")
    queued = quote(queued_field.column)
    assignments.append(
        f"{queued} = CASE WHEN {table}.{queued} > %s THEN {table}.{queued} ELSE %s END"
    )
    now_value = queued_field.get_db_prep_save(now, connection)
    assigned += [queued_field.get_db_prep_save(queued_trusted_after(now), connection), now_value]
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
        "RETURNING {table}.{pk}, {table}.{conn}, {table}.{queued} = %s"
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
        queued=queued,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *contact_ids, *which_params, *assigned, now_value])
        return [(pk, conn, bool(queue_it)) for pk, conn, queue_it in cursor.fetchall()]


def links_retry(*, links: QuerySet[RemoteLink]) -> int:
    """Push these links again now, whatever their state (staff's "Retry")."""
    now = timezone.now()
    # The update binds the pending values besides the ids.
    reserved = 2 * len(RemoteLink._meta.concrete_fields)
    size = ids_per_statement(using=router.db_for_write(RemoteLink), reserved=reserved)
    with transaction.atomic():
        link_ids = list(links.order_by().values_list("pk", flat=True))
        for start in range(0, len(link_ids), size):
            chunk = RemoteLink.objects.filter(pk__in=link_ids[start : start + size]).order_by()
            chunk.update(**_pending_fields(now), push_queued_at=_queued_mark(now))
            # Read after the update, which holds the rows: the marks it gave them.
            rows = chunk.values_list("pk", "connection_id", "push_queued_at")
            link_pushes_queue(links=[(pk, conn) for pk, conn, at in rows if at == now])
    return len(link_ids)


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
        state__in=[RemoteLink.State.PENDING, RemoteLink.State.DELETING],
        connection__enabled=True,
        connection__paused_at=None,
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
    with transaction.atomic():  # one commit for the whole sweep
        link_pushes_enqueue(links=due_rows)
        tasks_enqueue(later)
    return len(due_rows) + len(later)
