"""The connection pages: settings with a write-only key, status, link counts, test, resume."""

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import Count, Q
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from ..audience import audience_contacts
from ..connections import connection_resume
from ..inventory import INVENTORY_KINDS
from ..links import links_enqueue_pending
from ..models import Connection
from ..pace import connection_concurrency, connection_pace
from ..providers import adapter_class, provider_choices
from . import pages
from .contacts import AUDIENCE_PARAMETER
from .display import connection_status
from .forms import OPTION_PREFIX, ConnectionForm

PROVIDERS = {key for key, _ in provider_choices()}
OPTIONS_HELP = "Save the connection to get one field for each option of its provider."
REFERENCES_SHOWN = 20
PAUSED_HELP = (
    "Pushes to this connection are paused because the provider refused the "
    "credentials. Enter a new API key and save, or use “Test connection”, then "
    "resume it from the connection list."
)


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    change_form_template = "admin/integrations/connection_change_form.html"  # "Fetch fields"
    list_display = (
        "name",
        "provider",
        "base_url",
        "masked_key",
        "enabled",
        "auto_push",
        "status",
        "link_counts",
    )
    list_filter = ("provider", "enabled", "auto_push")
    search_fields = ("name",)
    readonly_fields = (
        "masked_key",
        "status",
        "pace",
        "paused_reason",
        "remembered",
        "fields_fetched",
        "delete_reach",
        "audience_count",
        "created_at",
        "updated_at",
    )
    actions = ["resume", "push_pending"]

    def get_fieldsets(self, request, obj=None):
        provider = request.POST.get("provider") or (obj.provider if obj is not None else "")
        options = ConnectionForm.option_field_names(provider)
        fieldsets = [
            (None, {"fields": ("name", "provider", "base_url", "api_key", "enabled", "auto_push")}),
            ("Pace", {"fields": ("concurrency", "rate_limit", "pace")}),
            (
                "Provider options",
                {
                    "fields": (*options, "options"),
                    "description": "" if options else OPTIONS_HELP,
                },
            ),
            (
                "Sync rules",
                {
                    "fields": (
                        "audience",
                        "audience_count",
                        "on_leave",
                        "mode",
                        "on_delete",
                        "delete_reach",
                    )
                },
            ),
        ]
        rules = adapter_class(provider).mapping_rules if provider in PROVIDERS else None
        if obj is not None and rules is not None:
            extra = ("fields_fetched",) if rules.values == "close" else ()
            fieldsets.insert(3, ("Field mapping", {"fields": ("field_map", *extra)}))
        if obj is not None:
            fieldsets[0][1]["fields"] = (*fieldsets[0][1]["fields"], "status")
            fieldsets.append(("Record", {"fields": ("remembered", "created_at", "updated_at")}))
        if obj is not None and obj.is_paused:
            # First on the page: why nothing is pushed, and what fixes it.
            fieldsets.insert(
                0, ("Paused", {"fields": ("paused_reason",), "description": PAUSED_HELP})
            )
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The option fields are the form's own; modelform_factory knows only model fields.
        kwargs["fields"] = [
            name
            for name in flatten_fieldsets(self.get_fieldsets(request, obj))
            if not name.startswith(OPTION_PREFIX) and name not in self.readonly_fields
        ]
        return super().get_form(request, obj, change, **kwargs)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=Count("links", filter=Q(links__state="pending")),
                failed_count=Count("links", filter=Q(links__state="failed")),
                synced_count=Count("links", filter=Q(links__state="synced")),
            )
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # New credentials for a paused connection are the fix staff were asked for.
        if change and obj.is_paused and form.cleaned_data.get("api_key"):
            queued = connection_resume(connection=obj)
            self.message_user(request, f"Connection resumed; {queued} pending pushes queued.")
        elif change and "enabled" in form.changed_data and obj.is_active:
            if obj.paused_reason:  # why it was disabled (a webhook's 410) no longer holds
                Connection.objects.filter(pk=obj.pk).update(paused_reason="")
            # Pushes that waited while it was disabled.
            queued = links_enqueue_pending(connection=obj)
            self.message_user(request, f"{queued} pending pushes queued.")

    def get_urls(self):
        view = self.admin_site.admin_view(self.close_fields_view)
        name = "integrations_connection_close_fields"
        test = self.admin_site.admin_view(self.test_connection_view)
        return [
            path("<path:object_id>/close-fields/", view, name=name),
            path("<path:object_id>/test/", test, name="integrations_connection_test"),
            *super().get_urls(),
        ]

    def test_connection_view(self, request, object_id):
        return pages.connection_test(self, request, object_id)

    def close_fields_view(self, request, object_id):
        return pages.connection_close_fields(self, request, object_id)

    @admin.display(description="API key")
    def masked_key(self, obj):
        return obj.api_key_masked

    @admin.display(description="Status")
    def status(self, obj):
        return connection_status(obj)

    @admin.display(description="Pace in force")
    def pace(self, obj):
        if obj is None or obj.pk is None:
            return "The provider's documented limit, until its answers say more."
        pace = connection_pace(obj).describe(adapter_class(obj.provider).label)
        slots = connection_concurrency(obj)
        chosen = "set" if obj.concurrency is not None else "as the pace needs"
        return f"{pace} {slots} pushes at once ({chosen})."

    @admin.display(description="Contacts in the audience")
    def audience_count(self, obj):
        """A live count of the contacts the audience matches, linked to them in the list."""
        if obj is None or obj.pk is None:
            return "Counted once the connection is saved."
        count = audience_contacts(obj).count()
        url = reverse("admin:crm_contact_changelist")
        return format_html(
            '<a href="{}?{}={}">{} contact{}</a>{}',
            url,
            AUDIENCE_PARAMETER,
            obj.pk,
            count,
            "" if count == 1 else "s",
            "" if obj.audience else " (no audience: every contact)",
        )

    @admin.display(description="Close fields")
    def fields_fetched(self, obj):
        """Whether the mapping's targets and each push's checks know Close's fields."""
        if obj is None or obj.provider_fields is None:
            return (
                "Never fetched: use “Fetch fields” for a choice of targets; until then values "
                "are sent unchecked against Close's types and choices."
            )
        when = obj.provider_fields_fetched_at
        return (
            f"{len(obj.provider_fields)} fields, fetched {when:%Y-%m-%d %H:%M} UTC: values "
            "outside a field's type or choices are left out of a push and shown as its link's "
            "warning. Fetch again after changing them at Close."
        )

    @admin.display(description="What “delete” reaches")
    def delete_reach(self, obj):
        return delete_reach(obj.provider if obj is not None else "")

    @admin.display(description="Remote references")
    def remembered(self, obj):
        """What the engine remembers at the provider (Close's lead per company): kept apart
        from the options, dropped and made again when the provider no longer has it. The
        inventory of the provider's records (integrations.inventory) is summed up, not
        listed."""
        references = obj.remote_references.exclude(kind__in=INVENTORY_KINDS)
        rows = list(references[: REFERENCES_SHOWN + 1])
        inventory = ""
        if obj.inventory_read_at is not None:
            keys = obj.remote_references.filter(kind__in=INVENTORY_KINDS).count()
            inventory = (
                f"Inventory: {keys} keys of records, read from {obj.inventory_pages} pages at "
                f"{obj.inventory_read_at:%Y-%m-%d %H:%M:%S} UTC."
            )
        if not rows:
            return inventory or "None."
        more = len(rows) > REFERENCES_SHOWN
        listed = format_html_join(
            "",
            "<li>{} {}: {}</li>",
            ((r.kind, r.key, r.remote_id) for r in rows[:REFERENCES_SHOWN]),
        )
        total = references.count() if more else len(rows)
        return format_html(
            "<ul>{}</ul>{} {}", listed, f"{total} in all." if more else "", inventory
        )

    @admin.display(description="Links")
    def link_counts(self, obj):
        url = reverse("admin:integrations_remotelink_changelist")
        return format_html(
            '<a href="{}?connection__id__exact={}">{} synced · {} pending · {} failed</a>',
            url,
            obj.pk,
            getattr(obj, "synced_count", 0),
            getattr(obj, "pending_count", 0),
            getattr(obj, "failed_count", 0),
        )

    @admin.action(description="Resume and push pending contacts", permissions=["change"])
    def resume(self, request, queryset):
        queued = sum(connection_resume(connection=c) for c in queryset)
        self.message_user(request, f"{queued} pending pushes queued.", messages.SUCCESS)

    @admin.action(description="Queue pending pushes again", permissions=["change"])
    def push_pending(self, request, queryset):
        queued = sum(links_enqueue_pending(connection=c) for c in queryset)
        self.message_user(request, f"{queued} pending pushes queued.", messages.SUCCESS)


# Beyond the endpoint: what a delete needs at each provider.
DELETE_NEEDS = {"getraze": " The API key needs GetRaze's contacts:delete permission."}


def delete_reach(provider: str) -> str:
    """What deleting a contact does at `provider` when the connection's rule is "delete"."""
    if not provider:
        return "Depends on the provider: saved connections say exactly."
    adapter = adapter_class(provider)
    if adapter.notifies_deletes:
        return (
            "A contact.deleted delivery for every deleted contact the receiver was told of, "
            "whatever this rule says: a notification, not a removal."
        )
    if adapter.delete_path is None:
        return (
            f"{adapter.label} documents no delete endpoint: its records stay there, and the "
            "links of deleted contacts say so (skipped: delete not supported)."
        )
    endpoint = adapter.delete_path.format("{id}")
    return (
        f"DELETE {endpoint} for the contact's record, through the worker like a push; a 404 "
        f"means it is already gone.{DELETE_NEEDS.get(provider, '')}"
    )
