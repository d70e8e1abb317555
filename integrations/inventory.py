"""The inventory of a provider's records: how a new contact is created with one request and
never a duplicate where the provider accepts duplicates silently (Close, Klen AI, GetRaze).

The inventory maps each record's duplicate keys (its emails lowercased, its phone numbers
where the provider's lookup searches phones) to its remote ID, per connection, in
RemoteReference rows of kind "email" and "phone". It is read from the provider's list page by
page, and kept fresh by the engine's own writes: every push that syncs a record stores the
keys its payload gives that record, and a remote delete forgets them. While it is fresh (its
read began less than INVENTORY_FRESH_SECONDS ago), it answers "is this contact there
already?" without a request: found, the record is updated (one request); not found, created
(one request). Stale or never read, a new contact is looked up first, as before, unless many
links of the connection wait for their first create: then the inventory is read again first.

The read is shared: one worker at a time holds the connection's claim and reads pages, each
booked on the connection's rate budget like any request and recorded as a lookup attempt of
the push that reads it. Its progress (the next page's cursor) is kept on the connection, so
a read stopped by the rate limit is continued by whichever push comes next, not restarted;
pushes of new contacts meanwhile wait for it rather than each paying a lookup.

The adapter declares its path (`create_path`) and the hooks (`duplicate_key`, `record_keys`,
`read_inventory_page`); see integrations.providers.base.
"""

import datetime
import time
from typing import NamedTuple

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import Connection, RemoteLink, RemoteReference
from .providers import Adapter, ProviderError, adapter_class
from .providers.base import CREATE_FIRST, INVENTORY, Key
from .push_attempts import RequestBudget
from .throttle import Throttled, rate_pause, rate_reserve

__all__ = [
    "INVENTORY_KINDS",
    "LOOK",
    "InventoryMatch",
    "create_first_step",
    "inventory_forget",
    "inventory_match",
    "inventory_matches",
    "inventory_remember",
]

INVENTORY_KINDS = ("email", "phone")
# What a new contact's push does first: ask the provider (a lookup). Otherwise the first step
# is the remote ID found without a request, or "" when there is nothing to find: create.
LOOK = None
# How often a push waiting for another worker's read looks whether it is done.
WAIT_POLL_SECONDS = 0.1


class InventoryMatch(NamedTuple):
    """What the inventory says of a payload: `known` False when it can't tell (a stale or
    never read inventory, or a provider without one); else `remote_id` is the record's ID,
    or "" when the provider has no record with the payload's duplicate key."""

    known: bool
    remote_id: str = ""


def inventory_match(*, connection: Connection, payload: dict) -> InventoryMatch:
    """Whether the provider already holds the record `payload` would create, by the
    inventory alone (no request). Valid for connections whose adapter's create path is the
    inventory."""
    return inventory_matches(connection=connection, payloads=[payload])[0]


def inventory_matches(*, connection: Connection, payloads: list[dict]) -> list[InventoryMatch]:
    """`inventory_match` of each of `payloads` (the adapter's, for one connection), in their
    order, in one query: for the push, and for a dry run telling creates from updates."""
    adapter = adapter_class(connection.provider)
    if adapter.create_path != INVENTORY:
        return [InventoryMatch(False)] * len(payloads)
    keys = [adapter.duplicate_key(payload) for payload in payloads]
    wanted = {(kind, value[:255]) for kind, value in filter(None, keys)}
    found = {}
    if wanted and inventory_fresh(connection):
        rows = RemoteReference.objects.filter(
            connection=connection,
            kind__in={kind for kind, _ in wanted},
            key__in={value for _, value in wanted},
        )
        found = {
            (kind, key): rid for kind, key, rid in rows.values_list("kind", "key", "remote_id")
        }
    elif wanted:
        # Stale or never read: it can't tell, except for payloads without a key.
        return [InventoryMatch(key is None) for key in keys]
    # A payload without a key: the lookup couldn't search for it either, so nothing is found.
    return [
        InventoryMatch(True, found.get((key[0], key[1][:255]), "") if key else "") for key in keys
    ]


def inventory_fresh(connection: Connection) -> bool:
    read_at = connection.inventory_read_at
    bound = datetime.timedelta(seconds=settings.INTEGRATIONS["INVENTORY_FRESH_SECONDS"])
    return read_at is not None and read_at > timezone.now() - bound


def create_first_step(
    *, connection: Connection, adapter: Adapter, budget: RequestBudget, payload: dict
) -> str | None:
    """The first step of a new contact's create by the adapter's create path: LOOK (a lookup
    first), "" (create at once) or the remote ID of the record the inventory holds.

    Reads the inventory first when it is stale and the connection's backlog of first creates
    is large; raises Throttled when the rate budget stops that read, or while another worker
    is reading it (the push is queued again and finds it fresh).
    """
    if adapter.create_path == CREATE_FIRST:
        return ""
    if adapter.create_path != INVENTORY:
        return LOOK
    match = inventory_match(connection=connection, payload=payload)
    if not match.known and _backlog_large(connection):
        _inventory_refresh(connection, adapter, budget)
        connection.refresh_from_db(fields=_FIELDS)
        match = inventory_match(connection=connection, payload=payload)
    return match.remote_id if match.known else LOOK


