"""The remote link and push attempt pages: read-only, with a Retry action on links."""

from django.contrib import admin, messages

from ..links import links_retry
from ..models import PushAttempt, RemoteLink
from .display import LinkColumns, badge


class PushAttemptInline(admin.TabularInline):
    model = PushAttempt
    fields = readonly_fields = (
        "started_at",
        "operation",
        "method",
        "path",
        "http_status",
        "duration_ms",
        "outcome_badge",
        "error_code",
        "error_message",
    )
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-started_at", "-id")

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Outcome")
    def outcome_badge(self, obj):
        return badge(obj.outcome, obj.get_outcome_display())


@admin.register(RemoteLink)
class RemoteLinkAdmin(LinkColumns, admin.ModelAdmin):
    list_display = (
        "contact",
        "connection",
        "state_badge",
        "remote_id",
        "failed_tries",
        "error",
        "last_pushed_at",
        "next_attempt",
    )
    list_filter = ("connection", "state")
    list_select_related = ("contact", "connection")
    search_fields = ("remote_id", "contact__email", "contact__first_name", "contact__last_name")
    fields = readonly_fields = (
        "contact",
        "connection",
        "state_badge",
        "warnings",
        "remote_id",
        "failed_tries",
        "error",
        "last_pushed_at",
        "next_attempt",
        "payload_hash",
        "created_at",
        "updated_at",
    )
    inlines = [PushAttemptInline]
    actions = ["retry"]
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Read-only pages; the Retry action needs only view permission on links.
        return False

    def has_retry_permission(self, request) -> bool:
        return self.has_view_permission(request) and request.user.has_perm("crm.change_contact")

    # Links are read-only pages, so Retry needs no change permission on them; it pushes
    # contacts, so it needs the one that allows that: changing contacts.
    @admin.action(description="Retry: push the selected links again", permissions=["retry"])
    def retry(self, request, queryset):
        count = links_retry(links=queryset)
        self.message_user(request, f"{count} pushes queued.", messages.SUCCESS)


@admin.register(PushAttempt)
class PushAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "contact_connection",
        "operation",
        "path",
        "http_status",
        "duration_ms",
        "outcome",
        "error_code",
    )
    list_filter = ("outcome", "operation", "link__connection")
    list_select_related = ("link__contact", "link__connection")
    search_fields = ("error_code", "link__remote_id")
    show_full_result_count = False
    date_hierarchy = "started_at"

    @admin.display(description="Contact → connection", ordering="link")
    def contact_connection(self, obj):
        """Names, not the link's database ids."""
        contact = obj.link.contact
        who = (contact.full_name or contact.email) if contact else "deleted contact"
        return f"{who} → {obj.link.connection.name}"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
