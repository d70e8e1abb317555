"""Contact files imported in the background: queued at confirmation, watched while they run.

The admin previews a file in the request (a dry run of ContactResource: nothing written), and
its "Confirm import" stores the file in a `ContactImport` row and queues
`crm.tasks.contact_import`, which `manage.py db_worker` runs (crm.import_run). The progress
page reads the row and, while it runs, the counts in the cache (crm.import_progress).
"""

from typing import Any

from django.db import transaction

from .import_progress import COUNTS, progress_clear, progress_read
from .models import ContactImport
from .tasks import contact_import


def contact_import_create(*, user, file_name: str, format: str, content: bytes) -> ContactImport:
    """Store a confirmed file and queue its import; the task is queued with the row."""
    with transaction.atomic():
        contact_import_row = ContactImport.objects.create(
            created_by=user if getattr(user, "pk", None) else None,
            file_name=file_name[:255],
            format=format,
            content=content,
        )
        # An id reused after a rolled-back test or a restored database starts clean.
        progress_clear(contact_import_row.pk)
        contact_import.enqueue(import_id=contact_import_row.pk)
    return contact_import_row


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
        data.update(progress_read(contact_import_row.pk))
    return data
