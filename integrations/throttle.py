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


def rate_wait(*, connection: Connection) -> None:
    """Wait for this connection's next request slot, or raise Throttled if it is far off.

    A short wait is slept here; a long one is not reserved (so queued pushes don't book the
    schedule hours ahead) and the caller re-queues the push for later instead.
    """
    rate = connection.rate_limit
    if not rate or rate <= 0:
        return
    interval = datetime.timedelta(seconds=1 / rate)
    with transaction.atomic():
        row = Connection.objects.select_for_update().only("next_request_at").get(pk=connection.pk)
        now = timezone.now()
        slot = max(now, row.next_request_at or now)
        wait = (slot - now).total_seconds()
        if wait > settings.INTEGRATIONS["MAX_INLINE_WAIT"]:
            raise Throttled(wait)
        Connection.objects.filter(pk=connection.pk).update(next_request_at=slot + interval)
    if wait > 0:
        time.sleep(wait)
