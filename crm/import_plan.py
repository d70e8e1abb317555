"""The import plan: what each row of a contact file does, decided before anything is written.

Rows follow `contact_upsert`'s rules (the admin's and the API's): every row is checked with the
service's own validation (`contact_prepare`), with the file's existing contacts read by email
once for the whole file. A row whose email (case-insensitively) belongs to a contact updates
it; an email listed twice in one file is refused; a row equal to its contact is unchanged and
not written, so re-importing an export neither touches the contacts nor queues pushes. Only the
columns in the file are written: a missing `phones` column leaves phones alone, an empty
`phones` cell removes them.

Once every row is valid, the planned writes are saved in batches of IMPORT_BATCH_ROWS rows
(`import_batches`, `import_batch_write`): a few statements per table per batch, links marked
pending with one call per batch. ContactResource (crm.resources) makes the plan through
django-import-export's row hooks; crm.import_run saves it batch by batch in the background.
"""

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from diff_match_patch import diff_match_patch
from django.core.exceptions import ValidationError
from django.utils.encoding import force_str
from django.utils.safestring import mark_safe
from import_export.results import RowResult

from .import_columns import RowWrite, cell_text, errors_by_column, row_write
from .models import Contact, CustomField, normalize_email
from .services import contacts_bulk_write
from .validation import ContactWrite, contact_prepare, custom_fields_clean, phones_clean

# The preview shows the first PREVIEW_ROWS rows (templates/admin/crm/contact/import.html);
# only those get a diff, the costly part of a preview.
PREVIEW_ROWS = 200
# Rows written per contacts_bulk_write; the background import commits each batch.
IMPORT_BATCH_ROWS = 500

# A contact as a file row shows it: stored (no write), or as the write will leave it.
PreviewValues = Callable[[Contact | None, ContactWrite | None], list[Any]]


@dataclasses.dataclass
class RowPlan:
    """What one valid row does: its prepared write (None: the contact is unchanged) and, for the
    preview's first rows, its diff."""

    write: ContactWrite | None
    diff: list[str] | None


class ImportPlan:
    """The plan of one file, made row by row in file order."""

    def __init__(
        self,
        *,
        definitions: Mapping[str, CustomField],
        existing: Mapping[str, Contact],
        owner: Any,
        preview_values: PreviewValues,
    ):
        self.definitions = definitions
        # The stored contacts the file's emails match, by lowercased email (one read in all).
        self.existing = existing
        # The importing user owns the contacts the file adds.
        self.owner = owner if getattr(owner, "pk", None) else None
        self.preview_values = preview_values
        self.first_lines: dict[str, int] = {}
        self.duplicate_lines: list[int] = []
        self.diffs_left = PREVIEW_ROWS

    def email_check(self, row: Mapping[str, Any], *, line: int) -> None:
        """Refuse a row whose email an earlier line of the file already has."""
        email = normalize_email(cell_text(row.get("email")))
        if not email:
            return
        first = self.first_lines.setdefault(email, line)
        if first != line:
            self.duplicate_lines.append(line)
            raise ValidationError(
                {"email": f"{email} is also on line {first}; list each contact once per file."}
            )

    def contact_find(self, row: Mapping[str, Any]) -> Contact | None:
        """The stored contact the row's email matches, if any."""
        email = normalize_email(cell_text(row.get("email")))
        return self.existing.get(email) if email else None

    def row_plan(self, row: Mapping[str, Any], contact: Contact, *, new: bool) -> RowPlan:
        """Apply the row to `contact` (stored, or a new instance) by contact_upsert's rules.

        Raises ValidationError keyed by the file's columns. Nothing is written.
        """
        diff = self.diffs_left > 0
        write = row_write(row, None if new else contact, self.definitions)
        if not new and not row_changes(contact, write, self.definitions):
            if not diff:
                return RowPlan(None, None)
            return self._diffed(
                None, diff_html(self.preview_values(contact, None), None, new=False)
            )
        before = self.preview_values(contact, None) if diff and not new else None
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
        if prepared.created and self.owner is not None:
            # Set after validation: the importing user exists, and checking the foreign key
            # would cost a query per row.
            prepared.contact.owner = self.owner
        if not diff:
            return RowPlan(prepared, None)
        after = self.preview_values(prepared.contact, prepared)
        return self._diffed(prepared, diff_html(before, after, new=prepared.created))

    def _diffed(self, write: ContactWrite | None, diff: list[str]) -> RowPlan:
        self.diffs_left -= 1
        return RowPlan(write, diff)


def row_changes(contact: Contact, write: RowWrite, definitions: Mapping[str, CustomField]) -> bool:
    """Whether a row's write would change the stored contact."""
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
        wanted_custom = custom_fields_clean(write.custom_fields, definitions=definitions)
        stored_custom = {
            key: value for key, value in (contact.custom_fields or {}).items() if key in definitions
        }
        if wanted_custom != stored_custom:
            return True
    return False


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


def import_batches(rows: Sequence[RowResult], size: int | None = None) -> Iterator[list]:
    """The planned rows in slices of `size`, to write (and commit) one slice at a time."""
    size = size or IMPORT_BATCH_ROWS
    for start in range(0, len(rows), size):
        yield list(rows[start : start + size])


def import_batch_write(rows: Sequence[RowResult]) -> None:
    """Write the new and updated rows among `rows` (a slice of a valid plan) in bulk.

    One contacts_bulk_write, so the slice's links are marked pending with one call. Run it in
    a transaction: the caller's decides what is all or nothing.
    """
    contacts_bulk_write(writes=[row.write for row in rows if getattr(row, "write", None)])
    for row in rows:
        row.add_instance_info(row.instance)
