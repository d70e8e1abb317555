"""The admin's own pages, beside the model pages: a connection's test and Close fields, a
contact's payload preview, the "Push to provider…" form and the progress of a push.

Thin: they read through selectors, the preview and the adapters, call a service, and render.
The model admins route their URLs and actions here.
"""

import json
import secrets

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from crm.models import CustomField

from ..connections import connection_check
from ..crypto import SecretUnreadable
from ..links import links_mark_pending
from ..models import Connection
from ..providers import ProviderError, adapter_class
from ..selectors import push_batch_progress
from .forms import PushForm
from .preview import payload_previews

PUSH_BATCHES_KEPT = 5


def viewable_object(model_admin, request, object_id):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(f"No {model_admin.opts.verbose_name} with ID {object_id!r}.")
    if not model_admin.has_view_permission(request, obj):
        raise PermissionDenied
    return obj


def page_context(model_admin, request, title: str, **extra) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        **extra,
    }


# --- connections ------------------------------------------------------------------------------


def connection_test(model_admin, request, object_id):
    # A GET is fine: the call only reads at the provider and changes nothing here.
    connection = model_admin.get_object(request, object_id)
    if connection is None or not model_admin.has_view_permission(request, connection):
        raise PermissionDenied
    ok, message = connection_check(connection=connection)
    model_admin.message_user(
        request, f"Test connection: {message}", messages.SUCCESS if ok else messages.ERROR
    )
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    return HttpResponseRedirect(url)


def connection_close_fields(model_admin, request, object_id):
    connection = viewable_object(model_admin, request, object_id)
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
    context = page_context(
        model_admin,
        request,
        f"Close fields: {connection}",
        original=connection,
        fields=fields,
        error=error,
        current=json.dumps(connection.options.get("custom_field_map") or {}, indent=2),
        suggestion=json.dumps(close_fields_suggested_map(fields), indent=2),
    )
    return TemplateResponse(request, "admin/integrations/close_fields.html", context)


def close_fields_suggested_map(fields: list[dict]) -> dict[str, str]:
    """Our field keys (and tags) to the Close fields of the same name or label."""
    by_name = {str(f["name"]).casefold(): f["id"] for f in fields}
    ours = [("tags", "tags"), *CustomField.objects.values_list("key", "label")]
    suggestion = {}
    for key, label in ours:
        found = by_name.get(label.casefold()) or by_name.get(key.casefold())
        if found:
            suggestion[key] = found
    return suggestion


# --- contacts ---------------------------------------------------------------------------------


def contact_payload_preview(model_admin, request, object_id):
    contact = viewable_object(model_admin, request, object_id)
    context = page_context(
        model_admin,
        request,
        f"Preview payload: {contact}",
        original=contact,
        previews=payload_previews(contact=contact),
    )
    return TemplateResponse(request, "admin/integrations/payload_preview.html", context)


def contacts_push_form(model_admin, request, queryset):
    """The "Push to provider…" action: choose connections, queue, then watch the progress."""
    if "apply" in request.POST:
        form = PushForm(request.POST)
        if form.is_valid():
            connections = list(form.cleaned_data["connections"])
            contact_ids = list(queryset.order_by().values_list("pk", flat=True))
            count = links_mark_pending(contacts=contact_ids, connections=connections)
            names = ", ".join(c.name for c in connections)
            model_admin.message_user(
                request, f"{count} pushes queued to {names}.", messages.SUCCESS
            )
            token = push_batch_remember(request, contact_ids, connections)
            return HttpResponseRedirect(reverse("admin:crm_contact_push_progress", args=[token]))
    else:
        form = PushForm()
    context = page_context(
        model_admin,
        request,
        "Push to provider",
        form=form,
        count=queryset.count(),
        selected=request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        select_across=request.POST.get("select_across", "0"),
        action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
        media=model_admin.media + form.media,
    )
    return TemplateResponse(request, "admin/integrations/push_to_provider.html", context)


def push_batch_remember(request, contact_ids: list[int], connections: list[Connection]) -> str:
    """Keep a queued push's selection in the session, so its progress page can count it."""
    token = secrets.token_urlsafe(8)
    batches = request.session.get("push_batches", {})
    batches = dict(list(batches.items())[-(PUSH_BATCHES_KEPT - 1) :])
    batches[token] = {
        "contacts": contact_ids,
        "connections": [c.pk for c in connections],
        "names": [c.name for c in connections],
    }
    request.session["push_batches"] = batches
    return token


def push_progress(model_admin, request, token):
    batch = request.session.get("push_batches", {}).get(token)
    if batch is None:
        raise Http404("This push is no longer tracked; the contact list shows sync badges.")
    progress = push_batch_progress(
        contact_ids=batch["contacts"], connection_ids=batch["connections"]
    )
    if request.GET.get("format") == "json":
        return JsonResponse(progress)
    context = page_context(
        model_admin,
        request,
        "Push progress",
        progress=progress,
        names=", ".join(batch["names"]),
        contact_count=len(batch["contacts"]),
    )
    return TemplateResponse(request, "admin/integrations/push_progress.html", context)
