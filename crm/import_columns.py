"""The columns of a contact file (CSV / XLSX): how each cell is read and written.

One row per contact. The columns are the contact's fields by their API names, plus:

- `phones`: "+1 415-555-0100 (mobile); +1 415-555-0101 (work, do not call)". The first number
  is the primary one; the type is optional (mobile by default); national numbers are read in
  the default region. Numbers are separated by ";" because "," is common inside numbers.
- `tags`: "vip, partner"; created on first use, matched case-insensitively.
- `cf_<key>`: one column per custom field, in its typed text form (2025-01-31, true, 1200).

Headers are matched loosely ("First name", "Phone", "E-mail"). Empty source, status and stage
cells keep the current value (or the default). Cells starting with = + - @ are written with an
apostrophe in front (OWASP's CSV injection advice) so a spreadsheet shows them as text; reading
removes that apostrophe again.
"""

import dataclasses
import datetime
import re
from collections.abc import Collection, Iterable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from .models import Contact, PhoneNumber
from .validation import CONTACT_FIELDS

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
PHONE_SUFFIX = re.compile(r"\(\s*([a-z][a-z ,]*)\)\s*$", re.IGNORECASE)


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


def phones_format(phones: Iterable[PhoneNumber]) -> str:
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
        match = PHONE_SUFFIX.search(entry)
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


def tags_format(names: Iterable[str]) -> str:
    return f"{TAG_SEPARATOR} ".join(sorted(names, key=str.lower))


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


def headers_problem(headers: list[str], *, known: Collection[str]) -> str:
    """Why a file's (normalised) headers are refused: unknown or repeated columns; or ""."""
    unknown = [h for h in headers if h and h not in known]
    duplicated = sorted({h for h in headers if h and headers.count(h) > 1})
    if not unknown and not duplicated:
        return ""
    problems = []
    if unknown:
        problems.append("unknown column(s): " + ", ".join(unknown))
    if duplicated:
        problems.append("column(s) listed twice: " + ", ".join(duplicated))
    return "The file has " + "; ".join(problems) + ". The columns are: " + ", ".join(known)


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
            messages = ValidationError(error).messages
            # Say which value is wrong ("“jane@” …"), as the phone errors do.
            value = (error.params or {}).get("value")
            if isinstance(value, str) and value:
                messages = [m if value in m else f"“{value}”: {m}" for m in messages]
            columns.setdefault(column, []).extend(messages)
    return columns
