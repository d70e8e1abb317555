"""What a push keeps of each HTTP call (a PushAttempt row, written before the call and
completed after it) and the rate budget its adapter spends."""

from django.db import IntegrityError

from .adapters import adapter_for
from .connections import connection_pause
from .crypto import SecretUnreadable
from .models import Connection, PushAttempt, RemoteLink
from .providers import Adapter, ProviderError
from .throttle import rate_reserve


class LinkGone(Exception):
    """The link was deleted during the push (with its contact): no attempt can be recorded."""


class RequestBudget:
    """The adapter's throttle hook: requests beyond what the push booked are charged too."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.booked = 0

    def spend(self) -> None:
        if self.booked > 0:
            self.booked -= 1
        else:
            rate_reserve(connection=self.connection, requests=1, wait=False)


class AttemptRecorder:
    """Writes a PushAttempt before each HTTP call and completes it after, so a crash
    mid-call leaves a `started` row as evidence."""

    def __init__(self, link: RemoteLink):
        self.link = link

    def started(self, operation: str, method: str, path: str) -> PushAttempt:
        try:
            # Written in autocommit, so a link deleted meanwhile fails the row's foreign key
            # here, at this statement's commit, not at the worker's next one.
            return PushAttempt.objects.create(
                link=self.link, operation=operation, method=method, path=path[:500]
            )
        except IntegrityError:
            raise LinkGone from None

    def finished(
        self,
        token: PushAttempt,
        *,
        status: int | None,
        duration_ms: int,
        error: ProviderError | None,
    ) -> None:
        if error is None:
            outcome = PushAttempt.Outcome.SUCCESS
        elif error.auth:
            outcome = PushAttempt.Outcome.AUTH
        elif error.misconfigured:
            outcome = PushAttempt.Outcome.MISCONFIGURED
        elif error.status == 404:
            outcome = PushAttempt.Outcome.NOT_FOUND
        elif error.permanent:
            outcome = PushAttempt.Outcome.FAILED
        else:
            outcome = PushAttempt.Outcome.RETRY
        PushAttempt.objects.filter(pk=token.pk).update(
            http_status=status if status is not None else (error.status if error else None),
            duration_ms=duration_ms,
            outcome=outcome,
            error_code=error.code[:100] if error else "",
            error_message=error.message if error else "",
        )


def link_adapter(
    link: RemoteLink, connection: Connection
) -> tuple[Adapter, "RequestBudget"] | None:
    """The adapter a push or a remote delete of `link` sends through, recording each call as
    an attempt and charging the rate budget; None once the connection is paused because its
    stored key can't be read."""
    budget = RequestBudget(connection)
    try:
        adapter = adapter_for(connection, observer=AttemptRecorder(link), throttle=budget.spend)
    except SecretUnreadable as exc:
        connection_pause(connection=connection, reason=str(exc))
        return None
    return adapter, budget
