"""Scheduled upkeep: the retry sweep, the prunes, stale imports, the workers' heartbeat.

Each job goes through the owning app's management command or public function, so the rules
(what is overdue, what retention means) stay with the app that owns the data.
"""

import datetime
import io

from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from crm.import_progress import COUNTS
from crm.importing import contact_import_progress
from crm.models import ContactImport
from integrations.links import links_enqueue_pending

from .models import ImportWatch, WorkerHeartbeat

# A worker not seen for this long is forgotten (its row is only history by then).
HEARTBEAT_RETENTION = datetime.timedelta(days=1)


def retry_sweep() -> int:
    """Queue again the pending pushes whose task was lost (as `push_contacts --pending
    --every` does): only links overdue by SWEEP_GRACE_SECONDS and not claimed by a worker,
    so a sweep every minute never doubles the queue. Returns how many were queued."""
    return links_enqueue_pending(overdue_for=settings.INTEGRATIONS["SWEEP_GRACE_SECONDS"])


def command_output(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue().strip()


def push_attempts_prune() -> str:
    return command_output("push_contacts", "--prune")


def idempotency_records_prune() -> str:
    return command_output("prune_idempotency_records")


def task_results_prune() -> str:
    days = settings.OPS["TASK_RESULT_RETENTION_DAYS"]
    return command_output("prune_db_task_results", "--queue-name=*", f"--min-age-days={days}")


def worker_heartbeat_record(*, worker_id: str, now: datetime.datetime | None = None) -> None:
    now = now or timezone.now()
    WorkerHeartbeat.objects.update_or_create(worker_id=worker_id, defaults={"seen_at": now})
    WorkerHeartbeat.objects.filter(seen_at__lt=now - HEARTBEAT_RETENTION).delete()


def stale_import_error(*, minutes: int, progress: dict) -> str:
    written = progress["new"] + progress["updated"]
    return (
        f"The import stopped: it made no progress for {minutes} minutes, so its worker was "
        f"stopped or killed. {progress['processed']} of {progress['total']} rows had been "
        f"processed ({written} contacts written). Import the file again to finish it: rows "
        "already imported are reported unchanged."
    )


def contact_imports_fail_stale(*, now: datetime.datetime | None = None) -> list[int]:
    """Mark failed each running import whose progress has not moved for STALE_IMPORT_MINUTES,
    with an error saying so; returns their ids.

    The progress is the running count the import writes to the shared progress cache at least
    every half second while its worker lives (crm.import_run); the moment it last moved is kept
    in ImportWatch, one row per running import.
    """
    now = now or timezone.now()
    minutes = settings.OPS["STALE_IMPORT_MINUTES"]
    running = ContactImport.objects.filter(status=ContactImport.Status.RUNNING)
    ImportWatch.objects.exclude(contact_import__in=running).delete()
    failed = []
    for contact_import_row in running.defer("content"):
        progress = contact_import_progress(contact_import_row)
        watch, created = ImportWatch.objects.get_or_create(
            contact_import=contact_import_row,
            defaults={"processed": progress["processed"], "moved_at": now},
        )
        if created:
            continue
        if progress["processed"] != watch.processed:
            watch.processed, watch.moved_at = progress["processed"], now
            watch.save(update_fields=["processed", "moved_at"])
            continue
        if now - watch.moved_at < datetime.timedelta(minutes=minutes):
            continue
        # Conditional: an import that finished meanwhile keeps its own outcome.
        if ContactImport.objects.filter(
            pk=contact_import_row.pk, status=ContactImport.Status.RUNNING
        ).update(
            status=ContactImport.Status.FAILED,
            error=stale_import_error(minutes=minutes, progress=progress),
            finished_at=now,
            **{name: progress[name] for name in COUNTS},
        ):
            failed.append(contact_import_row.pk)
        watch.delete()
    return failed
