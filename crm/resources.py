"""Contacts to and from CSV / XLSX files (django-import-export), written by the write service.

One row per contact. The columns are the contact's fields by their API names, plus:

- `phones`: "+1 415-555-0100 (mobile); +1 415-555-0101 (work, do not call)". The first number
  is the primary one; the type is optional (mobile by default); national numbers are read in
  the default region. Numbers are separated by ";" because "," is common inside numbers.
- `tags`: "vip, partner"; created on first use, matched case-insensitively.
- `cf_<key>`: one column per custom field, in its typed text form (2025-01-31, true, 1200).

Rows follow `contact_upsert`'s rules (the admin's and the API's): the whole file is validated
first with the service's own checks (`contact_prepare`), then written in bulk, a batch at a
time (`contacts_bulk_write`), with existing contacts matched by email for the whole file at
once. A row whose email (case-insensitively) belongs to a contact updates that contact; an
email listed twice in one file is refused. Only the columns in the file are written: a
missing `phones` column leaves phones alone, an empty `phones` cell removes them. Empty source,
status and stage cells keep the current value (or the default).

Export writes the same columns, so a file round-trips unchanged. Cells starting with
= + - @ are prefixed with an apostrophe (OWASP's CSV injection advice) so a spreadsheet shows
them as text; import removes that apostrophe again.
"""

import dataclasses
import datetime
import re
from typing import Any

from diff_match_patch import diff_match_patch
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.encoding import force_str
from django.utils.safestring import mark_safe
from import_export import resources
from import_export.fields import Field
from import_export.results import Result, RowResult

from .models import Contact, CustomField, PhoneNumber, normalize_email
from .services import (
    CONTACT_FIELDS,
    ContactWrite,
    contact_prepare,
    contacts_bulk_write,
    contacts_find_by_email,
    custom_fields_clean,
    phones_clean,
)

