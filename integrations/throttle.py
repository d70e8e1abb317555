"""Per-connection concurrency and rate limits that hold across every worker process.

Both live in the database, the one thing all workers share: a connection's concurrency is a set
of leased slot rows, its rate limit a schedule (`Connection.next_request_at`) that each request
advances by 1/rate. Leases expire, so a crashed worker frees its slot on its own.
"""

import datetime
import time

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Q, Subquery
from django.utils import timezone

from .models import Connection, ConnectionSlot, RemoteLink
from .pace import connection_concurrency, connection_pace, pace_unlearned


class Throttled(Exception):
    """The connection is busy; try again in `wait` seconds (not an error of the push)."""

    def __init__(self, wait: float):
        super().__init__(f"throttled for {wait:.2f}s")
        self.wait = wait


def slot_acquire(*, connection: Connection, holder: str) -> bool:
    """Lease one of the connection's concurrency slots; False when all are taken.

    One UPDATE of the first free slot (skipping slots another worker is leasing right now)
    and its commit: this runs for every push, so it costs two round trips, not five. The
    slot rows are only counted, and made, when none could be leased.
    """
    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.INTEGRATIONS["LEASE_SECONDS"])
    wanted = connection_concurrency(connection)
    slots = ConnectionSlot.objects.filter(connection=connection, number__lt=wanted)
    free = Q(leased_until__isnull=True) | Q(leased_until__lt=now)
    # The free condition is repeated outside the subquery: a worker whose candidate was taken
    # while it waited for the row lock then updates nothing, and never shares a slot.
    first_free = slots.filter(free).order_by("number").select_for_update(skip_locked=True)
    for _ in range(2):
        with transaction.atomic():
            leased = slots.filter(free, pk=Subquery(first_free.values("pk")[:1])).update(
                holder=holder, leased_until=now + lease
            )
        if leased or slots.count() >= wanted:
            return bool(leased)
        ConnectionSlot.objects.bulk_create(
            [ConnectionSlot(connection=connection, number=n) for n in range(wanted)],
            ignore_conflicts=True,
        )
    return False


def slot_release(*, connection: Connection, holder: str) -> None:
    ConnectionSlot.objects.filter(connection=connection, holder=holder).update(
        holder="", leased_until=None
    )


def schedule_wait(connection: Connection) -> float:
    """Seconds until the connection's schedule (its rate bookings, or a provider's
    Retry-After) lets a request go, as loaded with the connection: no query."""
    held = connection.next_request_at
    return max(0.0, (held - timezone.now()).total_seconds()) if held else 0.0


def rate_reserve(*, connection: Connection, requests: int = 1, wait: bool = True) -> None:
    """Book `requests` of the connection's rate budget, waiting for the schedule to reach us.

    A push books what it expects to send (a lookup and a create, or an update) before its
    first request, so once started it never stops half-way for the limiter. With `wait`, a
    short wait is slept here and a long one raises Throttled without booking anything (so a
    backlog doesn't book the schedule hours ahead) and the push is queued for later. Without
    `wait`, the requests are charged to the schedule and sent at once: the extra calls of a
    push (a lookup after a 409, another page) run a little ahead of the average, which
    providers' hourly windows allow.
    """
    rate = connection_pace(connection).rate
    if not rate or rate <= 0:
        # No schedule to book, but a provider's Retry-After (rate_pause) holds the connection
        # all the same. Read from the connection as loaded for this push: no extra query.
        delay = schedule_wait(connection) if wait else 0.0
        if delay > settings.INTEGRATIONS["MAX_INLINE_WAIT"]:
            raise Throttled(delay)
        if delay > 0:
            time.sleep(delay)
        return
    cost = datetime.timedelta(seconds=requests / rate)
    longest = settings.INTEGRATIONS["MAX_INLINE_WAIT"]
    if db.vendor == "postgresql":
        slot = _book_returning(connection, cost, longest if wait else None)
    else:
        slot = _book_locked(connection, cost, longest if wait else None)
    delay = (slot - timezone.now()).total_seconds() if wait else 0.0
    if delay > 0:
        time.sleep(delay)


