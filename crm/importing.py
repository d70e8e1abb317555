"""Contact files imported in the background: queued at confirmation, run by a worker task.

The admin previews a file in the request (nothing written), and its "Confirm import" stores
the file in a `ContactImport` row and queues `crm.tasks.contact_import` (`manage.py db_worker`
runs it). The task calls `contact_import_run`, which works in two passes through
ContactResource:

1. `import_plan` checks every row with contact_upsert's rules, matching existing contacts by
   email for the whole file at once, and writes nothing. A row that became invalid since the
   preview fails the import with its reason, and nothing is written: as before, a file is
   imported only when every row is valid.
2. `import_write` then writes the rows in batches (IMPORT_BATCH_ROWS), a transaction each,
   in bulk: a few statements per table per batch, links marked pending with one call per
   batch, their pushes queued as the batch commits, the admin history in one insert.

A transaction per batch rather than per file: a 10,000-row file would otherwise hold SQLite's
single write lock (or PostgreSQL's row locks on the updated contacts) for the whole import.
The price: once validation has passed, only a change made meanwhile by another writer (an email
taken) or a fault can stop the import, and then the batches before it stay imported, which
the error says. Importing the same file again reports those rows unchanged.

Where the progress lives, and why. The progress page must see counts move while batches are
written, and the counts are written inside each batch's transaction:

- Not on the ContactImport row through the importing connection: nothing written inside a
  transaction is visible to other connections before it commits.
- Not on that row through a second connection either: on SQLite the open batch transaction
  holds the database's single write lock (IMMEDIATE mode), so a second writer would wait on
  the busy timeout and stall the import.
- So the running counts go to a cache (the `import_progress` alias), keyed by the import's id,
  which no database transaction holds. The worker writes it and the web process reads it, so
  it must be shared between processes: settings make it file-based on this host (SQLite means
  one host anyway); with web and workers on several hosts, point it at a shared cache.
- The row itself is written only outside the import's transactions: RUNNING with the total
  first, the final status and counts at the end. The progress view reads the row and, while
  it is RUNNING, the cache's counts on top.
"""

import logging
import time
from typing import Any

import tablib
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone
from import_export.formats.base_formats import CSV, XLSX
from import_export.results import Result, RowResult

from .models import ContactImport
from .resources import ContactResource, line_number

logger = logging.getLogger(__name__)

PROGRESS_CACHE = "import_progress"
# Progress is written every this many rows, or sooner once this many seconds have passed.
PROGRESS_EVERY_ROWS = 100
PROGRESS_EVERY_SECONDS = 0.5
PROGRESS_TIMEOUT = 24 * 3600
# At most this many problems are kept in the failure message.
MAX_ERRORS_REPORTED = 50
COUNTS = ("processed", "new", "updated", "skipped", "invalid")
ROW_COUNT = {
    RowResult.IMPORT_TYPE_NEW: "new",
    RowResult.IMPORT_TYPE_UPDATE: "updated",
    RowResult.IMPORT_TYPE_SKIP: "skipped",
    RowResult.IMPORT_TYPE_INVALID: "invalid",
    RowResult.IMPORT_TYPE_ERROR: "invalid",
}
FORMATS = {ContactImport.Format.CSV: CSV, ContactImport.Format.XLSX: XLSX}


def _progress_key(import_id: int) -> str:
    return f"crm:contact-import:{import_id}"


def _progress_write(import_id: int, counts: dict[str, int]) -> None:
    # Best effort: a cache that fails must not fail the import (the row gets the final counts).
    try:
        caches[PROGRESS_CACHE].set(_progress_key(import_id), dict(counts), PROGRESS_TIMEOUT)
    except Exception:
        logger.warning("Contact import %s: progress not written", import_id, exc_info=True)


def contact_import_create(*, user, file_name: str, format: str, content: bytes) -> ContactImport:
    """Store a confirmed file and queue its import; the task is queued with the row."""
    from .tasks import contact_import

    with transaction.atomic():
        contact_import_row = ContactImport.objects.create(
            created_by=user if getattr(user, "pk", None) else None,
            file_name=file_name[:255],
            format=format,
            content=content,
        )
        # An id reused after a rolled-back test or a restored database starts clean.
        caches[PROGRESS_CACHE].delete(_progress_key(contact_import_row.pk))
        contact_import.enqueue(import_id=contact_import_row.pk)
    return contact_import_row


def contact_import_dataset(contact_import_row: ContactImport) -> tablib.Dataset:
    input_format = FORMATS[contact_import_row.format]()
    content = bytes(contact_import_row.content)
    data = content if input_format.is_binary() else content.decode("utf-8-sig")
    return input_format.create_dataset(data)


