"""Contacts to and from CSV / XLSX files (django-import-export), written by the write service.

One row per contact. The columns are the contact's fields by their API names, plus:

- `phones`: "+1 415-555-0100 (mobile); +1 415-555-0101 (work, do not call)". The first number
  is the primary one; the type is optional (mobile by default); national numbers are read in
  the default region. Numbers are separated by ";" because "," is common inside numbers.
- `tags`: "vip, partner"; created on first use, matched case-insensitively.
- `cf_<key>`: one column per custom field, in its typed text form (2025-01-31, true, 1200).

Rows are written with `contact_upsert`, so the rules are the admin's and the API's. A row whose
email (case-insensitively) belongs to a contact updates that contact; an email listed twice in
one file is refused. Only the columns in the file are written: a missing `phones` column
leaves phones alone, an empty `phones` cell removes them. Empty source, status and stage cells
keep the current value (or the default).

Export writes the same columns, so a file round-trips unchanged. Cells starting with
= + - @ are prefixed with an apostrophe (OWASP's CSV injection advice) so a spreadsheet shows
them as text; import removes that apostrophe again.
"""

import dataclasses
import datetime
import re
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from import_export import resources
from import_export.fields import Field

from .models import Contact, CustomField, PhoneNumber
from .services import (
    CONTACT_FIELDS,
    contact_find_duplicate,
    contact_upsert,
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


class ContactResource(resources.ModelResource):
    phones = Field(column_name="phones", dehydrate_method="dehydrate_phones")
    tags = Field(column_name="tags", dehydrate_method="dehydrate_tags")

    class Meta:
        model = Contact
        fields = (*SCALAR_COLUMNS, "phones", "tags")
        import_id_fields = ("email",)
        # All or nothing: the whole file is one transaction (and the admin also rolls back
        # on row validation errors, see ContactAdmin.get_import_data_kwargs).
        use_transactions = True
        # A row equal to the contact is reported as skipped and not written, so re-importing
        # an export neither touches the contacts nor queues pushes.
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = False  # contact_upsert validates
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
        self._emails_seen: dict[str, int] = {}
        self._duplicate_lines: list[int] = []

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
        self._emails_seen = {}
        self._duplicate_lines = []
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
        if "email" not in dataset.headers:
            # Dedup needs the column; a file without it only adds contacts.
            dataset.append_col([""] * len(dataset), header="email")

    def get_instance(self, instance_loader, row):
        email = cell_text(row.get("email"))
        return contact_find_duplicate(email=email) if email else None

    def before_import_row(self, row, **kwargs):
        email = cell_text(row.get("email")).lower()
        if not email:
            return
        line = line_number(kwargs["row_number"])
        first = self._emails_seen.setdefault(email, line)
        if first != line:
            self._duplicate_lines.append(line)
            raise ValidationError(
                {"email": f"{email} is also on line {first}; list each contact once per file."}
            )

    def import_row(self, row, instance_loader, **kwargs):
        # Here rather than in after_import_row, which invalid rows never reach.
        row_result = super().import_row(row, instance_loader, **kwargs)
        if self.progress is not None:
            self.progress(row_result)
        return row_result

    def after_import_row(self, row, row_result, **kwargs):
        row_result.line = line_number(kwargs["row_number"])

    def after_import(self, dataset, result, **kwargs):
        super().after_import(dataset, result, **kwargs)
        result.duplicates = list(self._duplicate_lines)

    def import_instance(self, instance, row, **kwargs):
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
        in_file = [key for key in self.definitions if CUSTOM_FIELD_COLUMN_PREFIX + key in row]
        if in_file:
            # Columns not in the file keep their values; the service validates the whole set.
            stored = instance.custom_fields if instance.pk else {}
            custom = {key: v for key, v in (stored or {}).items() if key in self.definitions}
            for key in in_file:
                custom[key] = cell_text(row[CUSTOM_FIELD_COLUMN_PREFIX + key])
        instance._import_write = RowWrite(data, phones, tags, custom)
        if errors:
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors or instance.pk is None:
            return False
        try:
            return not self._changes(instance, instance._import_write)
        except ValidationError:
            return False  # the write reports it

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

    def save_instance(self, instance, is_create, row, **kwargs):
        write: RowWrite = instance._import_write
        data = dict(write.data)
        user = kwargs.get("user")
        if is_create and getattr(user, "pk", None):
            data.setdefault("owner", user)
        try:
            contact_upsert(
                contact=instance,
                data=data,
                phone_numbers=write.phones,
                tags=write.tags,
                custom_fields=write.custom_fields,
            )
        except ValidationError as exc:
            raise ValidationError(errors_by_column(exc)) from None

    def save_m2m(self, instance, row, **kwargs):
        """Tags are written by contact_upsert."""


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
