"""The contact admin's sync pieces.

crm's ContactAdmin, re-registered as a subclass that adds the remote-links inline, the sync
badges column, a filter by sync state, the "Push to provider…" action and the payload preview,
so crm never imports integrations.
"""

from django.contrib import admin
from django.db.models import Exists, OuterRef, Prefetch
from django.urls import path

from crm.admin import ContactAdmin
from crm.models import Contact

from ..audience import audience_contacts
from ..models import Connection, RemoteLink
from . import pages
from .display import LinkColumns, contact_sync_badges


class RemoteLinkInline(LinkColumns, admin.TabularInline):
    model = RemoteLink
    verbose_name = "provider link"
    fields = readonly_fields = (
        "connection",
        "state_badge",
        "remote_id",
        "error",
        "failed_tries",
        "last_pushed_at",
        "next_attempt",
    )
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("connection")

    def has_change_permission(self, request, obj=None):
        return False


class SyncStateFilter(admin.SimpleListFilter):
    title = "sync state"
    parameter_name = pages.SYNC_STATE_PARAMETER

    def lookups(self, request, model_admin):
        choices = []
        for connection in Connection.objects.only("pk", "name", "paused_at"):
            # The contact list is where staff look: a paused connection says so here too.
            name = f"{connection.name} (paused)" if connection.is_paused else connection.name
            for state, label in [*RemoteLink.State.choices, ("none", "Not linked")]:
                choices.append((f"{connection.pk}:{state}", f"{name}: {label}"))
        return choices

    def queryset(self, request, queryset):
        connection_id, _, state = (self.value() or "").partition(":")
        if not connection_id.isdigit():
            return queryset
        links = RemoteLink.objects.filter(contact=OuterRef("pk"), connection_id=connection_id)
        if state == "none":
            return queryset.filter(~Exists(links))
        return queryset.filter(Exists(links.filter(state=state)))


AUDIENCE_PARAMETER = "audience"


class AudienceFilter(admin.SimpleListFilter):
    """The contacts in a connection's audience: its own filter, read by the API's filter set."""

    title = "audience"
    parameter_name = AUDIENCE_PARAMETER

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Connection.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value() or ""
        connection = Connection.objects.filter(pk=value).first() if value.isdigit() else None
        if connection is None:
            return queryset
        return queryset.filter(pk__in=audience_contacts(connection).values("pk"))


admin.site.unregister(Contact)


@admin.register(Contact)
class SyncedContactAdmin(ContactAdmin):
    list_filter = (*ContactAdmin.list_filter, SyncStateFilter, AudienceFilter)
    actions = [*(ContactAdmin.actions or []), "push_to_provider"]
    change_form_template = "admin/integrations/contact_change_form.html"  # "Preview payload"

    list_display = (*ContactAdmin.list_display, "sync_badges")

    def get_urls(self):
        view = self.admin_site.admin_view(self.preview_payload_view)
        name = "crm_contact_preview_payload"
        progress = self.admin_site.admin_view(self.push_progress_view)
        return [
            path("<path:object_id>/preview-payload/", view, name=name),
            path("push-progress/<str:token>/", progress, name="crm_contact_push_progress"),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        # One query more for the whole page: each contact's links with their connection.
        links = RemoteLink.objects.select_related("connection").order_by("connection__name")
        return super().get_queryset(request).prefetch_related(Prefetch("remote_links", links))

    def response_action(self, request, queryset, **kwargs):
        # The list's prefetches are for the rows of its page. An action on "select all" (the
        # delete confirmation reads every contact) would otherwise prefetch for all of them,
        # with every id in one IN list.
        return super().response_action(request, queryset.prefetch_related(None), **kwargs)

    def preview_payload_view(self, request, object_id):
        return pages.contact_payload_preview(self, request, object_id)

    def push_progress_view(self, request, token):
        return pages.push_progress(self, request, token)

    @admin.display(description="Sync")
    def sync_badges(self, obj):
        return contact_sync_badges(obj.remote_links.all()) or self.get_empty_value_display()

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        # Shown on the change page only, and only when rendering it (GET): a read-only inline
        # still expects its management form in POST data, which would make every save of the
        # contact form, and every client posting it, depend on this app.
        if obj is not None and request.method == "GET":
            inlines.append(RemoteLinkInline(self.model, self.admin_site))
        return inlines

    # Pushing sends our data out: only for those who may change contacts.
    @admin.action(description="Push to provider…", permissions=["change"])
    def push_to_provider(self, request, queryset):
        return pages.contacts_push_form(self, request, queryset)
