"""The batch triage: links marked pending together (a bulk push, an import, the sweep) are
settled in bulk when they need no request, and handed to their own push otherwise."""

import datetime
import logging
import operator
import uuid
from collections import Counter
from functools import reduce

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.bulk_read import contacts_in_bulk

from .adapters import adapter_for, payload_hash
from .audience import audience_includes, outside_audience_fields
from .connections import connection_pause
from .crypto import SecretUnreadable
from .models import Connection, RemoteLink
from .providers import Adapter
from .push import Result, settled_without_request
from .queue import tasks_enqueue

logger = logging.getLogger(__name__)


def links_triage(*, link_ids: list[int]) -> Counter:
    """Push a batch of links marked pending together (a bulk push, an import, the sweep).

    Links that need no request, skipped or unchanged, are settled here in bulk; each of the
    others gets its own `push_link` task, so the per-link claim, the concurrency slots and the
    rate limit govern every request exactly as they do for a single push. A re-push of 10,000
    unchanged contacts is then 100 tasks of about ten statements each, not 10,000 tasks.

    The rules are link_push's, in bulk. The links are claimed first: a push in flight stores
    its payload's hash when it ends, so settling a link it holds could mark a changed contact
    synced; a link claimed by someone else goes to its own `push_link`, which waits for it.
    The payload is built from the database now, by the adapter, as for any push. A link whose
    generation moved since it was read stays pending for the push its change queued. If the
    batch fails, its links are handed to `push_link` one by one; if the worker dies, they
    stay pending and claimed until the lease ends, and the sweep queues them again.

    Returns how many links ended each way: Result values, "queued" for those needing a request
    (handed to push_link) and "changed" for those left pending because they changed meanwhile.
    """
    counts: Counter = Counter()
    holder = uuid.uuid4().hex
    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.INTEGRATIONS["LEASE_SECONDS"])
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    # By primary key only: a filter on the state would lead PostgreSQL to the state index,
    # which during a bulk re-push holds every pending link (and, its statistics taken when
    # few were pending, it looks cheap), so each batch would scan them all. Links no longer
    # pending are claimed too, and simply released below.
    claimable = RemoteLink.objects.filter(free, pk__in=link_ids)
    with transaction.atomic():
        # Rows another transaction is writing (a save marking a link, another batch) are
        # skipped rather than waited for: they count as claimed elsewhere, just below.
        RemoteLink.objects.filter(
            pk__in=claimable.order_by()
            .select_for_update(skip_locked=True, of=("self",))
            .values("pk")
        ).update(claimed_by=holder, claimed_until=now + lease, push_queued_at=None)
    claimed = list(RemoteLink.objects.filter(pk__in=link_ids, claimed_by=holder).order_by())
    due = (RemoteLink.State.PENDING, RemoteLink.State.DELETING)
    links = [link for link in claimed if link.state in due]
    counts[Result.NOT_PENDING] += len(claimed) - len(links)
    # A batch is of one connection: read once, not joined to each link.
    by_pk = Connection.objects.in_bulk({link.connection_id for link in links})
    for link in links:
        link.connection = by_pk[link.connection_id]
    busy: list[int] = []  # claimed by another worker: handed to their own push_link task
    others = set(link_ids) - {link.pk for link in claimed}
    if others:
        # Pending ones include any a save is writing now: marked pending for this batch, its
        # mark was still set, so that save queued nothing and their push_link reads it.
        pending = RemoteLink.objects.filter(pk__in=others, state__in=due)
        busy = list(pending.values_list("pk", flat=True))
        counts[Result.NOT_PENDING] += len(others) - len(busy)
        counts[Result.BUSY] += len(busy)

    def release_and_queue(link_ids: list[int]) -> None:
        RemoteLink.objects.filter(pk__in=[link.pk for link in claimed], claimed_by=holder).update(
            claimed_by="", claimed_until=None
        )
        tasks_enqueue([(pk, None) for pk in busy + link_ids])

    try:
        # Reads and payloads first, outside any transaction: on SQLite a transaction holds
        # the database's one write lock, which the web process's saves wait for.
        settle, needs_request = _triage_sort(links, counts)
        with transaction.atomic():
            for (result, state, fields), group in settle.items():
                settled = _links_finish(group, holder, state, **dict(fields))
                counts[result] += settled
                counts["changed"] += len(group) - settled  # left pending for their change's push
            release_and_queue(needs_request)
    except Exception:
        # Nothing above was kept: let each link take the single push's path, which records
        # whatever goes wrong with it on its own.
        with transaction.atomic():
            release_and_queue([link.pk for link in links])
        raise
    counts["queued"] += len(needs_request)
    return +counts  # without the zeros


