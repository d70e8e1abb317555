"""Upkeep tasks, queued by `manage.py scheduler` (ops.schedule) and run by the workers."""

from django.tasks import TaskContext, task
from django.tasks.base import TASK_MAX_PRIORITY

from . import upkeep


# Ahead of any backlog: it proves a worker takes tasks, not that the queue is short.
@task(priority=TASK_MAX_PRIORITY, takes_context=True)
def worker_heartbeat(context: TaskContext) -> None:
    upkeep.worker_heartbeat_record(worker_id=context.task_result.worker_ids[-1])


@task()
def retry_sweep() -> int:
    return upkeep.retry_sweep()


@task()
def stale_imports() -> list[int]:
    return upkeep.contact_imports_fail_stale()


@task()
def push_attempts_prune() -> str:
    return upkeep.push_attempts_prune()


@task()
def idempotency_records_prune() -> str:
    return upkeep.idempotency_records_prune()


@task()
def task_results_prune() -> str:
    return upkeep.task_results_prune()
