"""Contacts to and from CSV / XLSX files (django-import-export).

Export writes the columns of crm.import_columns; import reads the same columns, so a file
round-trips unchanged. The import runs through django-import-export's own row loop
(`import_data`), customised through its documented hooks only:

- `before_import` normalises the headers, refuses unknown or repeated columns, and reads the
  file's existing contacts by email once for the whole file (the plan, crm.import_plan);
- per row, `before_import_row` refuses an email an earlier line has, `get_instance` finds
  the row's contact in that read, `import_instance` applies the row by contact_upsert's rules
  (writing nothing), and `skip_row` leaves an unchanged contact alone;
- `save_instance` saves nothing: once the whole file is checked, `after_import` writes the
  planned rows in batches, in import_data's transaction, unless it is a dry run (the admin's
  preview) or a row is invalid. The background import (crm.import_run) plans with
  `plan_only` and commits each batch itself.
"""

from typing import Any

from django.utils.text import capfirst
from import_export import resources
from import_export.fields import Field

from .import_columns import (
    CUSTOM_FIELD_COLUMN_PREFIX,
    SCALAR_COLUMNS,
    cell_text,
    custom_value_format,
    escape_formula,
    header_normalise,
    headers_problem,
    line_number,
    phones_format,
    tags_format,
)
from .import_plan import ImportPlan, RowPlan, import_batch_write, import_batches
from .models import Contact, CustomField, PhoneNumber
from .selectors import contacts_find_by_email
from .validation import ContactWrite


