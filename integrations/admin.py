"""Admin for connections, remote links and push attempts, and the contact admin's sync pieces.

The contact admin is crm's ContactAdmin, re-registered here as a subclass that adds the
remote-links inline, the "Push to provider…" action and a filter by sync state, so crm never
imports integrations.
"""

import secrets

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from crm.admin import ContactAdmin
from crm.models import Contact

from . import admin_views
from .models import Connection, PushAttempt, RemoteLink
from .selectors import push_batch_progress
from .services import (
    connection_check,
    connection_resume,
    links_enqueue_pending,
    links_mark_pending,
    links_retry,
)

BADGE_COLOURS = {
    "pending": "#b7791f",
    "synced": "#2f855a",
    "failed": "#c53030",
    "skipped": "#718096",
    "paused": "#c53030",
    "success": "#2f855a",
    "not_found": "#b7791f",
    "retry": "#b7791f",
    "auth": "#c53030",
    "started": "#718096",
}


def badge(value: str, label: str):
    return format_html(
        '<span style="background:{};color:#fff;border-radius:8px;padding:1px 8px;'
        'font-size:11px;white-space:nowrap">{}</span>',
        BADGE_COLOURS.get(value, "#718096"),
        label,
    )


def error_text(code: str, message: str) -> str:
    if not (code or message):
        return ""
    return f"{code}: {message}" if code else message


# --- connections ------------------------------------------------------------------------------


class ConnectionForm(forms.ModelForm):
    # Write-only: never rendered back into the page (render_value=False), so the stored key
    # can't be read from the HTML; empty on a change keeps the stored key.
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Connection
        fields = [
            "name",
            "provider",
            "base_url",
            "api_key",
            "enabled",
            "auto_push",
            "options",
            "concurrency",
            "rate_limit",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.api_key_encrypted:
            self.fields[
                "api_key"
            ].help_text = f"Stored: {self.instance.api_key_masked}. Leave empty to keep it."

    def clean_api_key(self):
        key = self.cleaned_data.get("api_key", "")
        if not key and not self.instance.api_key_encrypted:
            raise forms.ValidationError("Enter the provider's API key.", code="required")
        return key

    def clean_options(self):
        options = self.cleaned_data.get("options") or {}
        if not isinstance(options, dict):
            raise forms.ValidationError("Options must be a JSON object.", code="invalid")
        return options

    def save(self, commit=True):
        if self.cleaned_data.get("api_key"):
            self.instance.api_key = self.cleaned_data["api_key"]
        return super().save(commit)


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
    readonly_fields = ("masked_key", "status", "paused_reason", "created_at", "updated_at")
    actions = ["resume", "push_pending"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ("name", "provider", "base_url", "api_key", "enabled", "auto_push")}),
            ("Limits and options", {"fields": ("concurrency", "rate_limit", "options")}),
        ]
        if obj is not None:
            fieldsets[0][1]["fields"] = (*fieldsets[0][1]["fields"], "masked_key", "status")
            fieldsets.append(("Record", {"fields": ("created_at", "updated_at")}))
        if obj is not None and obj.is_paused:
            # First on the page: why nothing is pushed, and what fixes it.
            description = (
                "Pushes to this connection are paused because the provider refused the "
                "credentials. Enter a new API key and save, or use “Test connection”, then "
                "resume it from the connection list."
            )
            fieldsets.insert(
                0, ("Paused", {"fields": ("paused_reason",), "description": description})
            )
        return fieldsets

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
        # A GET is fine: the call only reads at the provider and changes nothing here.
        connection = self.get_object(request, object_id)
        if connection is None or not self.has_view_permission(request, connection):
            raise PermissionDenied
        ok, message = connection_check(connection=connection)
        self.message_user(
            request, f"Test connection: {message}", messages.SUCCESS if ok else messages.ERROR
        )
        url = reverse("admin:integrations_connection_change", args=[connection.pk])
        return HttpResponseRedirect(url)

    def close_fields_view(self, request, object_id):
        return admin_views.close_fields(self, request, object_id)

    @admin.display(description="API key")
    def masked_key(self, obj):
        return obj.api_key_masked

    @admin.display(description="Status")
    def status(self, obj):
        if obj.is_paused:
            return format_html(
                '{} <span title="{}">{}</span>',
                badge("paused", "Paused"),
                obj.paused_reason,
                obj.paused_reason[:80],
            )
        if not obj.enabled:
            return badge("skipped", "Disabled")
        return badge("synced", "Active")

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


