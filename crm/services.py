"""Writes to the contact domain.

The admin, the API and the importer all write contacts through these functions, after the
rules in crm.validation, and each write ends with a crm.signals signal so other apps can
react inside the same transaction.
"""

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django_countries.fields import Country

from .chunks import BULK_CHUNK, chunks
from .models import Contact, PhoneNumber, Tag
from .selectors import contact_find_duplicate
from .signals import contact_changed, contacts_changed
from .validation import ContactAlreadyExists, ContactWrite, contact_prepare, tag_names_clean

# bulk_update writes a CASE over the batch's ids for every column, so its batches are smaller.
CONTACT_UPDATE_BATCH = 200


class WriteOutcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # an update that would leave the contact as stored: nothing written


class ContactWritten(NamedTuple):
    contact: Contact
    outcome: WriteOutcome


def contact_upsert(
    *,
    contact: Contact | None = None,
    data: Mapping[str, Any] | None = None,
    phone_numbers: Sequence[Mapping[str, Any]] | None = None,
    tags: Iterable[str] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> Contact:
    """Create a contact (no `contact`) or update one: `contact_write`, for callers that need
    only the contact."""
    return contact_write(
        contact=contact,
        data=data,
        phone_numbers=phone_numbers,
        tags=tags,
        custom_fields=custom_fields,
    ).contact


@transaction.atomic
def contact_write(
    *,
    contact: Contact | None = None,
    data: Mapping[str, Any] | None = None,
    phone_numbers: Sequence[Mapping[str, Any]] | None = None,
    tags: Iterable[str] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> ContactWritten:
    """Create a contact (no `contact`) or update one, with its phones, tags and custom fields;
    returns the contact and whether it was created, updated or left unchanged.

    Only what is passed is written: `data` sets the given scalar fields; `phone_numbers`,
    `tags` and `custom_fields`, when not None, replace the contact's complete set.
    An update that would leave the contact as stored writes nothing: no UPDATE, no new
    updated_at, no contact_changed signal (so no push), since incremental syncs and auto-push
    read any of those as a change.
    Raises ValidationError with every field error at once, or ContactAlreadyExists.
    """
    stored = contact_column_values(contact) if contact is not None else None
    write = contact_prepare(
        contact=contact,
        data=data,
        phone_numbers=phone_numbers,
        tags=tags,
        custom_fields=custom_fields,
    )
    contact, created = write.contact, write.created
    if stored is not None and not contact_write_changes(write=write, stored=stored):
        return ContactWritten(contact, WriteOutcome.UNCHANGED)

    duplicate = contact_find_duplicate(email=contact.email, exclude_pk=contact.pk)
    if duplicate is not None:
        raise ContactAlreadyExists(duplicate)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        # Another writer created the same email between our check and our insert.
        duplicate = contact_find_duplicate(email=contact.email, exclude_pk=contact.pk)
        if duplicate is None:
            raise
        raise ContactAlreadyExists(duplicate) from None

    # The import's batch writers, with a batch of one: a single way to replace phones and tags.
    phones_bulk_replace(writes=[write])
    tags_bulk_set(writes=[write])
    # contact_written without its primary-phone query: contact_prepare already made one of
    # the phones it cleaned primary, which the batch writer relies on too.
    contact_changed.send(sender=Contact, contact=contact, created=created)
    return ContactWritten(contact, WriteOutcome.CREATED if created else WriteOutcome.UPDATED)


def contact_column_values(contact: Contact) -> dict[str, Any]:
    """The contact's column values as comparable data (a Country as its code)."""
    return {
        field.attname: comparable(field.value_from_object(contact))
        for field in Contact._meta.concrete_fields
    }


def comparable(value: Any) -> Any:
    # A Country compares equal to its code, but the snapshot is taken before the country is
    # cleaned (a name or a lowercase code may become the code): compare codes.
    return str(value) if isinstance(value, Country) else value


def contact_write_changes(*, write: ContactWrite, stored: Mapping[str, Any]) -> bool:
    """Whether a prepared update of a stored contact changes anything: a column, its phones
    (number, type and flags, in any order) or its tags (names compared case-insensitively,
    as they are matched)."""
    if contact_column_values(write.contact) != stored:
        return True
    contact = write.contact
    if write.phones is not None:
        have = {
            (phone.number.as_e164, phone.type, phone.is_primary, phone.do_not_call)
            for phone in contact.phone_numbers.all()
        }
        # Numbers are unique per contact on both sides, so the sets compare the lists.
        wanted = {
            (row["number"], row["type"], row["is_primary"], row["do_not_call"])
            for row in write.phones
        }
        if have != wanted:
            return True
    if write.tags is not None:
        have_tags = {tag.name.lower() for tag in contact.tags.all()}
        if have_tags != set(write.tags):
            return True
    return False


@transaction.atomic
def contacts_bulk_write(*, writes: Sequence[ContactWrite]) -> None:
    """Save many prepared writes (contact_prepare) in a few statements per table.

    The writing half of contact_upsert for a batch, with the same outcome per contact: the
    row, then phones, tags and custom fields replaced where given, then one contacts_changed
    signal for the whole batch (so its links are marked pending with one call). The caller
    has matched duplicate emails (contacts_find_by_email) and kept each email once; a contact
    created meanwhile with the same email makes the unique index refuse the batch
    (IntegrityError), and the transaction writes none of it.
    """
    if not writes:
        return
    created = [write.contact for write in writes if write.created]
    Contact.objects.bulk_create(created, batch_size=BULK_CHUNK)
    updated = [write for write in writes if not write.created]
    if updated:
        # bulk_update bypasses auto_now, so updated_at is set here.
        now = timezone.now()
        for write in updated:
            write.contact.updated_at = now
        fields = sorted(set().union(*(write.fields for write in updated)) | {"updated_at"})
        Contact.objects.bulk_update(
            [write.contact for write in updated], fields, batch_size=CONTACT_UPDATE_BATCH
        )
    phones_bulk_replace(writes=writes)
    tags_bulk_set(writes=writes)
    # contact_written's primary-phone rule has nothing to do here: a written set of phones
    # has its primary (phones_clean), and phones not written are left as they were.
    contacts_changed.send(
        sender=Contact,
        contact_ids=[write.contact.pk for write in writes],
        created_ids=[contact.pk for contact in created],
    )


def phones_bulk_replace(*, writes: Sequence[ContactWrite]) -> None:
    """Replace the phones of the saved writes that set them: a stored number keeps its row
    (and id), the others are deleted or added."""
    new: list[PhoneNumber] = []
    replaced: dict[int, list[dict]] = {}
    for write in writes:
        if write.phones is None:
            continue
        if write.created:
            new.extend(PhoneNumber(contact=write.contact, **row) for row in write.phones)
        else:
            replaced[write.contact.pk] = write.phones
    stored: dict[int, dict[str, PhoneNumber]] = {}
    for chunk in chunks(list(replaced)):
        for phone in PhoneNumber.objects.filter(contact_id__in=chunk):
            stored.setdefault(phone.contact_id, {})[phone.number.as_e164] = phone
    drop: list[int] = []
    # Changed stored phones, in two passes so that the one-primary constraint, checked row by
    # row, never sees two primaries: those losing the primary flag first, then the others.
    demoted: list[PhoneNumber] = []
    changed: list[PhoneNumber] = []
    for contact_id, rows in replaced.items():
        have = stored.get(contact_id, {})
        wanted = {row["number"] for row in rows}
        drop.extend(phone.pk for number, phone in have.items() if number not in wanted)
        for row in rows:
            phone = have.get(row["number"])
            if phone is None:
                new.append(PhoneNumber(contact_id=contact_id, **row))
                continue
            values = (row["type"], row["is_primary"], row["do_not_call"])
            if (phone.type, phone.is_primary, phone.do_not_call) == values:
                continue
            (demoted if phone.is_primary and not row["is_primary"] else changed).append(phone)
            phone.type, phone.is_primary, phone.do_not_call = values
    for chunk in chunks(drop):
        PhoneNumber.objects.filter(pk__in=chunk).delete()
    for phones in (demoted, changed):
        PhoneNumber.objects.bulk_update(
            phones, ["type", "is_primary", "do_not_call"], batch_size=BULK_CHUNK // 2
        )
    PhoneNumber.objects.bulk_create(new, batch_size=BULK_CHUNK)


def tags_bulk_set(*, writes: Sequence[ContactWrite]) -> None:
    """contact.tags.set() for a batch of saved writes: one read of the links, one delete, one
    insert."""
    with_tags = [write for write in writes if write.tags is not None]
    if not with_tags:
        return
    names: dict[str, str] = {}
    for write in with_tags:
        for folded, name in write.tags.items():
            names.setdefault(folded, name)
    tag_ids = tags_bulk_get_or_create(names=names)
    through = Contact.tags.through
    wanted = {(write.contact.pk, tag_ids[folded]) for write in with_tags for folded in write.tags}
    have: dict[tuple[int, int], int] = {}
    for chunk in chunks([write.contact.pk for write in with_tags if not write.created]):
        for pk, contact_id, tag_id in through.objects.filter(contact_id__in=chunk).values_list(
            "pk", "contact_id", "tag_id"
        ):
            have[(contact_id, tag_id)] = pk
    for chunk in chunks([pk for pair, pk in have.items() if pair not in wanted]):
        through.objects.filter(pk__in=chunk).delete()
    through.objects.bulk_create(
        [through(contact_id=c, tag_id=t) for c, t in sorted(wanted) if (c, t) not in have],
        batch_size=BULK_CHUNK * 2,
    )


def tags_bulk_get_or_create(*, names: Mapping[str, str]) -> dict[str, int]:
    """Tag ids by case-folded name (`names`: case-folded name to name), creating the missing
    tags; tags_get_or_create in bulk."""

    def find(folded: Sequence[str]) -> dict[str, int]:
        found = {}
        for chunk in chunks(list(folded)):
            rows = Tag.objects.annotate(folded=Lower("name")).filter(folded__in=chunk)
            found.update(rows.values_list("folded", "pk"))
        return found

    found = find(list(names))
    missing = [folded for folded in names if folded not in found]
    if missing:
        # ignore_conflicts: a tag created concurrently by another writer is found below.
        Tag.objects.bulk_create(
            [Tag(name=names[folded]) for folded in missing],
            batch_size=BULK_CHUNK,
            ignore_conflicts=True,
        )
        found.update(find(missing))
    return found


def tags_get_or_create(*, names: Iterable[str]) -> list[Tag]:
    """Tags by name, matched case-insensitively, created on first use."""
    wanted = tag_names_clean(names)
    ids = tags_bulk_get_or_create(names=wanted)
    tags = Tag.objects.in_bulk(ids.values())
    return [tags[ids[folded]] for folded in wanted]


def phones_ensure_primary(*, contact: Contact) -> None:
    """When a contact has phones but none is primary, the first one entered becomes primary."""
    if not contact.phone_numbers.filter(is_primary=True).exists():
        first = contact.phone_numbers.order_by("pk").first()
        if first is not None:
            first.is_primary = True
            first.save(update_fields=["is_primary"])


def contact_written(*, contact: Contact, created: bool) -> None:
    """Finish the admin's write of a contact: apply the primary-phone rule and tell listeners.

    The admin saves its phone inlines itself, so the rule may have something to do there;
    contact_upsert and contacts_bulk_write write cleaned phones, which always have a primary,
    and send the signal directly.
    """
    phones_ensure_primary(contact=contact)
    contact_changed.send(sender=Contact, contact=contact, created=created)
