"""The scheduler's jobs: upkeep tasks queued on OPS_SCHEDULES, the worker heartbeat, alerts.

`manage.py scheduler` adds these jobs to django-crontask's scheduler and runs it. Upkeep goes
through the queue (a worker runs it, and its result is kept like any task's); the alerts are
evaluated in the scheduler itself, so a queue that no worker drains is still reported.
"""

import functools
import re
from collections.abc import Callable

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections
from django.utils import timezone

from . import alerts, tasks

JOBS: dict[str, Callable[[], object]] = {
    "retry_sweep": tasks.retry_sweep.enqueue,
    "stale_imports": tasks.stale_imports.enqueue,
    "push_attempts_prune": tasks.push_attempts_prune.enqueue,
    "idempotency_records_prune": tasks.idempotency_records_prune.enqueue,
    "task_results_prune": tasks.task_results_prune.enqueue,
    "alerts": alerts.alerts_evaluate,
}
# A schedule set to one of these turns its job off.
OFF = {"", "off", "never"}
# Besides crontab (at most once a minute): "every N seconds", from the scheduler's start.
EVERY = re.compile(r"every\s+([1-9][0-9]*)\s*(?:s|secs?|seconds?)", re.IGNORECASE)


def with_fresh_connections(job: Callable[[], object]) -> Callable[[], None]:
    """Run a job with usable database connections: the scheduler's threads live as long as
    it does, and nothing else would drop a connection that broke (a database restart) or
    outlived CONN_MAX_AGE, as the end of each request does in the web process."""

    @functools.wraps(job)
    def run() -> None:
        close_old_connections()
        try:
            job()
        finally:
            close_old_connections()

    return run


def cron_trigger(job: str, expression: str) -> CronTrigger:
    fields = expression.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(
            f"OPS_SCHEDULES[{job!r}] = {expression!r}: five fields expected "
            "(minute hour day month weekday), or every N seconds."
        )
    # APScheduler counts weekdays from Monday = 0, cron from Sunday = 0: names are unambiguous.
    if any(character.isdigit() for character in fields[4]):
        raise ImproperlyConfigured(
            f"OPS_SCHEDULES[{job!r}] = {expression!r}: name the weekdays (mon-fri), not numbers."
        )
    try:
        return CronTrigger.from_crontab(expression, timezone=timezone.get_default_timezone())
    except ValueError as exc:
        raise ImproperlyConfigured(f"OPS_SCHEDULES[{job!r}] = {expression!r}: {exc}") from exc


def trigger_for(job: str, expression: str) -> CronTrigger | IntervalTrigger:
    if every := EVERY.fullmatch(expression.strip()):
        return IntervalTrigger(seconds=int(every.group(1)))
    return cron_trigger(job, expression)


def jobs_schedule(scheduler: BaseScheduler) -> list[str]:
    """Add every scheduled job to `scheduler`; returns their names."""
    unknown = set(settings.OPS_SCHEDULES) - set(JOBS)
    if unknown:
        raise ImproperlyConfigured(f"OPS_SCHEDULES names unknown jobs: {sorted(unknown)}.")
    names = []
    for job, expression in settings.OPS_SCHEDULES.items():
        if expression.strip().lower() in OFF:
            continue
        scheduler.add_job(
            with_fresh_connections(JOBS[job]),
            trigger=trigger_for(job, expression),
            id=job,
            name=job,
            replace_existing=True,
            # A run missed while the previous one lasted is skipped, not stacked.
            max_instances=1,
            coalesce=True,
        )
        names.append(job)
    scheduler.add_job(
        with_fresh_connections(tasks.worker_heartbeat.enqueue),
        trigger=IntervalTrigger(seconds=settings.OPS["HEARTBEAT_SECONDS"]),
        id="worker_heartbeat",
        name="worker_heartbeat",
        replace_existing=True,
        next_run_time=timezone.now(),
    )
    names.append("worker_heartbeat")
    return names