def _triage_sort(
    links: list[RemoteLink], counts: Counter
) -> tuple[dict[tuple, list[RemoteLink]], list[int]]:
    """Build the payloads of the claimed `links`. Returns the links to settle without a
    request, grouped by (result, state, the fields _finish stores), and the ids of those
    needing one."""
    contacts = contacts_in_bulk(ids={link.contact_id for link in links})
    settle: dict[tuple, list[RemoteLink]] = {}
    needs_request: list[int] = []
    outside = _outside_audiences(links)
    adapters: dict[int, Adapter | None] = {}
    for link in links:
        connection = link.connection
        if not connection.is_active:
            counts[Result.INACTIVE] += 1  # stays pending; resuming the connection queues it
            continue
        if connection.pk not in adapters:
            try:
                adapters[connection.pk] = adapter_for(connection)
            except SecretUnreadable as exc:
                connection_pause(connection=connection, reason=str(exc))
                adapters[connection.pk] = None
        adapter = adapters[connection.pk]
        if link.contact_id is None:  # its contact was deleted: a remote delete, by push_link
            needs_request.append(link.pk)
            continue
        if link.contact_id in outside.get(connection.pk, ()):
            if connection.on_leave == Connection.OnLeave.DELETE and link.remote_id:
                needs_request.append(link.pk)  # left the audience: its record is deleted
            else:
                fields = tuple(sorted(outside_audience_fields(connection).items()))
                key = (Result.SKIPPED, RemoteLink.State.SKIPPED, fields)
                settle.setdefault(key, []).append(link)
            continue
        contact = contacts.get(link.contact_id)
        if adapter is None:
            counts[Result.PAUSED] += 1
            continue
        if contact is None:  # deleted since it was read; its link went with it
            counts[Result.GONE] += 1
            continue
        try:
            payload = adapter.build_payload(contact)
            settled = settled_without_request(link, adapter, payload, payload_hash(payload))
        except Exception:
            # One contact's bad data must not hold up the batch: its own push fails visibly.
            logger.exception("Building the payload of link %s failed", link.pk)
            needs_request.append(link.pk)
            continue
        if settled is None:
            needs_request.append(link.pk)
        else:
            result, state, fields = settled
            settle.setdefault((result, state, tuple(sorted(fields.items()))), []).append(link)
    return settle, needs_request


def _outside_audiences(links: list[RemoteLink]) -> dict[int, set[int]]:
    """{connection id: ids of the links' contacts outside its audience}: a query per
    connection with an audience (a batch is of one connection)."""
    by_connection: dict[int, set[int]] = {}
    for link in links:
        if link.connection.audience and link.contact_id is not None:
            by_connection.setdefault(link.connection.pk, set()).add(link.contact_id)
    connections = {link.connection.pk: link.connection for link in links}
    return {pk: ids - audience_includes(connections[pk], ids) for pk, ids in by_connection.items()}


def _links_finish(links: list[RemoteLink], holder: str, state: str, **fields) -> int:
    """`_finish` for many links at once, releasing their claim: only links still at the
    generation they were read at (and still ours) are settled. Returns how many were."""
    if not links:
        return 0
    by_generation: dict[int, list[int]] = {}
    for link in links:
        by_generation.setdefault(link.generation, []).append(link.pk)
    same = reduce(operator.or_, (Q(generation=g, pk__in=ids) for g, ids in by_generation.items()))
    return RemoteLink.objects.filter(same, claimed_by=holder).update(
        state=state, claimed_by="", claimed_until=None, updated_at=timezone.now(), **fields
    )
