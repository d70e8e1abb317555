"""What a provider's answer says about its rate limit: the window's limit, what is left of it
and when it resets, read from the headers any provider may send.

- The IETF draft header (Close): `RateLimit: limit=100, remaining=50, reset=5`, reset in
  seconds, possibly decimal; when several limits are listed, the one leaving the slowest pace.
- The `X-RateLimit-Limit`, `-Remaining` and `-Reset` trio (GetRaze), reset as a Unix time
  in seconds, or as seconds from now when it is too small to be a time.
"""

import time
from collections.abc import Mapping
from typing import NamedTuple

# A reset above this is a Unix time (2001-09-09), below it a number of seconds from now.
EPOCH_THRESHOLD = 1e9


class RateWindow(NamedTuple):
    limit: int
    remaining: int
    reset: float  # seconds until the window starts afresh

    @property
    def pace(self) -> float:
        """Requests a second that spend what is left of the window by its end, no sooner."""
        return self.remaining / max(self.reset, 0.1)


def rate_window(headers: Mapping[str, str], *, now: float | None = None) -> RateWindow | None:
    """The rate window an answer's headers describe, or None when they describe none."""
    windows = _draft_header_windows(headers.get("RateLimit") or "")
    trio = _trio_window(headers, time.time() if now is None else now)
    if trio is not None:
        windows.append(trio)
    return min(windows, key=lambda window: window.pace) if windows else None


def _draft_header_windows(value: str) -> list[RateWindow]:
    # Several limits may be listed, one after another: "limit=…, remaining=…, reset=…, …".
    windows, fields = [], {}
    for part in value.replace(";", ",").split(","):
        name, _, number = part.strip().partition("=")
        name = name.strip().lower()
        if name not in ("limit", "remaining", "reset"):
            continue
        try:
            fields[name] = float(number.strip().strip('"'))
        except ValueError:
            return windows
        if len(fields) == 3:
            windows.append(
                RateWindow(
                    int(fields["limit"]), int(fields["remaining"]), max(0.0, fields["reset"])
                )
            )
            fields = {}
    return windows


def _trio_window(headers: Mapping[str, str], now: float) -> RateWindow | None:
    try:
        limit = int(headers["X-RateLimit-Limit"])
        remaining = int(headers["X-RateLimit-Remaining"])
        reset = float(headers["X-RateLimit-Reset"])
    except (KeyError, TypeError, ValueError):
        return None
    if reset > EPOCH_THRESHOLD:
        reset -= now
    return RateWindow(limit, remaining, max(0.0, reset))