CUSTOM_FIELD_COLUMN_PREFIX = "cf_"
SCALAR_COLUMNS = tuple(name for name in CONTACT_FIELDS if name != "owner")
CHOICE_COLUMNS = {
    "source": Contact.Source,
    "status": Contact.Status,
    "stage": Contact.Stage,
}
# Headers people type for the same column; headers are also lowercased and their spaces and
# hyphens turned into underscores ("First name" is first_name).
HEADER_ALIASES = {
    "phone": "phones",
    "phone_number": "phones",
    "phone_numbers": "phones",
    "tag": "tags",
    "job_title": "title",
    "linkedin": "linkedin_url",
    "zip": "zip_code",
    "postal_code": "zip_code",
    "e_mail": "email",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PHONE_SEPARATOR = ";"
TAG_SEPARATOR = ","
DO_NOT_CALL = "do not call"
# "(work)" or "(work, do not call)" at the end of a phone entry; letters only, so the area
# code in "(415) 555-0100" is never taken for a type.
# The preview shows the first PREVIEW_ROWS rows (templates/admin/crm/contact/import.html);
# only those get a diff, the costly part of a preview.
PREVIEW_ROWS = 200
# Rows written per contacts_bulk_write; the background import commits each batch.
IMPORT_BATCH_ROWS = 500
_PHONE_SUFFIX = re.compile(r"\(\s*([a-z][a-z ,]*)\)\s*$", re.IGNORECASE)


def line_number(row_number: int) -> int:
    """The file line of import-export's 1-based data row: line 1 is the header."""
    return row_number + 1


def escape_formula(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cell_text(value: Any) -> str:
    """A cell as text, whatever the file format typed it as, without the formula escape."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        # XLSX stores dates as datetimes; a date column arrives at midnight.
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # XLSX reads 94105 as 94105.0
    text = str(value).strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    return text


def phones_format(phones) -> str:
    parts = []
    for phone in phones:
        flags = [phone.type]
        if phone.do_not_call:
            flags.append(DO_NOT_CALL)
        parts.append(f"{phone.number.as_international} ({', '.join(flags)})")
    return f"{PHONE_SEPARATOR} ".join(parts)


def phones_parse(text: str) -> list[dict]:
    """Rows for `phones_clean` from a phones cell; raises ValidationError on an unknown flag."""
    rows = []
    for entry in (part.strip() for part in text.split(PHONE_SEPARATOR)):
        if not entry:
            continue
        row = {"number": entry, "is_primary": not rows}
        match = _PHONE_SUFFIX.search(entry)
        if match:
            row["number"] = entry[: match.start()].strip()
            for flag in (f.strip().lower() for f in match.group(1).split(",")):
                if flag == DO_NOT_CALL:
                    row["do_not_call"] = True
                elif flag in PhoneNumber.Type.values:
                    row["type"] = flag
                elif flag:
                    types = ", ".join(PhoneNumber.Type.values)
                    raise ValidationError(
                        f"“{flag}” is not a phone type; use one of {types}, or “{DO_NOT_CALL}”.",
                        code="invalid_choice",
                    )
        rows.append(row)
    return rows


def tags_parse(text: str) -> list[str]:
    return [name.strip() for name in text.split(TAG_SEPARATOR) if name.strip()]


def custom_value_format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def header_normalise(header: Any) -> str:
    name = re.sub(r"[\s\-]+", "_", str(header or "").strip().lower())
    return HEADER_ALIASES.get(name, name)


@dataclasses.dataclass
class RowWrite:
    """What one row asks contact_upsert to write; None means "not in the file"."""

    data: dict
    phones: list[dict] | None
    tags: list[str] | None
    custom_fields: dict | None


def row_write(row: dict, contact: Contact | None, definitions: dict) -> RowWrite:
    """What a file row asks contact_upsert to write to `contact` (None: a new contact).

    Raises ValidationError, by column, for what the cells themselves get wrong (an unknown
    stage, a phone flag); the service's rules are checked afterwards, by contact_prepare.
    """
    errors: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for name in SCALAR_COLUMNS:
        if name not in row:
            continue
        value = cell_text(row[name])
        if name in CHOICE_COLUMNS:
            if not value:
                continue  # keep the current value, or the model's default
            choices = CHOICE_COLUMNS[name]
            by_text = {text.lower(): code for code, text in choices.choices}
            by_text.update({code: code for code in choices.values})
            if value.lower() not in by_text:
                allowed = ", ".join(choices.values)
                errors[name] = [f"“{value}” is not one of: {allowed}."]
                continue
            value = by_text[value.lower()]
        elif name == "country":
            value = value.upper()
        data[name] = value
    phones = None
    if "phones" in row:
        try:
            phones = phones_parse(cell_text(row["phones"]))
        except ValidationError as exc:
            errors["phones"] = exc.messages
    tags = tags_parse(cell_text(row["tags"])) if "tags" in row else None
    custom = None
    in_file = [key for key in definitions if CUSTOM_FIELD_COLUMN_PREFIX + key in row]
    if in_file:
        # Columns not in the file keep their values; the service validates the whole set.
        stored = contact.custom_fields if contact is not None else {}
        custom = {key: v for key, v in (stored or {}).items() if key in definitions}
        for key in in_file:
            custom[key] = cell_text(row[CUSTOM_FIELD_COLUMN_PREFIX + key])
    if errors:
        raise ValidationError(errors)
    return RowWrite(data, phones, tags, custom)


def diff_html(before: list | None, after: list | None, *, new: bool) -> list[str]:
    """The preview's cells, as import-export's Diff shows them (a new row: its values)."""
    after = before if after is None else after
    before = [""] * len(after) if before is None or new else before
    dmp = diff_match_patch()
    cells = []
    for left, right in zip(before, after, strict=True):
        diff = dmp.diff_main(force_str(left), force_str(right))
        dmp.diff_cleanupSemantic(diff)
        cells.append(mark_safe(dmp.diff_prettyHtml(diff)))  # noqa: S308 (escaped by dmp)
    return cells


class ContactResource(resources.ModelResource):
    phones = Field(column_name="phones", dehydrate_method="dehydrate_phones")
    tags = Field(column_name="tags", dehydrate_method="dehydrate_tags")

    class Meta:
        model = Contact
        fields = (*SCALAR_COLUMNS, "phones", "tags")
        import_id_fields = ("email",)
        # import_data runs in one transaction: all or nothing (the background import commits
        # batch by batch instead, after validating the whole file: crm.importing).
        use_transactions = True
        # Rows are planned and written by import_data_inner below, not by the library's
        # per-row hooks. A row equal to the contact is reported as skipped and not written,
        # so re-importing an export neither touches the contacts nor queues pushes.
        chunk_size = 500

    def __init__(self, progress=None, **kwargs):
        super().__init__(**kwargs)
        # Called with each row's RowResult as the import goes (crm.importing counts them).
        self.progress = progress
        self.definitions = {field.key: field for field in CustomField.objects.all()}
        for key in self.definitions:
            column = CUSTOM_FIELD_COLUMN_PREFIX + key
            self.fields[column] = Field(
                column_name=column, dehydrate_method=self._custom_dehydrator(key)
            )

    @staticmethod
    def _custom_dehydrator(key):
        return lambda contact: custom_value_format((contact.custom_fields or {}).get(key))

    def get_queryset(self):
        return Contact.objects.prefetch_related("tags", "phone_numbers")

    # --- export ---------------------------------------------------------------------------

    def dehydrate_phones(self, contact: Contact) -> str:
        phones = sorted(contact.phone_numbers.all(), key=lambda p: (not p.is_primary, p.pk))
        return phones_format(phones)

    def dehydrate_tags(self, contact: Contact) -> str:
        return f"{TAG_SEPARATOR} ".join(sorted((t.name for t in contact.tags.all()), key=str.lower))

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        if value is None:
            value = ""
        return escape_formula(str(value) if not isinstance(value, str) else value)

    # --- import ---------------------------------------------------------------------------

    def before_import(self, dataset, **kwargs):
        dataset.headers = [header_normalise(h) for h in dataset.headers or []]
        known = {*self.fields}
        unknown = [h for h in dataset.headers if h and h not in known]
        duplicated = sorted({h for h in dataset.headers if h and dataset.headers.count(h) > 1})
        if unknown or duplicated:
            problems = []
            if unknown:
                problems.append("unknown column(s): " + ", ".join(unknown))
            if duplicated:
                problems.append("column(s) listed twice: " + ", ".join(duplicated))
            raise ValueError(
                "The file has " + "; ".join(problems) + ". The columns are: " + ", ".join(known)
            )

    def import_data_inner(
        self, dataset, dry_run, raise_errors, using_transactions, collect_failed_rows, **kwargs
    ):
        """The whole file in bulk, instead of the library's row-by-row loop.

        import_plan validates every row (no writes), then, unless it is a dry run or a row is
        invalid, import_write writes the rows in batches in the caller's transaction
        (import_data's, from Meta.use_transactions). The background import calls the two
        halves itself, to commit each batch on its own (crm.importing).
        """
        result = self.import_plan(dataset, user=kwargs.get("user"), raise_errors=raise_errors)
        if dry_run or result.has_errors() or result.has_validation_errors():
            self.import_report(result.rows)
        else:
            for batch in self.import_batches(result):
                self.import_write(batch)
                self.import_report(batch)
        return result

    # --- the bulk import: plan, then write -----------------------------------------------

    def import_plan(self, dataset, *, user=None, raise_errors: bool = False) -> Result:
        """What each row of the file would do, validated by contact_upsert's rules; writes nothing.

        Existing contacts are matched by email for the whole file at once (with their phones
        and tags), so the plan costs a few queries per 500 rows, not several per row. Each
        RowResult gets an import_type (new, update, skip, invalid), its file `line`, and, for
        new and updated rows, the prepared write (`row_result.write`).
        """
        result = self.get_result_class()()
        result.diff_headers = self.get_diff_headers()
        result.total_rows = len(dataset)
        result.duplicates = []
        try:
            self.before_import(dataset)
        except Exception as exc:
            self.handle_import_error(result, exc, raise_errors)
            return result
        headers = dataset.headers
        rows = [dict(zip(headers, values, strict=False)) for values in dataset]
        existing = contacts_find_by_email(emails=(cell_text(row.get("email")) for row in rows))
        first_lines: dict[str, int] = {}
        diffs_left = PREVIEW_ROWS
        for number, row in enumerate(rows, 1):
            row_result = RowResult()
            row_result.line = line_number(number)
            try:
                self._plan_row(row_result, row, existing, first_lines, user, diff=diffs_left > 0)
            except ValidationError as exc:
                row_result.import_type = RowResult.IMPORT_TYPE_INVALID
                row_result.validation_error = exc
                result.append_invalid_row(number, row, exc)
            except Exception as exc:  # a bug, not the file: reported on its line, as before
                if raise_errors:
                    raise
                row_result.import_type = RowResult.IMPORT_TYPE_ERROR
                row_result.errors.append(self.get_error_result_class()(exc, row, number))
                result.append_error_row(number, row, row_result.errors)
            if row_result.diff is not None:
                diffs_left -= 1
            result.increment_row_result_total(row_result)
            result.append_row_result(row_result)
        result.duplicates = [
            row.line for row in result.rows if getattr(row, "duplicate_email", False)
        ]
        return result

    def _plan_row(self, row_result, row, existing, first_lines, user, *, diff: bool) -> None:
        email = normalize_email(cell_text(row.get("email")))
        if email:
            first = first_lines.setdefault(email, row_result.line)
            if first != row_result.line:
                row_result.duplicate_email = True
                raise ValidationError(
                    {"email": f"{email} is also on line {first}; list each contact once per file."}
                )
        contact = existing.get(email) if email else None
        write = row_write(row, contact, self.definitions)
        if contact is not None and not self._changes(contact, write):
            row_result.import_type = RowResult.IMPORT_TYPE_SKIP
            row_result.instance = contact
            if diff:
                row_result.diff = diff_html(self._preview_values(contact), None, new=False)
            return
        before = self._preview_values(contact) if diff and contact is not None else None
        try:
            prepared = contact_prepare(
                contact=contact,
                data=write.data,
                phone_numbers=write.phones,
                tags=write.tags,
                custom_fields=write.custom_fields,
                definitions=self.definitions,
            )
        except ValidationError as exc:
            raise ValidationError(errors_by_column(exc)) from None
        if prepared.created and getattr(user, "pk", None):
            # Set after validation: the importing user exists, and checking the foreign key
            # would cost a query per row.
            prepared.contact.owner = user
        row_result.import_type = (
            RowResult.IMPORT_TYPE_NEW if prepared.created else RowResult.IMPORT_TYPE_UPDATE
        )
        row_result.instance = prepared.contact
        row_result.write = prepared
        if diff:
            after = self._preview_values(prepared.contact, prepared)
            row_result.diff = diff_html(before, after, new=prepared.created)

    def _preview_values(self, contact: Contact | None, write: ContactWrite | None = None):
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
                    values.append(
                        f"{TAG_SEPARATOR} ".join(sorted(write.tags.values(), key=str.lower))
                    )
                    continue
            # The export's value without its formula escape: the preview is a web page.
            value = super().export_field(field, contact) if contact is not None else ""
            values.append("" if value is None else value)
        return values

    def import_batches(self, result: Result, size: int | None = None):
        """The file's rows in slices of `size`, to write (and commit) one slice at a time."""
        size = size or IMPORT_BATCH_ROWS
        for start in range(0, len(result.rows), size):
            yield result.rows[start : start + size]

    def import_write(self, rows: list[RowResult]) -> None:
        """Write the new and updated rows among `rows` (a slice of a valid plan) in bulk.

        One contacts_bulk_write, so the slice's links are marked pending with one call. Run it
        in a transaction: the caller's decides what is all or nothing.
        """
        contacts_bulk_write(writes=[row.write for row in rows if getattr(row, "write", None)])
        for row in rows:
            row.add_instance_info(row.instance)

    def import_report(self, rows) -> None:
        """Count `rows` as done (the progress callback), once they are written or refused."""
        if self.progress is not None:
            for row in rows:
                self.progress(row)

    def _changes(self, contact: Contact, write: RowWrite) -> bool:
        for name, value in write.data.items():
            current = getattr(contact, name)
            current = "" if current is None else str(current)
            if name == "email":
                current, value = current.lower(), value.lower()
            if current != value:
                return True
        if write.phones is not None:
            wanted = [
                (r["number"], r["type"], r["is_primary"], r["do_not_call"])
                for r in phones_clean(write.phones)
            ]
            stored = sorted(contact.phone_numbers.all(), key=lambda p: (not p.is_primary, p.pk))
            have = [(p.number.as_e164, p.type, p.is_primary, p.do_not_call) for p in stored]
            if wanted != have:
                return True
        if write.tags is not None:
            wanted_tags = {" ".join(name.split()).lower() for name in write.tags}
            if wanted_tags != {tag.name.lower() for tag in contact.tags.all()}:
                return True
        if write.custom_fields is not None:
            wanted_custom = custom_fields_clean(write.custom_fields, definitions=self.definitions)
            stored_custom = {
                key: value
                for key, value in (contact.custom_fields or {}).items()
                if key in self.definitions
            }
            if wanted_custom != stored_custom:
                return True
        return False


def errors_by_column(exc: ValidationError) -> dict[str, list[str]]:
    """The service's errors keyed by the file's column names, so staff see which cell is wrong."""
    if not hasattr(exc, "error_dict"):
        return {NON_FIELD_ERRORS: exc.messages}
    columns: dict[str, list[str]] = {}
    for field, errors in exc.error_dict.items():
        for error in errors:
            if field == "custom_fields" and (error.params or {}).get("key"):
                column = CUSTOM_FIELD_COLUMN_PREFIX + error.params["key"]
            elif field == "phone_numbers":
                column = "phones"
            else:
                column = field
            columns.setdefault(column, []).extend(ValidationError(error).messages)
    return columns
