"""How a push's result is stored on its link: the outcomes, the retry policy, a result kept
only if no change arrived meanwhile, and a push queued again for later. Shared by the push
(integrations.push) and the remote delete (integrations.remote_delete)."""

import datetime
import enum
import logging
import random

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from .connections import connection_disable, connection_pause
from .models import Connection, RemoteLink
from .providers import ProviderError
from .queue import tasks_enqueue
from .throttle import rate_pause

logger = logging.getLogger(__name__)


class Result(enum.StrEnum):
    SYNCED = "synced"
    UNCHANGED = "unchanged"  # the provider already has this payload: nothing sent
    SKIPPED = "skipped"  # the provider cannot accept this contact
    FAILED = "failed"  # permanent error
    RETRY = "retry"  # retryable error: pushed again later
    PAUSED = "paused"  # credentials refused: the connection is paused
    INACTIVE = "inactive"  # connection disabled or paused: the link waits, pending
    NOT_PENDING = "not_pending"  # an older task for a link already handled
    BUSY = "busy"  # claimed by another worker, or no concurrency slot: queued again
    THROTTLED = "throttled"  # over the rate limit: queued again
    GONE = "gone"  # the link was deleted
    DELETED = "deleted"  # the contact was deleted, and so is its remote record now


def retry_delay(*, attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next try: the provider's Retry-After when given, else exponential
    backoff up to a cap; jitter spreads retries so a provider's recovery isn't a stampede."""
    config = settings.INTEGRATIONS
    if retry_after is not None:
        return retry_after + random.uniform(0, min(5.0, retry_after * 0.1))  # noqa: S311
    backoff = min(config["BACKOFF_CAP"], config["BACKOFF_BASE"] * 2 ** max(0, attempts - 1))
    return random.uniform(backoff / 2, backoff)  # noqa: S311


def link_failed(
    link: RemoteLink,
    connection: Connection,
    generation: int,
    error: ProviderError,
    waiting: str = RemoteLink.State.PENDING,
) -> Result:
    """Store a failed push (or remote delete): paused, failed, or `waiting` for its retry."""
    errors = {"last_error_code": error.code[:100], "last_error_message": error.message}
    attempts = link.attempts + 1
    if error.gone:
        connection_disable(connection=connection, reason=str(error))
        # Waits, pending, for the connection to be turned on again.
        link_finish(link, generation, waiting, attempts=attempts, **errors)
        return Result.INACTIVE
    if error.misconfigured:
        connection_pause(connection=connection, reason=str(error))
        # Not the contact's fault: it stays pending and is pushed when the connection resumes.
        link_finish(link, generation, waiting, attempts=attempts, **errors)
        return Result.PAUSED
    if error.permanent:
        link_finish(link, generation, RemoteLink.State.FAILED, attempts=attempts, **errors)
        return Result.FAILED
    if error.retry_after is not None:
        # The provider said when the connection may send again (a 429, a 503 in maintenance):
        # the whole connection waits until then, not only this link, and this push is retried
        # right then; the schedule spaces it from the others, so it needs no jitter. Not
        # counted as an attempt: a wait the provider asked for must not grow the backoff of
        # a later real failure.
        next_at = rate_pause(connection=connection, seconds=error.retry_after)
        delay, attempts = error.retry_after, link.attempts
    else:
        delay = retry_delay(attempts=attempts)
        next_at = timezone.now() + datetime.timedelta(seconds=delay)
    if error.create_unresolved:
        errors["create_unresolved_until"] = next_at
    # Together or not at all: a pending link always has its retry queued.
    with transaction.atomic():
        link_finish(
            link,
            generation,
            waiting,
            attempts=attempts,
            next_attempt_at=next_at,
            **errors,
        )
        tasks_enqueue([(link.pk, next_at if delay > 0 else None)])
    logger.info("Push of link %s will be retried in %.1fs: %s", link.pk, delay, error)
    return Result.RETRY


def link_finish(link: RemoteLink, generation: int, state: str, **fields) -> None:
    """Store a push's result. The state is only set if no change arrived during the push;
    otherwise the link stays pending and the push queued by that change sends it."""
    RemoteLink.objects.filter(pk=link.pk).update(
        state=Case(When(generation=generation, then=Value(state)), default=F("state")),
        updated_at=timezone.now(),
        **fields,
    )


def link_requeue(link: RemoteLink, *, wait: float, spread: float = 0.0) -> None:
    # Spread re-queued pushes so a backlog doesn't come back all at the same instant.
    delay = wait + random.uniform(0, max(1.0, wait, spread))  # noqa: S311
    run_after = timezone.now() + datetime.timedelta(seconds=delay)
    # next_attempt_at says when a task should next run for the link, so the periodic sweep
    # can tell a queued link from one whose task was lost.
    with transaction.atomic():
        RemoteLink.objects.filter(pk=link.pk).update(next_attempt_at=run_after)
        tasks_enqueue([(link.pk, run_after)])
