from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Count
from django.db.models.functions import Lower
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST
from django_countries.filters import CountryFilter
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV, XLSX
from import_export.forms import SelectableFieldsExportForm

from .admin_delete import contacts_delete_selected
from .admin_export import (
    contact_export_download,
    contact_export_progress_view,
    contact_export_queue,
)
from .admin_progress import progress_page
from .bulk_delete import contact_deletion_progress
from .deletion import contact_delete, contacts_delete
from .forms import (
    CUSTOM_FIELD_PREFIX,
    ContactAdminForm,
    CustomFieldAdminForm,
    PhoneNumberForm,
    PhoneNumberInlineFormSet,
    format_phone,
)
from .importing import contact_import_create, contact_import_progress
from .models import Contact, ContactDeletion, ContactImport, CustomField, PhoneNumber, Tag
from .resources import ContactResource
from .selectors import contact_admin_queryset, contact_search_filter
from .services import contact_written


class CountryInUseFilter(CountryFilter):
    """The countries contacts are in, read at most once a minute.

    Finding them is a DISTINCT over every contact, a full scan that would cost more than the
    rest of the page on a large table; a country first used a minute ago may be missing.
    """

    CACHE_SECONDS = 60

    def lookup_choices(self, changelist):
        key = f"crm:countries-in-use:{changelist.model._meta.label}:{self.field_path}"
        choices = cache.get(key)
        if choices is None:
            choices = list(super().lookup_choices(changelist))
            cache.set(key, choices, self.CACHE_SECONDS)
        return choices


class PhoneNumberInline(admin.TabularInline):
    model = PhoneNumber
    form = PhoneNumberForm
    formset = PhoneNumberInlineFormSet
    extra = 1
    verbose_name = "phone number"


class ContactExportForm(SelectableFieldsExportForm):
    """The export form without the library's empty "---" format: CSV is chosen already."""

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        field = self.fields["format"]
        field.choices = [(value, label) for value, label in field.choices if value != ""]
        field.initial = field.choices[0][0]
        # Each field's checkbox by its name, not its column's ("LinkedIn URL", not
        # "Linkedin Url"; a custom field's label, not "Cf Deal Size").
        for resource_class in resources:
            resource = resource_class()
            for column in resource.get_export_order():
                name = self.create_boolean_field_name(resource_class, column)
                if name in self.fields:
                    self.fields[name].label = resource.column_label(column)


class PrimaryKeyFirstPaginator(Paginator):
    """Finds a page's rows by primary key first, then reads them.

    OFFSET makes the database walk every row before the page. Walked in the ordering's index
    alone (an index-only scan), that is cheap; fetching each skipped row's columns too is not
    (docs/benchmarks.md). One query more on every page, the same on page 1 and page 1,000.
    """

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = self.object_list.filter(pk__in=ids) if ids else self.object_list.none()
        return Page(rows, number, self)


