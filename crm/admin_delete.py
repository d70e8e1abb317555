"""The contact list's "Delete selected contacts" at any selection size.

Django's own action lists every contact and every related row on its confirmation page (all of
them read into memory), carries every id back in the form, and deletes with one IN list of
them. This one summarises what will be deleted (a count per model), carries the selection back
as the list carries it ("select all": the list's filters, in this page's query string; or the
ticked contacts of one page), and deletes through crm.deletion.contacts_delete, by chunks:
in the request for a selection of at most crm.bulk_delete.SYNC_LIMIT contacts, else in the
worker (crm.bulk_delete), staff being sent to its progress page.
"""

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import model_ngettext
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from .bulk_delete import SYNC_LIMIT, contact_deletion_create
from .deletion import contacts_delete
from .models import Contact
from .selectors import contacts_delete_summary

TEMPLATE = "admin/crm/contact/delete_selected_confirmation.html"


def contacts_delete_selected(model_admin, request, queryset: QuerySet[Contact]):
    summary = contacts_delete_summary(contacts=queryset)
    site = model_admin.admin_site
    # As Django's action: rows of a model staff may not delete (through its admin) stop it.
    perms_lacking = sorted(
        str(line.model._meta.verbose_name_plural)
        for line in summary
        if line.model is not None
        and site.is_registered(line.model)
        and not site.get_model_admin(line.model).has_delete_permission(request)
    )
    if request.POST.get("post"):
        if perms_lacking:
            raise PermissionDenied
        upto = request.POST.get("upto", "")
        if upto.isdigit():  # contacts added since the count was shown are not deleted
            queryset = queryset.filter(pk__lte=int(upto))
        total = queryset.count()
        if total > SYNC_LIMIT:
            deletion = contact_deletion_create(
                user=request.user,
                query=request.GET.urlencode(),
                select_across=request.POST.get("select_across") == "1",
                selected=[
                    int(pk)
                    for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
                    if pk.isdigit()
                ],
                upto=int(upto) if upto.isdigit() else None,
                total=total,
            )
            return HttpResponseRedirect(
                reverse("admin:crm_contact_deletion_progress", args=[deletion.pk])
            )
        deleted = contacts_delete(
            contacts=queryset,
            before_chunk=lambda chunk: model_admin.log_deletions(request, chunk),
        )
        if deleted:
            model_admin.message_user(
                request,
                _("Successfully deleted %(count)d %(items)s.")
                % {"count": deleted, "items": model_ngettext(model_admin.opts, deleted)},
                messages.SUCCESS,
            )
        return None  # back to the contact list

    select_across = request.POST.get("select_across", "0")
    objects_name = model_ngettext(model_admin.opts, summary[0].count if summary else 0)
    context = {
        **site.each_context(request),
        "title": _("Cannot delete %(name)s") % {"name": objects_name}
        if perms_lacking
        else _("Delete multiple objects"),
        "subtitle": None,
        "objects_name": str(objects_name),
        "model_count": [(line.label, line.count) for line in summary],
        "perms_lacking": perms_lacking,
        "opts": model_admin.opts,
        "select_across": select_across,
        # The highest contact id now: contacts added after this page are not deleted.
        "upto": Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        # The ticked contacts of the page (at most a page of them): the selection itself, or,
        # with "select all", what the list's action protocol needs to see besides the filters.
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": model_admin.media,
    }
    request.current_app = site.name
    return TemplateResponse(request, TEMPLATE, context)