def contact_import_run(*, import_id: int) -> str:
    """Import a queued file: validate every row, then write them in batches; returns the status."""
    contact_import_row = ContactImport.objects.select_related("created_by").get(pk=import_id)
    if contact_import_row.status != ContactImport.Status.QUEUED:
        return contact_import_row.status  # already run: a repeated task does nothing
    counts = dict.fromkeys(COUNTS, 0)
    try:
        dataset = contact_import_dataset(contact_import_row)
    except Exception as exc:  # an unreadable file
        return _finish(contact_import_row, counts, error=f"The file could not be read: {exc}")

    ContactImport.objects.filter(pk=import_id).update(
        status=ContactImport.Status.RUNNING, total=len(dataset)
    )
    _progress_write(import_id, counts)
    last_write = time.monotonic()

    def progress(row_result: RowResult) -> None:
        nonlocal last_write
        counts["processed"] += 1
        if key := ROW_COUNT.get(row_result.import_type):
            counts[key] += 1
        now = time.monotonic()
        if (
            counts["processed"] % PROGRESS_EVERY_ROWS == 0
            or now - last_write >= PROGRESS_EVERY_SECONDS
        ):
            _progress_write(import_id, counts)
            last_write = now

    resource = ContactResource(progress=progress)
    try:
        # Every row is checked before anything is written: an invalid row (or one that became
        # invalid since the preview) fails the import with its reason and writes nothing.
        result = resource.import_plan(dataset, user=contact_import_row.created_by)
    except Exception as exc:
        return _finish(contact_import_row, counts, error=f"The import failed: {exc}")
    error = import_errors(result)
    if error:
        resource.import_report(result.rows)
        return _finish(contact_import_row, counts, error=error)

    user_id = contact_import_row.created_by_id
    for rows in resource.import_batches(result):
        try:
            # A transaction per batch, not per file: SQLite's one write lock and PostgreSQL's
            # row locks are held for a batch (well under a second), so the admin, the API and
            # the push workers keep writing during a long import, and each batch's pushes are
            # queued as it commits. Progress is counted inside it, as each batch is written.
            with transaction.atomic():
                resource.import_write(rows)
                if user_id:
                    _log_entries(rows, user_id=user_id)
                resource.import_report(rows)
        except Exception as exc:
            # Only a change made meanwhile (an email taken by another writer) or a fault gets
            # here, since every row was validated: earlier batches stay imported, and saying
            # so is the honest answer. Importing the file again reports them unchanged.
            logger.exception("Contact import %s failed at line %s", import_id, rows[0].line)
            written = counts["new"] + counts["updated"]
            return _finish(
                contact_import_row,
                counts,
                error=(
                    f"The import stopped at line {rows[0].line}: {exc}\n"
                    f"The lines before it were imported ({written} contacts written); "
                    "importing the file again reports them unchanged."
                    if written
                    else f"The import failed at line {rows[0].line}: {exc}"
                ),
            )
    return _finish(contact_import_row, counts, error="")


def _log_entries(rows: list[RowResult], *, user_id: int) -> None:
    """The admin history of the added and changed contacts, in bulk (one insert per kind)."""
    flags = {RowResult.IMPORT_TYPE_NEW: ADDITION, RowResult.IMPORT_TYPE_UPDATE: CHANGE}
    for import_type, flag in flags.items():
        instances = [row.instance for row in rows if row.import_type == import_type]
        if instances:
            LogEntry.objects.log_actions(
                user_id,
                instances,
                flag,
                change_message=f"{import_type} through import_export",
                single_object=len(instances) == 1,
            )


def _finish(contact_import_row: ContactImport, counts: dict[str, int], *, error: str) -> str:
    status = ContactImport.Status.FAILED if error else ContactImport.Status.DONE
    ContactImport.objects.filter(pk=contact_import_row.pk).update(
        status=status, error=error, finished_at=timezone.now(), **counts
    )
    caches[PROGRESS_CACHE].delete(_progress_key(contact_import_row.pk))
    return status


def import_errors(result: Result) -> str:
    """Why an import wrote nothing, one problem a line, by file line; empty if it succeeded."""
    problems = [str(error.error) for error in result.base_errors]
    for number, errors in result.row_errors():
        problems.extend(f"Line {line_number(number)}: {error.error}" for error in errors)
    for row in result.invalid_rows:
        for column, messages in row.field_specific_errors.items():
            problems.extend(f"Line {line_number(row.number)}: {column}: {m}" for m in messages)
        problems.extend(
            f"Line {line_number(row.number)}: {m}" for m in row.non_field_specific_errors
        )
    if len(problems) > MAX_ERRORS_REPORTED:
        more = len(problems) - MAX_ERRORS_REPORTED
        problems = [*problems[:MAX_ERRORS_REPORTED], f"… and {more} more."]
    return "\n".join(problems)


def contact_import_progress(contact_import_row: ContactImport) -> dict[str, Any]:
    """What the progress page shows: the row, with the cache's running counts while it runs."""
    data = {
        "id": contact_import_row.pk,
        "status": contact_import_row.status,
        "total": contact_import_row.total,
        **{name: getattr(contact_import_row, name) for name in COUNTS},
        "error": contact_import_row.error,
        "finished": contact_import_row.status
        in (ContactImport.Status.DONE, ContactImport.Status.FAILED),
    }
    if contact_import_row.status == ContactImport.Status.RUNNING:
        running = caches[PROGRESS_CACHE].get(_progress_key(contact_import_row.pk)) or {}
        data.update({name: running[name] for name in COUNTS if name in running})
    return data
