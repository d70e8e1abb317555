"""Pushing to a provider whose own rate limit is lower than the connection's configured one.

The sandbox (50 ms latency) allows RATE_LIMIT requests per RATE_WINDOW-second window and
answers 429 with the wait in its body, as GetRaze does; the connection is configured for 60
requests/s, three times more. The same workers as bench_push push BENCH_RATELIMIT_CONTACTS
(default 600) new contacts. From the PushAttempt rows: the 429 answers, each burst's
Retry-After expiry and how long after it the accepted requests were back at the sandbox's
rate, and the overall rate against the sandbox's limit. About a minute; the connection
and its tasks are deleted afterwards, so the bench database is left as it was.
"""

import math
import os
import statistics

import bench_push
from bench_push import CONCURRENCY, contacts, drain, fresh_connection
from common import report
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from integrations.links import links_mark_pending
from integrations.models import PushAttempt, RemoteLink

COUNT = int(os.environ.get("BENCH_RATELIMIT_CONTACTS", "600"))
PORT = int(os.environ.get("BENCH_RATELIMIT_PORT", "8442"))
CONFIGURED = 60.0  # requests/s on the connection
RATE_WINDOW = 10  # seconds: the sandbox's fixed window
RATE_LIMIT = 200  # requests per window: 20/s, a third of what the connection is configured for


def sandbox():
    return bench_push.sandbox(
        "--rate-limit", str(RATE_LIMIT), "--rate-window", str(RATE_WINDOW), port=PORT
    )


def bursts(refused: list[float]) -> list[list[float]]:
    """429 answer times grouped into bursts: those less than a second apart."""
    groups: list[list[float]] = []
    for at in sorted(refused):
        if groups and at - groups[-1][-1] < 1.0:
            groups[-1].append(at)
        else:
            groups.append([at])
    return groups


def recovery(expiry: float, accepted: list[float], allowed: float) -> float | None:
    """Seconds from a Retry-After's expiry until the accepted requests of the last second
    reach the sandbox's allowed rate (None if they never do before the run ends)."""
    later = [t for t in accepted if t >= expiry]
    need = math.ceil(allowed)
    for i in range(need - 1, len(later)):
        if later[i] - later[i - need + 1] <= 1.0:
            return later[i] - expiry
    return None


def run() -> None:
    allowed = RATE_LIMIT / RATE_WINDOW
    box = sandbox()
    began = timezone.now()
    target = fresh_connection(
        "bench ratelimit",
        f"http://127.0.0.1:{PORT}/getraze/external/v1",
        concurrency=CONCURRENCY,
        rate_limit=CONFIGURED,
    )
    try:
        ids = contacts()[:COUNT]
        seconds = drain(
            target,
            timeout=600,
            start=lambda: links_mark_pending(contacts=ids, connections=[target]),
        )
        synced = RemoteLink.objects.filter(connection=target, state="synced").count()
        attempts = PushAttempt.objects.filter(link__connection=target)
        # When each answer arrived, in seconds since the epoch (a 429 is answered at once).
        answered = [
            (a.started_at.timestamp() + (a.duration_ms or 0) / 1000, a.http_status)
            for a in attempts.only("started_at", "duration_ms", "http_status")
        ]
        accepted = sorted(t for t, status in answered if status and status < 300)
        refused = [t for t, status in answered if status == 429]
        groups = bursts(refused)
        waits, recoveries, missed = [], [], 0
        for group in groups:
            # The sandbox's Retry-After: the rest of its window, rounded up to a second.
            first = group[0]
            retry_after = max(1, math.ceil(RATE_WINDOW - first % RATE_WINDOW))
            expiry = first + retry_after
            if sum(1 for t in accepted if t >= expiry) < RATE_LIMIT:
                # Less than a window's worth of work was left: the run's tail (the last
                # re-queued pushes), which no longer has the sandbox's rate to reach.
                continue
            waits.append(retry_after)
            back = recovery(expiry, accepted, allowed)
            if back is None:
                missed += 1
            else:
                recoveries.append(back)
        span = (accepted[-1] - accepted[0]) if len(accepted) > 1 else seconds
        rate = len(accepted) / seconds
        per_second: dict[int, int] = {}
        for t in accepted:
            per_second[int(t - accepted[0])] = per_second.get(int(t - accepted[0]), 0) + 1
        series = [per_second.get(s, 0) for s in range(int(span) + 1)]
        print(f"  accepted requests per second: {series}")
        report(
            f"sandbox limit {allowed:.0f} req/s < configured {CONFIGURED:.0f}: contacts synced",
            f"{synced:,} in {seconds:.0f} s",
            f"{len(ids):,}",
            synced == len(ids),
        )
        report(
            "  … 429 answers (bursts)",
            f"{len(refused)} ({len(groups)})",
            "-",
            None,
        )
        worst = max(recoveries) if recoveries else None
        one_wait = min(waits) if waits else None
        report(
            "  … back to the sandbox's rate after Retry-After: worst",
            "never" if missed else (f"{worst:.2f} s" if worst is not None else "no 429"),
            f"≤ one Retry-After ({one_wait} s)" if one_wait else "≤ one Retry-After",
            not missed and (worst is None or worst <= one_wait),
        )
        if recoveries:
            report(
                "  … back to the sandbox's rate after Retry-After: median",
                f"{statistics.median(recoveries):.2f} s",
                "-",
                None,
            )
        report(
            "  … accepted requests/s vs the sandbox's limit",
            f"{rate:.1f} /s ({rate / allowed:.0%})",
            f"{allowed:.0f} /s",
            None,
        )
    finally:
        box.terminate()
        box.wait(timeout=10)
        target.delete()  # its links, attempts and slots go with it
        DBTaskResult.objects.filter(enqueued_at__gte=began).delete()


if __name__ == "__main__":
    run()
