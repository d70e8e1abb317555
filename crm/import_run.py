"""The worker's side of a background contact import (crm.tasks.contact_import).

`contact_import_run` works in two passes through ContactResource:

1. The plan checks every row with contact_upsert's rules, matching existing contacts by email
   for the whole file at once, and writes nothing (crm.import_plan). A row that became invalid
   since the preview fails the import with its reason, and nothing is written: as before, a
   file is imported only when every row is valid.
2. The planned rows are then written in batches (IMPORT_BATCH_ROWS), a transaction each, in
   bulk: a few statements per table per batch, links marked pending with one call per batch,
   their pushes queued as the batch commits, the admin history in one insert.

A transaction per batch rather than per file: a 10,000-row file would otherwise hold SQLite's
single write lock (or PostgreSQL's row locks on the updated contacts) for the whole import.
The price: once validation has passed, only a change made meanwhile by another writer (an email
taken) or a fault can stop the import, and then the batches before it stay imported, which
the error says. Importing the same file again reports those rows unchanged. The running counts
go to a cache as the batches are written (crm.import_progress says why).
"""

import logging
import time

import tablib
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import transaction
from django.utils import timezone
from import_export.formats.base_formats import CSV, XLSX
from import_export.results import Result, RowResult

from .import_columns import line_number
from .import_plan import import_batch_write, import_batches
from .import_progress import COUNTS, progress_clear, progress_write
from .models import ContactImport
from .resources import ContactResource

logger = logging.getLogger(__name__)

# Progress is written every this many rows, or sooner once this many seconds have passed.
PROGRESS_EVERY_ROWS = 100
PROGRESS_EVERY_SECONDS = 0.5
# At most this many problems are kept in the failure message.
MAX_ERRORS_REPORTED = 50
ROW_COUNT = {
    RowResult.IMPORT_TYPE_NEW: "new",
    RowResult.IMPORT_TYPE_UPDATE: "updated",
    RowResult.IMPORT_TYPE_SKIP: "skipped",
    RowResult.IMPORT_TYPE_INVALID: "invalid",
    RowResult.IMPORT_TYPE_ERROR: "invalid",
}
FORMATS = {ContactImport.Format.CSV: CSV, ContactImport.Format.XLSX: XLSX}


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
    progress_write(import_id, counts)
    last_write = time.monotonic()

    def count(rows: list[RowResult]) -> None:
        """Count `rows` as done, once they are written or refused."""
        nonlocal last_write
        for row_result in rows:
            counts["processed"] += 1
            if key := ROW_COUNT.get(row_result.import_type):
                counts[key] += 1
            now = time.monotonic()
            if (
                counts["processed"] % PROGRESS_EVERY_ROWS == 0
                or now - last_write >= PROGRESS_EVERY_SECONDS
            ):
                progress_write(import_id, counts)
                last_write = now

    try:
        # Every row is checked before anything is written: an invalid row (or one that became
        # invalid since the preview) fails the import with its reason and writes nothing.
        # Outside any transaction: the plan only reads, and on SQLite a transaction would
        # hold the write lock while a long file is checked.
        result = ContactResource(plan_only=True).import_data(
            dataset, use_transactions=False, user=contact_import_row.created_by
        )
    except Exception as exc:
        return _finish(contact_import_row, counts, error=f"The import failed: {exc}")
    error = import_errors(result)
    if error:
        count(result.rows)
        return _finish(contact_import_row, counts, error=error)

    user_id = contact_import_row.created_by_id
    for rows in import_batches(result.rows):
        try:
            # A transaction per batch, not per file: SQLite's one write lock and PostgreSQL's
            # row locks are held for a batch (well under a second), so the admin, the API and
            # the push workers keep writing during a long import, and each batch's pushes are
            # queued as it commits. Progress is counted inside it, as each batch is written.
            with transaction.atomic():
                import_batch_write(rows)
                if user_id:
                    _log_entries(rows, user_id=user_id)
                count(rows)
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
    progress_clear(contact_import_row.pk)
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