def _book_returning(
    connection: Connection, cost: datetime.timedelta, longest: float | None
) -> datetime.datetime:
    """Book `cost` of the schedule in one statement and return our slot (PostgreSQL).

    Every push books the schedule, so this is one round trip in autocommit rather than a
    locked read, an update and a commit. The row lock is held for that one statement only.
    """
    table = Connection._meta.db_table
    sql = (  # the table name is the model's own; every value is a parameter
        f"UPDATE {table} SET next_request_at = GREATEST(next_request_at, %(now)s) + %(cost)s "  # noqa: S608
        "WHERE id = %(pk)s"
    )
    if longest is not None:
        # Booking nothing when the wait is too long: a backlog mustn't book hours ahead.
        sql += " AND (next_request_at IS NULL OR next_request_at <= %(latest)s)"
    sql += " RETURNING next_request_at"
    now = timezone.now()
    params = {
        "now": now,
        "cost": cost,
        "pk": connection.pk,
        "latest": now + datetime.timedelta(seconds=longest or 0),
    }
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        held = Connection.objects.filter(pk=connection.pk).values_list("next_request_at")
        raise Throttled(((held.first() or [now])[0] - now).total_seconds())
    return row[0] - cost


def _book_locked(
    connection: Connection, cost: datetime.timedelta, longest: float | None
) -> datetime.datetime:
    """Book `cost` of the schedule under the row lock and return our slot (any database)."""
    with transaction.atomic():
        row = Connection.objects.select_for_update().only("next_request_at").get(pk=connection.pk)
        now = timezone.now()
        slot = max(now, row.next_request_at or now)
        if longest is not None and (slot - now).total_seconds() > longest:
            raise Throttled((slot - now).total_seconds())
        Connection.objects.filter(pk=connection.pk).update(next_request_at=slot + cost)
    return slot


def rate_pause(*, connection: Connection, seconds: float) -> datetime.datetime:
    """Hold the connection's whole schedule for `seconds`: the provider said when to come back.

    A 429 with Retry-After is about the connection (its key's window), not about one contact:
    every worker must wait, or they each collect a 429 of their own. Pushing
    `next_request_at` makes every later `rate_reserve` wait or re-queue; once the time has
    passed, the schedule runs at the configured rate again at once (no backoff stacks up for
    a provider that told us exactly when). Only ever moves the schedule forward. Returns the
    time the connection may send again.
    """
    until = timezone.now() + datetime.timedelta(seconds=seconds)
    Connection.objects.filter(
        Q(next_request_at__isnull=True) | Q(next_request_at__lt=until), pk=connection.pk
    ).update(next_request_at=until)
    return until


# Seconds a worker reuses a connection's backlog spread: counting the pending links of a
# large backlog is not free, every push re-queued while a Retry-After holds the connection
# needs the spread, and the backlog barely moves in that time.
SPREAD_REUSE_SECONDS = 10.0
UNLEARNED_SPREAD = 60.0  # seconds, at most, while the provider's own pace is not known yet
# Re-queued pushes come back this many times faster than the connection takes them: arriving
# at random times, only a surplus keeps one ready whenever the pace frees a request (at 1x,
# Klen AI's one request a push reached 88 % of its limit); the surplus is queued again.
BACKLOG_OVERSUPPLY = 2.0
_spreads: dict[int, tuple[float, float]] = {}  # connection id: (when counted, spread)


def backlog_spread(*, connection: Connection) -> float:
    """Seconds over which to spread the re-queued pushes of a busy connection.

    Roughly how long its pending links will take at its rate: re-queued pushes come back at
    random times within it, about as fast as the connection can take them, rather than all
    polling every few seconds. Accepted on purpose: a throttled backlog is not sent in order.
    """
    now = time.monotonic()
    counted = _spreads.get(connection.pk)
    if counted is not None and now - counted[0] < SPREAD_REUSE_SECONDS:
        return counted[1]
    pending = RemoteLink.objects.filter(connection=connection, state="pending").count()
    per_second = connection_pace(connection).rate or connection_concurrency(connection) * 2.0
    # Before a provider that advertises its window has answered, its documented rate is a
    # guess: pushes re-queued meanwhile come back soon, to go at the pace it then says.
    longest = UNLEARNED_SPREAD if pace_unlearned(connection) else 6 * 3600.0
    spread = min(longest, pending / per_second / BACKLOG_OVERSUPPLY)
    _spreads[connection.pk] = (now, spread)
    return spread


def backlog_spreads_forget() -> None:
    """Forget every reused spread, so the next push counts its backlog afresh (tests)."""
    _spreads.clear()
