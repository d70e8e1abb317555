"""Per-connection concurrency and rate limits that hold across every worker process.

Both live in the database, the one thing all workers share: a connection's concurrency is a set
of leased slot rows, its rate limit a schedule (`Connection.next_request_at`) that each request
advances by 1/rate. Leases expire, so a crashed worker frees its slot on its own.
"""

import datetime
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import Connection, ConnectionSlot


class Throttled(Exception):
    """The connection is busy; try again in `wait` seconds (not an error of the push)."""

    def __init__(self, wait: float):
        super().__init__(f"throttled for {wait:.2f}s")
        self.wait = wait


def slot_acquire(*, connection: Connection, holder: str) -> int | None:
    """Lease one of the connection's concurrency slots; None when all are taken."""
    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.INTEGRATIONS["LEASE_SECONDS"])
    wanted = max(1, connection.concurrency)
    with transaction.atomic():
        slots = ConnectionSlot.objects.filter(connection=connection, number__lt=wanted)
        if slots.count() < wanted:
            ConnectionSlot.objects.bulk_create(
                [ConnectionSlot(connection=connection, number=n) for n in range(wanted)],
                ignore_conflicts=True,
            )
        free = (
            slots.select_for_update(skip_locked=True)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .order_by("number")
            .first()
        )
        if free is None:
            return None
        ConnectionSlot.objects.filter(pk=free.pk).update(holder=holder, leased_until=now + lease)
    return free.number


def slot_release(*, connection: Connection, holder: str) -> None:
    ConnectionSlot.objects.filter(connection=connection, holder=holder).update(
        holder="", leased_until=None
    )


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
    rate = connection.rate_limit
    if not rate or rate <= 0:
        return
    cost = datetime.timedelta(seconds=requests / rate)
    with transaction.atomic():
        row = Connection.objects.select_for_update().only("next_request_at").get(pk=connection.pk)
        now = timezone.now()
        slot = max(now, row.next_request_at or now)
        delay = (slot - now).total_seconds() if wait else 0.0
        if delay > settings.INTEGRATIONS["MAX_INLINE_WAIT"]:
            raise Throttled(delay)
        Connection.objects.filter(pk=connection.pk).update(next_request_at=slot + cost)
    if delay > 0:
        time.sleep(delay)


def backlog_spread(*, connection: Connection) -> float:
    """Seconds over which to spread the re-queued pushes of a busy connection.

    Roughly how long its pending links will take at its rate: re-queued pushes come back at
    random times within it, about as fast as the connection can take them, rather than all
    polling every few seconds. Accepted on purpose: a throttled backlog is not sent in order.
    """
    from .models import RemoteLink

    pending = RemoteLink.objects.filter(connection=connection, state="pending").count()
    per_second = connection.rate_limit or max(1, connection.concurrency) * 2.0
    return min(6 * 3600.0, pending / per_second)
