"""Reads for health checks and alerts: the queue's lag, the workers last seen, each
connection's failures. Nothing here writes."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Max, Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from integrations.models import Connection, PushAttempt

from .models import Alert, WorkerHeartbeat

FAILED_OUTCOMES = (
    PushAttempt.Outcome.RETRY,
    PushAttempt.Outcome.FAILED,
    PushAttempt.Outcome.AUTH,
    PushAttempt.Outcome.MISCONFIGURED,
)


def queue_lag_seconds(*, now: datetime.datetime | None = None) -> float:
    """How long the oldest task that is due has waited for a worker; 0 when none waits.

    A task queued to run at once is due from when it was queued (the backend stores "no
    time" as the year 9999); a task queued for later is due from its run_after.
    """
    now = now or timezone.now()
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY).order_by()
    oldest = [
        ready.filter(run_after__lte=now).order_by("run_after").values_list("run_after", flat=True),
        ready.filter(run_after=get_date_max())
        .order_by("enqueued_at")
        .values_list("enqueued_at", flat=True),
    ]
    due = [moment for moment in (query.first() for query in oldest) if moment is not None]
    return max(0.0, (now - min(due)).total_seconds()) if due else 0.0


def worker_last_seen() -> datetime.datetime | None:
    """When a worker last ran the heartbeat task (None: never)."""
    return WorkerHeartbeat.objects.aggregate(last=Max("seen_at"))["last"]


@dataclass(frozen=True)
class ConnectionFailures:
    connection: Connection
    pushes: int
    failed: int


def connection_failures(*, since: datetime.datetime) -> list[ConnectionFailures]:
    """Each connection's finished pushes (HTTP calls) since `since`, and how many failed
    (retryable, permanent or authentication errors); connections without pushes left out."""
    counts = (
        PushAttempt.objects.filter(started_at__gte=since)
        .exclude(outcome=PushAttempt.Outcome.STARTED)
        .order_by()
        .values("link__connection_id")
        .annotate(pushes=Count("pk"), failed=Count("pk", filter=Q(outcome__in=FAILED_OUTCOMES)))
    )
    by_connection = {row["link__connection_id"]: row for row in counts}
    connections = Connection.objects.filter(pk__in=by_connection)
    return [
        ConnectionFailures(
            connection=connection,
            pushes=by_connection[connection.pk]["pushes"],
            failed=by_connection[connection.pk]["failed"],
        )
        for connection in connections
    ]


def connections_paused() -> list[Connection]:
    return list(Connection.objects.filter(enabled=True, paused_at__isnull=False))


def alerts_active() -> list[Alert]:
    return list(Alert.objects.filter(active=True).order_by("raised_at", "key"))