@admin.register(Contact)
class ContactAdmin(ImportExportModelAdmin):
    form = ContactAdminForm
    # Import and export (django-import-export): CSV and XLSX, through the write service.
    resource_classes = [ContactResource]
    formats = [CSV, XLSX]
    import_template_name = "admin/crm/contact/import.html"
    export_template_name = "admin/crm/contact/export.html"
    export_form_class = ContactExportForm
    inlines = [PhoneNumberInline]
    list_display = (
        "full_name",
        "email",
        "company",
        "primary_phone",
        "tag_names",
        "stage",
    )
    list_display_links = ("full_name",)
    actions = ["delete_selected"]  # ours, in place of Django's (below)
    list_filter = (
        "tags",
        "stage",
        "status",
        "source",
        ("country", CountryInUseFilter),
        "created_at",
        "updated_at",
    )
    # The search itself is contact_search_filter (phones in any format); this turns the box on.
    search_fields = ("first_name", "last_name", "email", "company")
    search_help_text = "Name, email, company or phone number in any format"
    autocomplete_fields = ("tags", "owner")
    readonly_fields = ("created_at", "updated_at")
    list_per_page = 100
    paginator = PrimaryKeyFirstPaginator
    show_full_result_count = False
    ordering = ("-updated_at", "-id")
    base_fieldsets = (
        (
            None,
            {"fields": (("first_name", "last_name"), ("email", "title"), "linkedin_url", "owner")},
        ),
        ("Company", {"fields": (("company", "website"),)}),
        ("Address", {"fields": ("address", ("city", "state"), ("zip_code", "country"))}),
        ("Pipeline", {"fields": (("stage", "status", "source"), "tags", "description")}),
    )

    def get_queryset(self, request):
        return contact_admin_queryset()

    def get_search_results(self, request, queryset, search_term):
        return queryset.filter(contact_search_filter(search_term)), False

    def get_fieldsets(self, request, obj=None):
        custom = ContactAdminForm.custom_field_names()
        fieldsets = list(self.base_fieldsets)
        if custom:
            fieldsets.append(("Custom fields", {"fields": custom}))
        if obj is not None:
            fieldsets.append(("Record", {"fields": ("created_at", "updated_at")}))
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Custom fields are added by the form itself; modelform_factory only knows model fields.
        fields = flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [
            name
            for name in fields
            if not name.startswith(CUSTOM_FIELD_PREFIX) and name not in self.readonly_fields
        ]
        return super().get_form(request, obj, change, **kwargs)

    def has_import_permission(self, request):
        # An import adds and changes contacts (django-import-export allows any staff user).
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    def get_export_queryset(self, request):
        """The list's contacts, filtered and ordered as the list shows them, read as the
        resource reads them: the list's own columns (a subquery each, per row) left out, phones
        and tags prefetched for each chunk the export reads, instead of a query per contact.
        The list's filters stay a subquery, so a selection of any size binds no id."""
        listed = super().get_export_queryset(request)
        return (
            ContactResource()
            .get_queryset()
            .filter(pk__in=listed.order_by().values("pk"))
            .order_by(*listed.query.order_by)
        )

    def get_import_data_kwargs(self, **kwargs):
        # All or nothing: a row that fails between the preview and the confirmation (the data
        # changed meanwhile) rolls back the whole file instead of importing the rest.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    # --- background import ----------------------------------------------------------------

    def get_urls(self):
        progress = self.admin_site.admin_view(self.import_progress_view)
        deletion = self.admin_site.admin_view(self.deletion_progress_view)
        export = self.admin_site.admin_view(self.export_progress_view)
        download = self.admin_site.admin_view(self.export_download_view)
        return [
            path("exports/<int:export_id>/", export, name="crm_contact_export_progress"),
            path("exports/<int:export_id>/file/", download, name="crm_contact_export_download"),
            path("import/<int:import_id>/", progress, name="crm_contact_import_progress"),
            path("deletion/<int:deletion_id>/", deletion, name="crm_contact_deletion_progress"),
            *super().get_urls(),
        ]

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        """The confirmation: the previewed file is queued, and staff watch its progress.

        The preview (import_action) stays the library's page, in the request: a dry run that
        only validates (ContactResource.import_plan). Writing the rows is left to the worker
        (crm.importing), which reports its progress.
        """
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return super().process_import(request, **kwargs)  # the library's error page
        input_format = self.get_import_formats()[int(confirm_form.cleaned_data["format"])](
            encoding=self.from_encoding
        )
        tmp_storage = self.get_tmp_storage_class()(
            name=confirm_form.cleaned_data["import_file_name"],
            encoding=None if input_format.is_binary() else self.from_encoding,
            read_mode=input_format.get_read_mode(),
            **self.get_tmp_storage_class_kwargs(),
        )
        data = tmp_storage.read()
        tmp_storage.remove()
        contact_import = contact_import_create(
            user=request.user,
            file_name=confirm_form.cleaned_data.get("original_file_name") or "",
            format=ContactImport.Format.XLSX
            if input_format.is_binary()
            else ContactImport.Format.CSV,
            content=data if isinstance(data, bytes) else data.encode("utf-8"),
        )
        return HttpResponseRedirect(
            reverse("admin:crm_contact_import_progress", args=[contact_import.pk])
        )

    def import_progress_view(self, request, import_id):
        if not self.has_import_permission(request):
            raise PermissionDenied
        contact_import = get_object_or_404(ContactImport.objects.defer("content"), pk=import_id)
        return progress_page(
            self,
            request,
            title="Import progress",
            template="admin/crm/contact/import_progress.html",
            progress=contact_import_progress(contact_import),
            contact_import=contact_import,
        )

    def export_action(self, request):
        """The library's export page; a large export goes to the worker (crm.admin_export)."""
        return contact_export_queue(self, request) or super().export_action(request)

    def export_progress_view(self, request, export_id):
        return contact_export_progress_view(self, request, export_id)

    def export_download_view(self, request, export_id):
        return contact_export_download(self, request, export_id)

    def deletion_progress_view(self, request, deletion_id):
        """A large "Delete selected contacts" running in the worker (crm.bulk_delete)."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        deletion = get_object_or_404(ContactDeletion, pk=deletion_id)
        return progress_page(
            self,
            request,
            title="Delete progress",
            template="admin/crm/contact/deletion_progress.html",
            progress=contact_deletion_progress(deletion),
            deletion=deletion,
        )

    @admin.action(
        permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s")
    )
    def delete_selected(self, request, queryset):
        """Django's action at any selection size: a summary, then a delete by chunks."""
        return contacts_delete_selected(self, request, queryset)

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        # A change is written in save_related, which also sees the inlines: only there can a
        # page sent back untouched be told from a change to a phone alone.
        if not change:
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        contact_delete(contact=obj)  # the delete rules of provider links apply

    def delete_queryset(self, request, queryset):
        contacts_delete(contacts=queryset)

    def save_related(self, request, form, formsets, change):
        changed = not change or form.has_changed() or any(fs.has_changed() for fs in formsets)
        if change and changed:
            super().save_model(request, form.instance, form, change)
        # Unchanged tags and inline rows are not written again: a page sent back untouched
        # writes nothing, moves no updated_at and pushes nothing, as for the API and imports.
        super().save_related(request, form, formsets, change)
        if changed:
            contact_written(contact=form.instance, created=not change)

    def action_checkbox(self, obj):
        # Django renders this checkbox through the form widget templates, a large share of a
        # 100-row page (docs/benchmarks.md). The same markup, written directly (a test compares
        # it with Django's).
        label = format_html(gettext("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )

    @admin.display(description="Name", ordering=Lower("last_name"))
    def full_name(self, obj):
        return obj.full_name

    @admin.display(description="Phone")
    def primary_phone(self, obj):
        number = obj.list_primary_phone
        return format_phone(number) if number else ""

    @admin.display(description="Tags")
    def tag_names(self, obj):
        if hasattr(obj, "list_tag_names"):
            return obj.list_tag_names or ""
        return ", ".join(tag.name for tag in obj.tags.all())


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "contact_count", "created_at")
    search_fields = ("name",)
    ordering = (Lower("name"),)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(contact_count=Count("contacts"))

    @admin.display(description="Contacts", ordering="contact_count")
    def contact_count(self, obj):
        return obj.contact_count


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    form = CustomFieldAdminForm
    list_display = ("label", "key", "type", "required", "position")
    list_editable = ("position",)
    list_filter = ("type", "required")
    search_fields = ("key", "label")
