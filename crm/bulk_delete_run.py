"""The worker's side of a background "Delete selected contacts" (crm.tasks.contact_deletion).

The selection is resolved here by the code that counted it on the confirmation page: the
contact admin's own change list, given the list's query string (its filters and search) and
the user who confirmed, then the ticked ids unless "select all" was used. Contacts added after
the confirmation (an id above the highest one then) are left out, so the count shown is what
is deleted, or fewer if some went meanwhile; a contact edited meanwhile into the filters is in
the selection, as it would be in the list.

The delete itself is crm.deletion's, by chunks, a transaction each (contacts_delete_by_chunks
says why), each chunk logged in the admin's history under the confirming user and announced
to the integrations app (its remote delete rules). The row's count moves as each chunk
commits; a fault stops the delete, and the row says how many went before it.
"""

import logging

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from .deletion import contacts_delete_by_chunks
from .models import Contact, ContactDeletion

logger = logging.getLogger(__name__)


def contact_deletion_request(*, query: str, user) -> HttpRequest:
    """A GET of the contact list as the confirming user sent it: what the admin's change list
    reads its filters, search and permissions from."""
    request = HttpRequest()
    request.method = "GET"
    request.GET = QueryDict(query)
    request.user = user
    return request


def contact_deletion_selection(*, deletion: ContactDeletion, request: HttpRequest):
    """The contacts `deletion` selected, as the admin's action received them."""
    model_admin = admin.site.get_model_admin(Contact)
    contacts: QuerySet[Contact] = model_admin.get_changelist_instance(request).get_queryset(request)
    if not deletion.select_across:
        contacts = contacts.filter(pk__in=deletion.selected)
    if deletion.upto is not None:
        contacts = contacts.filter(pk__lte=deletion.upto)
    return contacts


def contact_deletion_run(*, deletion_id: int) -> str:
    """Delete a queued selection by chunks, counting as they commit; returns the status."""
    deletion = ContactDeletion.objects.get(pk=deletion_id)
    if not ContactDeletion.job_start(deletion.pk):
        deletion.refresh_from_db(fields=["status"])
        return deletion.status  # taken already: a repeated task does nothing
    rows = ContactDeletion.objects.filter(pk=deletion.pk)
    done = {"deleted": 0}

    def counted(deleted: int) -> None:
        done["deleted"] = deleted
        rows.update(deleted=deleted)

    try:
        user = get_user_model().objects.get(pk=deletion.created_by_id, is_active=True)
        request = contact_deletion_request(query=deletion.query, user=user)
        model_admin = admin.site.get_model_admin(Contact)
        if not model_admin.has_delete_permission(request):
            raise PermissionError("the user who confirmed may no longer delete contacts")
        contacts_delete_by_chunks(
            contacts=contact_deletion_selection(deletion=deletion, request=request),
            before_chunk=lambda chunk: model_admin.log_deletions(request, chunk),
            after_chunk=counted,
        )
    except get_user_model().DoesNotExist:
        return _finish(rows, done["deleted"], "The user who confirmed the delete is gone.")
    except Exception as exc:
        logger.exception("Contact deletion %s failed", deletion_id)
        return _finish(rows, done["deleted"], f"The delete stopped: {exc}")
    return _finish(rows, done["deleted"], "")


def _finish(rows: QuerySet[ContactDeletion], deleted: int, error: str) -> str:
    status = ContactDeletion.Status.FAILED if error else ContactDeletion.Status.DONE
    rows.update(status=status, deleted=deleted, error=error, finished_at=timezone.now())
    return status
