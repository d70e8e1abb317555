"""The pace a connection sends at, and what the provider's answers teach about it.

A connection starts at its provider's documented rate (each adapter declares it), then follows
the rate window the provider's answers describe (providers.base_rate): what is left of the
window, spread over the time until it resets, less what may be in flight. Every worker books
the same schedule (throttle.rate_reserve), so that pace holds across all of them: a limit the
provider advertises is reached and not exceeded. A window used up holds the connection until
it resets. A rate set by staff is a ceiling; 0 turns our pacing off. A connection left
without a concurrency runs as many pushes at once as that pace needs.
"""

import datetime
import math
from typing import NamedTuple

from django.db.models import Q, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from .models import Connection
from .providers import adapter_class
from .providers.base_rate import RateWindow

# A learned pace is written again only when it moves by more than this share: each answer
# carries a window, and most barely move the pace.
REWRITE_SHARE = 0.1
# Seconds: a window said to reset sooner is taken to reset in this long (clocks, rounding).
MIN_RESET = 0.1
# A connection left without a concurrency runs as many pushes at once as its pace needs when
# each of its requests, with the push's own work around it, takes this long; within AUTO_SLOTS.
AUTO_SLOT_SECONDS = 0.3
AUTO_SLOTS = (2, 8)


class Pace(NamedTuple):
    rate: float | None  # requests a second across all workers; None: no pacing of ours
    source: str  # "documented", "learned", "ceiling" or "off"

    def describe(self, provider_label: str) -> str:
        if self.rate is None:
            return "No pacing (rate ceiling 0); the provider's 429s are still waited out."
        where = {
            "documented": f"the limit {provider_label} documents",
            "learned": f"learned from {provider_label}'s answers",
            "ceiling": "the connection's rate ceiling",
        }[self.source]
        return f"{self.rate:.3g} requests a second: {where}."


def connection_pace(connection: Connection) -> Pace:
    """The pace in force, from the connection as loaded (no query)."""
    if connection.rate_limit == 0:
        return Pace(None, "off")
    # Past the window it was read in, a learned pace still holds: the next answer (the first
    # request of the new window) corrects it, where falling back to the documented rate
    # would stall a fast connection at every window's end.
    if connection.learned_rate:
        pace = Pace(connection.learned_rate, "learned")
    else:
        pace = Pace(adapter_class(connection.provider).documented_rate, "documented")
    ceiling = connection.rate_limit
    return Pace(ceiling, "ceiling") if ceiling and ceiling < pace.rate else pace


def connection_concurrency(connection: Connection) -> int:
    """Pushes the connection runs at once: the number staff set, or as many as its pace in
    force needs (a fixed two of old kept a fast provider at a fraction of its limit)."""
    if connection.concurrency is not None:
        return max(1, connection.concurrency)
    least, most = AUTO_SLOTS
    rate = connection_pace(connection).rate
    if rate is None:  # our pacing is off: nothing to size by
        return least
    return max(least, min(most, math.ceil(rate * AUTO_SLOT_SECONDS)))


def rate_learn(*, connection: Connection, window: RateWindow) -> None:
    """Follow the rate window one of the connection's answers described."""
    if connection.rate_limit == 0:
        return  # staff turned pacing off: only a 429's wait holds the connection
    now = timezone.now()
    reset = datetime.timedelta(seconds=window.reset)
    # Requests of other pushes may be in flight, or booked and about to go, not yet counted
    # in `remaining`: one a slot. (Fewer, estimated from the pace and the answer's time, let
    # a 429 through at a window's end in the benchmark.)
    usable = window.remaining - connection_concurrency(connection)
    if usable <= 0:
        # Spent: nothing more until the window resets (only ever moves the schedule forward).
        Connection.objects.filter(
            Q(next_request_at__isnull=True) | Q(next_request_at__lt=now + reset),
            pk=connection.pk,
        ).update(next_request_at=now + reset)
        return
    # What is left may go as fast as the window's end allows: a fresh window follows it.
    rate = usable / max(window.reset, MIN_RESET)
    known = connection.learned_rate
    fresh = connection.learned_rate_until and connection.learned_rate_until > now
    if fresh and known and abs(rate - known) <= REWRITE_SHARE * known:
        return
    updates = {"learned_rate": rate, "learned_rate_until": now + reset}
    if rate > connection_pace(connection).rate:
        # Requests booked ahead at the slower pace give way: the schedule starts again now.
        updates["next_request_at"] = Least(Coalesce("next_request_at", Value(now)), Value(now))
    Connection.objects.filter(pk=connection.pk).update(**updates)
    connection.learned_rate, connection.learned_rate_until = rate, now + reset


def pace_unlearned(connection: Connection) -> bool:
    """Whether the connection's provider advertises its rate window but has not been heard
    from yet: its documented rate is only a first guess, and the first answers will say."""
    return (
        connection.learned_rate is None
        and connection.rate_limit != 0
        and adapter_class(connection.provider).advertises_rate
    )
