"""The progress page of a contact job run by the worker (an import, an export, a delete)."""

from django.http import JsonResponse
from django.template.response import TemplateResponse


def progress_page(model_admin, request, *, title: str, template: str, progress: dict, **context):
    """The job's page, or with `?format=json` its `progress` alone: what the page's script
    (crm/static/crm/job_progress.js) polls to refresh it."""
    if request.GET.get("format") == "json":
        return JsonResponse(progress)
    page = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "progress": progress,
        **context,
    }
    return TemplateResponse(request, template, page)