# --- links and attempts -----------------------------------------------------------------------


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
class RemoteLinkAdmin(admin.ModelAdmin):
    list_display = (
        "contact",
        "connection",
        "state_badge",
        "remote_id",
        "attempts",
        "error",
        "last_pushed_at",
        "next_attempt_at",
    )
    list_filter = ("connection", "state")
    list_select_related = ("contact", "connection")
    search_fields = ("remote_id", "contact__email", "contact__first_name", "contact__last_name")
    fields = readonly_fields = (
        "contact",
        "connection",
        "state_badge",
        "remote_id",
        "attempts",
        "error",
        "last_pushed_at",
        "next_attempt_at",
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

    @admin.display(description="State", ordering="state")
    def state_badge(self, obj):
        return badge(obj.state, obj.get_state_display())

    @admin.display(description="Last error")
    def error(self, obj):
        return error_text(obj.last_error_code, obj.last_error_message)

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
        "link",
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- the contact admin's sync pieces ----------------------------------------------------------


class RemoteLinkInline(admin.TabularInline):
    model = RemoteLink
    verbose_name = "provider link"
    fields = readonly_fields = (
        "connection",
        "state_badge",
        "remote_id",
        "attempts",
        "error",
        "last_pushed_at",
        "next_attempt_at",
    )
    extra = 0
    max_num = 0
    can_delete = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("connection")

    def has_change_permission(self, request, obj=None):
        return False

    state_badge = RemoteLinkAdmin.state_badge
    error = RemoteLinkAdmin.error


class SyncStateFilter(admin.SimpleListFilter):
    title = "sync state"
    parameter_name = "sync"

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


class PushForm(forms.Form):
    connections = forms.ModelMultipleChoiceField(
        queryset=Connection.objects.filter(enabled=True),
        widget=forms.CheckboxSelectMultiple,
        help_text="Disabled connections are not listed.",
    )


admin.site.unregister(Contact)


@admin.register(Contact)
class SyncedContactAdmin(ContactAdmin):
    list_filter = (*ContactAdmin.list_filter, SyncStateFilter)
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

    def push_progress_view(self, request, token):
        batch = request.session.get("push_batches", {}).get(token)
        if batch is None:
            raise Http404("This push is no longer tracked; the contact list shows sync badges.")
        progress = push_batch_progress(
            contact_ids=batch["contacts"], connection_ids=batch["connections"]
        )
        if request.GET.get("format") == "json":
            return JsonResponse(progress)
        context = {
            **self.admin_site.each_context(request),
            "title": "Push progress",
            "opts": self.model._meta,
            "progress": progress,
            "names": ", ".join(batch["names"]),
            "contact_count": len(batch["contacts"]),
        }
        return TemplateResponse(request, "admin/integrations/push_progress.html", context)

    @admin.display(description="Sync")
    def sync_badges(self, obj):
        badges = []
        for link in obj.remote_links.all():
            error = error_text(link.last_error_code, link.last_error_message)
            title = f"{link.connection.name}: {link.get_state_display()}"
            badges.append(
                format_html(
                    '<span class="sync-badge" data-state="{}" title="{}">{}</span>',
                    link.state,
                    f"{title} — {error}" if error else title,
                    badge(link.state, f"{link.connection.name}: {link.get_state_display()}"),
                )
            )
        if not badges:
            return self.get_empty_value_display()
        return format_html_join(" ", "{}", ((b,) for b in badges))

    def preview_payload_view(self, request, object_id):
        return admin_views.contact_payload_preview(self, request, object_id)

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
        if "apply" in request.POST:
            form = PushForm(request.POST)
            if form.is_valid():
                connections = list(form.cleaned_data["connections"])
                contact_ids = list(queryset.order_by().values_list("pk", flat=True))
                count = links_mark_pending(contacts=contact_ids, connections=connections)
                names = ", ".join(c.name for c in connections)
                self.message_user(request, f"{count} pushes queued to {names}.", messages.SUCCESS)
                token = push_batch_remember(request, contact_ids, connections)
                return HttpResponseRedirect(
                    reverse("admin:crm_contact_push_progress", args=[token])
                )
        else:
            form = PushForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Push to provider",
            "opts": self.model._meta,
            "form": form,
            "count": queryset.count(),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/integrations/push_to_provider.html", context)


PUSH_BATCHES_KEPT = 5


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
