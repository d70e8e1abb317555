"""The contact export's pages for a large selection: queueing it, its progress, its download.

The export page stays django-import-export's; on a valid POST of more than
crm.bulk_export.SYNC_LIMIT contacts, `contact_export_queue` queues the export for the worker
(crm.bulk_export) and sends staff to its progress page, which offers the file once written.
The file is downloaded only through `contact_export_download`: staff who may export contacts,
and only the one who asked (or a superuser).
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from .admin_progress import progress_page
from .bulk_export import SYNC_LIMIT, contact_export_create, contact_export_progress
from .bulk_export_run import EXPORTS_STORAGE
from .models import ContactExport


def contact_export_queue(model_admin, request):
    """A response sending staff to a queued export's progress, or None: the library exports
    in the request (a small selection, a form to show again, an action's ticked items)."""
    if request.method != "POST" or "export_items" in request.POST:
        return None
    if not model_admin.has_export_permission(request):
        return None  # the library refuses it
    form = model_admin.get_export_form_class()(
        model_admin.get_export_formats(),
        model_admin.get_export_resource_classes(request),
        data=request.POST,
    )
    if not form.is_valid():
        return None
    total = model_admin.get_export_queryset(request).count()
    if total <= SYNC_LIMIT:
        return None
    export = contact_export_create(
        user=request.user,
        query=request.GET.urlencode(),
        form_data={
            name: request.POST.getlist(name)
            for name in request.POST
            if name != "csrfmiddlewaretoken"
        },
        total=total,
    )
    return HttpResponseRedirect(reverse("admin:crm_contact_export_progress", args=[export.pk]))


def _own_export(model_admin, request, export_id) -> ContactExport:
    if not model_admin.has_export_permission(request):
        raise PermissionDenied
    export = get_object_or_404(ContactExport, pk=export_id)
    if export.created_by_id != request.user.pk and not request.user.is_superuser:
        raise PermissionDenied  # another user's file: the list they exported may differ
    return export


def contact_export_progress_view(model_admin, request, export_id):
    export = _own_export(model_admin, request, export_id)
    return progress_page(
        model_admin,
        request,
        title="Export progress",
        template="admin/crm/contact/export_progress.html",
        progress=contact_export_progress(export),
        export=export,
        keep_hours=settings.CONTACT_EXPORT_KEEP_HOURS,
    )


def contact_export_download(model_admin, request, export_id):
    export = _own_export(model_admin, request, export_id)
    if export.status != ContactExport.Status.DONE or not export.file:
        raise Http404("This export has no file: not finished yet, or removed since.")
    storage = storages[EXPORTS_STORAGE]
    if not storage.exists(export.file):
        raise Http404("This export's file was removed.")
    return FileResponse(
        storage.open(export.file, "rb"), as_attachment=True, filename=export.file_name
    )
