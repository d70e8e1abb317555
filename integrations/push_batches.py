"""Pushes staff queued from the contact list, kept as a row each so their progress can be
followed: the selection as it was made (the list's filters, or the ticked contacts), never
every id of it."""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet

from crm.models import Contact

from .links import links_mark_pending
from .models import Connection, PushBatch

PUSH_BATCHES_KEPT = 5  # per user: the progress pages of older pushes are gone


@transaction.atomic
def push_batch_create(
    *,
    contacts: QuerySet[Contact],
    connections: Iterable[Connection],
    created_by,
    select_across: bool,
    query: str = "",
    contact_ids: Iterable[int] = (),
) -> tuple[PushBatch, int]:
    """Queue the pushes of `contacts` to `connections` and record them as a batch.

    `select_across` says how the contacts were chosen: by the contact list's `query` string
    (its filters and search), or as `contact_ids` ticked on one page. The batch is written
    before the links are marked, so every link marked for it is at least as recent as the
    batch. Returns the batch and the number of pushes queued.
    """
    connections = list(connections)
    batch = PushBatch.objects.create(
        created_by=created_by,
        select_across=select_across,
        query=query if select_across else "",
        contact_ids=[] if select_across else sorted(int(pk) for pk in contact_ids),
        contact_count=contacts.count(),
    )
    batch.connections.set(connections)
    queued = links_mark_pending(contacts=contacts, connections=connections)
    kept = PushBatch.objects.filter(created_by=created_by).values("pk")[:PUSH_BATCHES_KEPT]
    PushBatch.objects.filter(created_by=created_by).exclude(pk__in=kept).delete()
    return batch, queued
