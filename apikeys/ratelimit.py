"""Request counts per API key in fixed windows, exact across processes that share a cache.

A key's window opens at its first request and lasts the rate's period (a minute for
"1200/min"); the next request after it closes opens a new one. Each window has one counter in
the default cache, raised with the cache's own increment (Redis INCR, Memcached incr): the
server adds one and answers the new count, so two processes never both see "one slot left".
A read-then-write history (DRF's SimpleRateThrottle) lets concurrent requests each see the
same count and all pass.

With Django's per-process cache (the default, LocMemCache) every process keeps its own counts,
so a key gets up to the rate times the number of processes; set CACHE_URL to a Redis or
Memcached server for one count shared by all (apikeys.checks warns under --deploy).
Database and file caches increment by reading and writing, so they are not exact either.
"""

import functools
import math
import time
from dataclasses import dataclass

from django.core.cache import caches

CACHE_ALIAS = "default"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds


@functools.lru_cache(maxsize=8)
def rate_parse(text: str) -> Rate:
    """'<number>/<s|min|hour|day>', read the way DRF reads throttle rates: only the first
    letter of the period counts ('1200/min', '1200/m' and '1200/minute' are the same)."""
    number, _, period = text.partition("/")
    try:
        limit = int(number)
        seconds = PERIODS[period[:1]]
    except (ValueError, KeyError):
        raise ValueError(
            f"{text!r} is not a rate: write <number>/<s|min|hour|day>, e.g. '1200/min'."
        ) from None
    if limit < 0:
        raise ValueError(f"{text!r} is not a rate: the number of requests must not be negative.")
    return Rate(limit=limit, period=seconds)


@dataclass(frozen=True)
class RateLimitState:
    """A key's window as one request found it: `used` counts that request when it was counted."""

    limit: int
    period: int
    used: int
    reset: int  # whole seconds until the window closes, at least 1

    @property
    def allowed(self) -> bool:
        return self.used <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class RateLimitNote:
    """Carries the state the throttle counted to the middleware that writes the headers.

    The middleware puts one on the Django request; DRF's Request reads attributes through to
    it, so the throttle reaches the same object and fills it in.
    """

    state: RateLimitState | None = None


def _window_key(ident: str) -> str:
    return f"ratelimit:{ident}:opened"


def _counter_key(ident: str, opened_at: float) -> str:
    return f"ratelimit:{ident}:{opened_at:.6f}"


def _state(rate: Rate, used: int, opened_at: float, now: float) -> RateLimitState:
    reset = max(1, math.ceil(opened_at + rate.period - now))
    return RateLimitState(limit=rate.limit, period=rate.period, used=used, reset=reset)


def rate_limit_consume(*, ident: str, rate: Rate) -> RateLimitState:
    """Count one request of `ident` in its current window (opening one if none is open)."""
    cache = caches[CACHE_ALIAS]
    now = time.time()
    if cache.add(_window_key(ident), now, timeout=rate.period):
        opened_at = now
    else:
        # Another request opened it, maybe in another process: count in that one.
        opened_at = cache.get(_window_key(ident), now)
    counter = _counter_key(ident, opened_at)
    try:
        used = cache.incr(counter)
    except ValueError:  # the window's first request
        # Twice the period, so the counter outlives its window whatever the clocks say: an
        # increment never meets a counter that has just expired. Its value is only read
        # while the window is open, so the extra time costs a few bytes and nothing else.
        used = 1 if cache.add(counter, 1, timeout=2 * rate.period) else cache.incr(counter)
    return _state(rate, used, opened_at, now)


def rate_limit_peek(*, ident: str, rate: Rate) -> RateLimitState:
    """The current window of `ident` without counting a request."""
    cache = caches[CACHE_ALIAS]
    now = time.time()
    opened_at = cache.get(_window_key(ident))
    if opened_at is None:
        return _state(rate, 0, now, now)
    return _state(rate, cache.get(_counter_key(ident, opened_at), 0), opened_at, now)
