"""Large contact exports run in the background: queued from the export page, downloaded from
their progress page.

An export of 100,000 contacts takes minutes, past any web request's timeout. The export page
(ContactAdmin.export_action) stores the list's query string and the posted form in a
`ContactExport` row and queues `crm.tasks.contact_export`, which `manage.py db_worker` runs
(crm.bulk_export_run): it builds the file as the page would, through the library's own
export, and writes it to the private "exports" storage. The progress page then offers the
download, a staff-only view that streams the file to the user who asked for it. Files are
removed after settings.CONTACT_EXPORT_KEEP_HOURS, by each later export's run. A selection of
at most SYNC_LIMIT contacts is still exported in the request.
"""

from typing import Any

from django.db import transaction

from .models import ContactExport
from .tasks import contact_export

# At most this many contacts are exported in the request (a few seconds at most).
SYNC_LIMIT = 5000


def contact_export_create(*, user, query: str, form_data: dict, total: int) -> ContactExport:
    """Store a confirmed export and queue it; the task is queued with the row."""
    with transaction.atomic():
        export = ContactExport.objects.create(
            created_by=user if getattr(user, "pk", None) else None,
            query=query,
            form_data=form_data,
            total=total,
        )
        contact_export.enqueue(export_id=export.pk)
    return export


def contact_export_progress(export: ContactExport) -> dict[str, Any]:
    """What the progress page shows (and its JSON twin)."""
    return {
        "id": export.pk,
        "status": export.status,
        "total": export.total,
        "error": export.error,
        "finished": export.status in (ContactExport.Status.DONE, ContactExport.Status.FAILED),
        "ready": export.status == ContactExport.Status.DONE and bool(export.file),
    }