class ContactResource(resources.ModelResource):
    phones = Field(column_name="phones", dehydrate_method="dehydrate_phones")
    tags = Field(column_name="tags", dehydrate_method="dehydrate_tags")

    class Meta:
        model = Contact
        fields = (*SCALAR_COLUMNS, "phones", "tags")
        # Contacts are matched by email in get_instance, from one read for the whole file;
        # the library's instance loader, a query per row, is not used. A file without an
        # email column only adds contacts.
        import_id_fields = ()
        # import_data runs in one transaction: all or nothing (the background import commits
        # batch by batch instead, after validating the whole file: crm.import_run).
        use_transactions = True
        # Rows are written in bulk by after_import, not one by one, so the library's
        # savepoint per row is not needed.
        use_bulk = True
        # The plan builds the diff of the preview's first rows itself.
        skip_diff = True
        # The batches write each row's instance, and the admin history names it.
        store_instance = True
        # Export reads the contacts (and their phones and tags) this many at a time.
        chunk_size = 500

    def __init__(self, *, plan_only: bool = False, **kwargs):
        """`plan_only`: check every row and prepare its write (`row_result.write`), but save
        none; the caller writes the batches (import_batches, import_batch_write)."""
        super().__init__(**kwargs)
        self.plan_only = plan_only
        self.plan: ImportPlan | None = None
        self.row_plan: RowPlan | None = None
        self.row_blank = False
        self.blank_rows = 0
        self.definitions = {field.key: field for field in CustomField.objects.all()}
        for key in self.definitions:
            column = CUSTOM_FIELD_COLUMN_PREFIX + key
            self.fields[column] = Field(
                column_name=column, dehydrate_method=self.custom_dehydrator(key)
            )

    def column_label(self, column: str) -> str:
        """A column as people read it: "LinkedIn URL", "Deal size", "Phone numbers"."""
        if column.startswith(CUSTOM_FIELD_COLUMN_PREFIX):
            definition = self.definitions.get(column.removeprefix(CUSTOM_FIELD_COLUMN_PREFIX))
            if definition is not None:
                return definition.label
        if column == "phones":
            return "Phone numbers"
        try:
            return str(capfirst(Contact._meta.get_field(column).verbose_name))
        except LookupError:
            return column

    @staticmethod
    def custom_dehydrator(key):
        return lambda contact: custom_value_format((contact.custom_fields or {}).get(key))

    def get_queryset(self):
        return Contact.objects.prefetch_related("tags", "phone_numbers")

    # --- export ---------------------------------------------------------------------------

    def dehydrate_phones(self, contact: Contact) -> str:
        phones = sorted(contact.phone_numbers.all(), key=lambda p: (not p.is_primary, p.pk))
        return phones_format(phones)

    def dehydrate_tags(self, contact: Contact) -> str:
        return tags_format(tag.name for tag in contact.tags.all())

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        if value is None:
            value = ""
        return escape_formula(str(value) if not isinstance(value, str) else value)

    def preview_values(self, contact: Contact | None, write: ContactWrite | None) -> list[Any]:
        """The row as export writes it: stored (no write), or as `write` will leave it."""
        values = []
        for field in self.get_import_fields():
            if field.column_name == "phones" and write is not None:
                if write.phones is None and write.created:
                    values.append("")
                    continue
                if write.phones is not None:
                    values.append(phones_format(PhoneNumber(**r) for r in write.phones))
                    continue
            if field.column_name == "tags" and write is not None:
                if write.tags is None and write.created:
                    values.append("")
                    continue
                if write.tags is not None:
                    values.append(tags_format(write.tags.values()))
                    continue
            # The export's value without its formula escape: the preview is a web page.
            value = super().export_field(field, contact) if contact is not None else ""
            values.append("" if value is None else value)
        return values

    # --- import: the library's row loop, through its hooks ------------------------------

    def before_import(self, dataset, **kwargs):
        dataset.headers = [header_normalise(h) for h in dataset.headers or []]
        problem = headers_problem(dataset.headers, known={*self.fields})
        if problem:
            # The file is refused as a whole: the row loop that follows has no row to read.
            del dataset[:]
            raise ValueError(problem)
        emails = dataset["email"] if "email" in dataset.headers else []
        self.plan = ImportPlan(
            definitions=self.definitions,
            existing=contacts_find_by_email(emails=(cell_text(email) for email in emails)),
            owner=kwargs.get("user"),
            preview_values=self.preview_values,
        )

    def before_import_row(self, row, **kwargs):
        self.row_plan = None
        # A blank row (every cell empty, as spreadsheets leave between rows) is left out: it
        # is neither a contact nor an error, and counts in no total (after_import_row).
        self.row_blank = not any(cell_text(value) for value in row.values())
        if not self.row_blank:
            self.plan.email_check(row, line=line_number(kwargs["row_number"]))

    def get_instance(self, instance_loader, row):
        return self.plan.contact_find(row)

    def import_instance(self, instance, row, **kwargs):
        # Applied by contact_upsert's rules, raising ValidationError by column; for an
        # unchanged contact nothing is applied (skip_row).
        if self.row_blank:
            self.row_plan = RowPlan(None, None)
            return
        self.row_plan = self.plan.row_plan(row, instance, new=instance.pk is None)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        return not import_validation_errors and self.row_plan.write is None

    def save_instance(self, instance, is_create, row, **kwargs):
        """Nothing is saved row by row: after_import writes the planned rows in batches."""

    def after_import_row(self, row, row_result, **kwargs):
        row_result.line = line_number(kwargs["row_number"])
        if self.row_blank:
            self.blank_rows += 1
            row_result.import_type = None  # neither new, updated, unchanged nor invalid
        row_result.write = self.row_plan.write
        if self.row_plan.diff is not None:
            row_result.diff = self.row_plan.diff

    def after_import(self, dataset, result, **kwargs):
        # Not ModelResource's: it resets the id sequence after rows inserted with their ids,
        # and the database gives these rows theirs.
        result.duplicates = list(self.plan.duplicate_lines) if self.plan else []
        result.total_rows -= self.blank_rows
        # The preview's column headings, as people read them.
        result.diff_labels = [self.column_label(column) for column in result.diff_headers]
        if (
            self.plan_only
            or kwargs.get("dry_run")
            or result.has_errors()
            or result.has_validation_errors()
        ):
            return
        for batch in import_batches(result.rows):
            import_batch_write(batch)
