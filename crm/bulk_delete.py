"""Large "Delete selected contacts" runs in the background: queued at confirmation, watched
while it runs.

A delete of 100,000 contacts takes minutes, past any web request's timeout. The confirmation
(crm.admin_delete) stores the selection as the contact list carried it in a `ContactDeletion`
row and queues `crm.tasks.contact_deletion`, which `manage.py db_worker` runs
(crm.bulk_delete_run); the progress page reads the row, which the worker updates as each chunk
commits. A selection of at most SYNC_LIMIT contacts (a page of ticks, a small filter) is still
deleted in the request: a single chunk, well under a second, and the list shows the outcome
straight away.
"""

from typing import Any

from django.db import transaction

from .chunks import BULK_CHUNK
from .models import ContactDeletion
from .tasks import contact_deletion

# One chunk of crm.deletion: deleted in the request; more goes to the worker.
SYNC_LIMIT = BULK_CHUNK


def contact_deletion_create(
    *, user, query: str, select_across: bool, selected: list[int], upto: int | None, total: int
) -> ContactDeletion:
    """Store a confirmed selection and queue its delete; the task is queued with the row."""
    with transaction.atomic():
        deletion = ContactDeletion.objects.create(
            created_by=user if getattr(user, "pk", None) else None,
            query=query,
            select_across=select_across,
            selected=[] if select_across else selected,
            upto=upto,
            total=total,
        )
        contact_deletion.enqueue(deletion_id=deletion.pk)
    return deletion


def contact_deletion_progress(deletion: ContactDeletion) -> dict[str, Any]:
    """What the progress page shows (and its JSON twin)."""
    return {
        "id": deletion.pk,
        "status": deletion.status,
        "total": deletion.total,
        "deleted": deletion.deleted,
        "error": deletion.error,
        "finished": deletion.status in (ContactDeletion.Status.DONE, ContactDeletion.Status.FAILED),
    }
