"""Two read-only admin pages: a contact's payload preview and a Close connection's fields.

Thin: they read through integrations.preview and the Close adapter, and render.
"""

import json

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse

from crm.models import CustomField

from .crypto import SecretUnreadable
from .preview import payload_previews
from .providers import ProviderError, adapter_class


def _object(model_admin, request, object_id):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(f"No {model_admin.opts.verbose_name} with ID {object_id!r}.")
    if not model_admin.has_view_permission(request, obj):
        raise PermissionDenied
    return obj


def _context(model_admin, request, obj, title: str, **extra) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "original": obj,
        **extra,
    }


def contact_payload_preview(model_admin, request, object_id):
    contact = _object(model_admin, request, object_id)
    context = _context(
        model_admin,
        request,
        contact,
        f"Preview payload: {contact}",
        previews=payload_previews(contact=contact),
    )
    return TemplateResponse(request, "admin/integrations/payload_preview.html", context)


def close_fields(model_admin, request, object_id):
    connection = _object(model_admin, request, object_id)
    if connection.provider != "close":
        raise Http404("Fetch fields is for Close connections.")
    fields, error = [], ""
    try:
        adapter = adapter_class("close")(
            base_url=connection.base_url,
            api_key=connection.api_key,
            options=connection.options,
        )
        fields = adapter.fetch_fields()
    except (ProviderError, SecretUnreadable) as exc:
        error = getattr(exc, "message", str(exc))
    context = _context(
        model_admin,
        request,
        connection,
        f"Close fields: {connection}",
        fields=fields,
        error=error,
        current=json.dumps(connection.options.get("custom_field_map") or {}, indent=2),
        suggestion=json.dumps(_suggested_map(fields), indent=2),
    )
    return TemplateResponse(request, "admin/integrations/close_fields.html", context)


def _suggested_map(fields: list[dict]) -> dict[str, str]:
    """Our field keys (and tags) to the Close fields of the same name or label."""
    by_name = {str(f["name"]).casefold(): f["id"] for f in fields}
    ours = [("tags", "tags"), *CustomField.objects.values_list("key", "label")]
    suggestion = {}
    for key, label in ours:
        found = by_name.get(label.casefold()) or by_name.get(key.casefold())
        if found:
            suggestion[key] = found
    return suggestion