def inventory_remember(
    *, connection: Connection, adapter: Adapter, payload: dict, remote_id: str
) -> None:
    """Record that `remote_id` now holds `payload`: its keys point there, and keys it no
    longer has (an email changed) don't. Two queries, once the connection's inventory has
    been read or is being read: before, its first read will find the record anyway."""
    if adapter.create_path != INVENTORY or not remote_id:
        return
    if connection.inventory_read_at is None and not connection.inventory_progress:
        return
    keys = set(adapter.record_keys(payload))
    rows = RemoteReference.objects.filter(connection=connection, kind__in=INVENTORY_KINDS)
    stale = rows.filter(remote_id=remote_id)
    for kind, key in keys:
        stale = stale.exclude(kind=kind, key=key[:255])
    stale.delete()
    _store(connection, [(key, remote_id) for key in keys])


def inventory_forget(*, connection: Connection, remote_id: str) -> None:
    """The record is gone at the provider (deleted by us, or a 404): no key finds it."""
    RemoteReference.objects.filter(
        connection=connection, kind__in=INVENTORY_KINDS, remote_id=remote_id
    ).delete()


# --- reading ---------------------------------------------------------------------------------

_FIELDS = ["inventory_read_at", "inventory_pages", "inventory_progress", "inventory_claimed_until"]


def _store(connection: Connection, found: list[tuple[Key, str]]) -> None:
    now = timezone.now()
    rows = {
        (kind, value[:255]): RemoteReference(
            connection=connection, kind=kind, key=value[:255], remote_id=rid, updated_at=now
        )
        for (kind, value), rid in found
    }
    RemoteReference.objects.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["connection", "kind", "key"],
        update_fields=["remote_id", "updated_at"],
    )


def _backlog_large(connection: Connection) -> bool:
    """Whether enough links wait for their first create that reading the inventory costs less
    than a lookup each: at least INVENTORY_MIN_BACKLOG, and more than the last read's pages."""
    wanted = max(settings.INTEGRATIONS["INVENTORY_MIN_BACKLOG"], connection.inventory_pages + 1)
    waiting = RemoteLink.objects.filter(
        connection=connection, state=RemoteLink.State.PENDING, remote_id=""
    )
    return waiting[:wanted].count() >= wanted


def _lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.INTEGRATIONS["LEASE_SECONDS"])


def _claim(connection: Connection) -> datetime.datetime | None:
    now = timezone.now()
    free = Q(inventory_claimed_until__isnull=True) | Q(inventory_claimed_until__lt=now)
    until = now + _lease()
    claimed = Connection.objects.filter(free, pk=connection.pk).update(
        inventory_claimed_until=until
    )
    return until if claimed else None


def _inventory_refresh(connection: Connection, adapter: Adapter, budget: RequestBudget) -> None:
    """Read the inventory (or the rest of a read under way), or wait a little for the worker
    reading it and take over if it stops; Throttled when the inventory isn't read by then."""
    deadline = time.monotonic() + settings.INTEGRATIONS["MAX_INLINE_WAIT"]
    while True:
        claim = _claim(connection)
        if claim is not None:
            try:
                return _read(connection, adapter, budget, claim)
            finally:
                Connection.objects.filter(
                    pk=connection.pk, inventory_claimed_until__gte=claim
                ).update(inventory_claimed_until=None)
        while True:
            if time.monotonic() >= deadline:
                raise Throttled(settings.INTEGRATIONS["MAX_INLINE_WAIT"])
            time.sleep(WAIT_POLL_SECONDS)
            connection.refresh_from_db(fields=_FIELDS)
            if inventory_fresh(connection):
                return None
            if connection.inventory_claimed_until is None:
                break  # the reader stopped (its rate budget): continue its read


def _read(connection: Connection, adapter: Adapter, budget: RequestBudget, claim) -> None:
    connection.refresh_from_db(fields=_FIELDS)
    if inventory_fresh(connection):
        return  # another worker finished a read between our decision and our claim
    progress = connection.inventory_progress or {}
    bound = datetime.timedelta(seconds=settings.INTEGRATIONS["INVENTORY_FRESH_SECONDS"])
    started = progress.get("started_at")
    if not started or datetime.datetime.fromisoformat(started) < timezone.now() - bound:
        # No read under way, or one so old that its first pages are stale already: anew.
        progress = {"started_at": timezone.now().isoformat(), "cursor": None, "pages": 0}
    saved = Connection.objects.filter(pk=connection.pk)
    while True:
        # Booked as any request: a long wait stops the read here (Throttled), kept as far as
        # it got, and the next push of a new contact continues it.
        rate_reserve(connection=connection, requests=1)
        budget.booked += 1
        try:
            found, cursor = adapter.read_inventory_page(progress["cursor"])
        except ProviderError as error:
            if error.retry_after is not None:  # the provider's window is spent: wait for it
                rate_pause(connection=connection, seconds=error.retry_after)
                raise Throttled(error.retry_after) from error
            # Anything else: the pushes look up instead, and the next read starts anew.
            saved.update(inventory_progress=None)
            return
        _store(connection, found)
        progress = {**progress, "cursor": cursor, "pages": progress["pages"] + 1}
        claim = timezone.now() + _lease()
        if cursor is not None:
            saved.update(inventory_progress=progress, inventory_claimed_until=claim)
            continue
        started_at = datetime.datetime.fromisoformat(progress["started_at"])
        # Keys no page showed were of records deleted since the last read; keys our own
        # pushes wrote during this read are newer than its start, and stay.
        RemoteReference.objects.filter(
            connection=connection, kind__in=INVENTORY_KINDS, updated_at__lt=started_at
        ).delete()
        saved.update(
            inventory_read_at=started_at,
            inventory_pages=progress["pages"],
            inventory_progress=None,
        )
        return
