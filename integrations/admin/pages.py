"""The admin's own pages, beside the model pages: a connection's test and Close fields, a
contact's payload preview, the "Push to provider…" form and the progress of a push.

Thin: they read through selectors, the preview and the adapters, call a service, and render.
The model admins route their URLs and actions here.
"""

import copy

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpResponseRedirect, JsonResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse

from crm.models import Contact, CustomField

from ..connections import connection_check, connection_fields_fetch
from ..crypto import SecretUnreadable
from ..dry_run import push_dry_run
from ..mapping import mapping_text
from ..models import PushBatch
from ..providers import ProviderError
from ..push_batches import push_batch_create
from ..selectors import push_batch_progress
from .forms import PushForm
from .preview import payload_previews

SYNC_STATE_PARAMETER = "sync"  # the contact list's filter by sync state


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
    """Fetch Close's contact fields and keep them on the connection: the mapping's target
    choices, and what each push checks values against (types, choices)."""
    connection = viewable_object(model_admin, request, object_id)
    if connection.provider != "close":
        raise Http404("Fetch fields is for Close connections.")
    fields, error = [], ""
    try:
        fields = connection_fields_fetch(connection=connection)
    except (ProviderError, SecretUnreadable) as exc:
        error = getattr(exc, "message", str(exc))
    context = page_context(
        model_admin,
        request,
        f"Close fields: {connection}",
        original=connection,
        fields=fields,
        error=error,
        current=mapping_text(connection.field_map),
        suggestion=mapping_text(close_fields_suggested_map(fields)),
    )
    return TemplateResponse(request, "admin/integrations/close_fields.html", context)


def close_fields_suggested_map(fields: list[dict]) -> list[dict]:
    """Mapping entries from our tags and custom fields to the Close fields of the same name or
    label."""
    by_name = {str(f["name"]).casefold(): f["id"] for f in fields}
    ours = [("field:tags", "tags", "tags")]
    ours += [
        (f"cf:{key}", key, label) for key, label in CustomField.objects.values_list("key", "label")
    ]
    suggestion = []
    for source, key, label in ours:
        found = by_name.get(label.casefold()) or by_name.get(key.casefold())
        if found:
            suggestion.append({"target": f"custom.{found}", "source": source})
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
    select_across = request.POST.get("select_across", "0")
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    dry_runs = None
    if "dry_run" in request.POST:  # the "Dry run" button: counts for the chosen connections
        form = PushForm(request.POST)
        if form.is_valid():
            dry_runs = push_dry_run(
                connections=form.cleaned_data["connections"].order_by("name"), contacts=queryset
            )
    elif "apply" in request.POST:
        form = PushForm(request.POST)
        if form.is_valid():
            connections = list(form.cleaned_data["connections"])
            batch, count = push_batch_create(
                contacts=queryset,
                connections=connections,
                created_by=request.user,
                select_across=select_across == "1",
                query=request.GET.urlencode(),
                contact_ids=selected,
            )
            names = ", ".join(c.name for c in connections)
            model_admin.message_user(
                request, f"{count} pushes queued to {names}.", messages.SUCCESS
            )
            url = reverse("admin:crm_contact_push_progress", args=[batch.token])
            return HttpResponseRedirect(url)
    else:
        form = PushForm()
    context = page_context(
        model_admin,
        request,
        "Push to provider",
        form=form,
        count=queryset.count(),
        # With "select all", the list's filters (this page's query string) are the selection;
        # the page's ticks (a page of them at most) go back too, as the action protocol wants.
        selected=selected,
        select_across=select_across,
        dry_runs=dry_runs,
        action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
        media=model_admin.media + form.media,
    )
    return TemplateResponse(request, "admin/integrations/push_to_provider.html", context)


def push_batch_contacts(model_admin, request, batch: PushBatch) -> QuerySet[Contact]:
    """The contacts of a batch, as a query: the ticked ones, or the contact list's filters
    read again from the batch's query string, as the list applied them.

    The sync-state filter is left out: the push itself moves contacts out of it ("failed"
    becomes "pending"), and the progress keeps to the links the push marked anyway.
    """
    if not batch.select_across:
        return Contact.objects.filter(pk__in=batch.contact_ids)
    params = QueryDict(batch.query, mutable=True)
    params.pop(SYNC_STATE_PARAMETER, None)
    list_request = copy.copy(request)
    list_request.GET = params
    base = model_admin.get_changelist(list_request)

    class SelectionChangeList(base):
        def get_results(self, request):
            """Only the query is wanted, not a page of rows or their count."""

    list_display = model_admin.get_list_display(list_request)
    try:
        changelist = SelectionChangeList(
            list_request,
            model_admin.model,
            list_display,
            model_admin.get_list_display_links(list_request, list_display),
            model_admin.get_list_filter(list_request),
            model_admin.date_hierarchy,
            model_admin.get_search_fields(list_request),
            model_admin.get_list_select_related(list_request),
            model_admin.list_per_page,
            model_admin.list_max_show_all,
            model_admin.list_editable,
            model_admin,
            model_admin.get_sortable_by(list_request),
            model_admin.search_help_text,
        )
    except IncorrectLookupParameters as exc:
        raise Http404("This push's filters no longer apply to the contact list.") from exc
    return changelist.queryset


def push_progress(model_admin, request, token):
    batch = PushBatch.objects.filter(token=token, created_by=request.user).first()
    if batch is None:
        raise Http404("This push is no longer tracked; the contact list shows sync badges.")
    connections = list(batch.connections.order_by("name"))
    progress = push_batch_progress(
        contacts=push_batch_contacts(model_admin, request, batch),
        connection_ids=[c.pk for c in connections],
        since=batch.created_at,
    )
    if request.GET.get("format") == "json":
        return JsonResponse(progress)
    context = page_context(
        model_admin,
        request,
        "Push progress",
        progress=progress,
        names=", ".join(c.name for c in connections),
        contact_count=batch.contact_count,
    )
    return TemplateResponse(request, "admin/integrations/push_progress.html", context)
