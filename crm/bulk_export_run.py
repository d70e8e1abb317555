"""The worker's side of a background contact export (crm.tasks.contact_export).

The file is what the export page would have sent: the contact admin's own export (the list's
queryset through get_export_queryset, the library's get_export_data with the posted form's
format and fields), given the list's query string, the posted form and the user who asked.
It is written to the private "exports" storage; before that, the files of exports older than
settings.CONTACT_EXPORT_KEEP_HOURS are removed, so no scheduler job is needed.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.http import HttpRequest, QueryDict
from django.utils import timezone

from .models import Contact, ContactExport

logger = logging.getLogger(__name__)

EXPORTS_STORAGE = "exports"


def contact_export_request(*, export: ContactExport, user) -> HttpRequest:
    """The export page's POST as the user sent it: the list's filters in the address."""
    request = HttpRequest()
    request.method = "POST"
    request.GET = QueryDict(export.query)
    request.POST = QueryDict(mutable=True)
    for name, values in export.form_data.items():
        request.POST.setlist(name, values)
    request.user = user
    return request


def contact_exports_prune(*, now=None) -> int:
    """Remove the files of exports finished more than CONTACT_EXPORT_KEEP_HOURS ago."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.CONTACT_EXPORT_KEEP_HOURS)
    old = ContactExport.objects.filter(finished_at__lt=cutoff).exclude(file="")
    storage = storages[EXPORTS_STORAGE]
    removed = 0
    for export in old:
        storage.delete(export.file)
        ContactExport.objects.filter(pk=export.pk).update(file="")
        removed += 1
    return removed


def contact_export_run(*, export_id: int) -> str:
    """Write a queued export's file; returns the status."""
    export = ContactExport.objects.get(pk=export_id)
    if not ContactExport.job_start(export.pk):
        export.refresh_from_db(fields=["status"])
        return export.status  # taken already: a repeated task does nothing
    rows = ContactExport.objects.filter(pk=export.pk)
    try:
        contact_exports_prune()
        user = get_user_model().objects.get(pk=export.created_by_id, is_active=True)
        request = contact_export_request(export=export, user=user)
        model_admin = admin.site.get_model_admin(Contact)
        if not model_admin.has_export_permission(request):
            raise PermissionError("the user who asked may no longer export contacts")
        formats = model_admin.get_export_formats()
        form = model_admin.get_export_form_class()(
            formats, model_admin.get_export_resource_classes(request), data=request.POST
        )
        if not form.is_valid():
            raise ValueError(f"the export form is no longer valid: {form.errors.as_text()}")
        file_format = formats[int(form.cleaned_data["format"])]()
        queryset = model_admin.get_export_queryset(request)
        data = model_admin.get_export_data(
            file_format, request, queryset, encoding=model_admin.to_encoding, export_form=form
        )
        file_name = model_admin.get_export_filename(request, queryset, file_format)
        content = data if isinstance(data, bytes) else data.encode("utf-8")
        stored = storages[EXPORTS_STORAGE].save(
            f"contact-export-{export_id}.{file_format.get_extension()}", ContentFile(content)
        )
    except get_user_model().DoesNotExist:
        return _finish(rows, error="The user who asked for the export is gone.")
    except Exception as exc:
        logger.exception("Contact export %s failed", export_id)
        return _finish(rows, error=f"The export failed: {exc}")
    return _finish(rows, error="", file=stored, file_name=file_name)


def _finish(rows, *, error: str, **fields) -> str:
    status = ContactExport.Status.FAILED if error else ContactExport.Status.DONE
    rows.update(status=status, error=error, finished_at=timezone.now(), **fields)
    return status
