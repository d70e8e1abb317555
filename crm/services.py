"""Writes to the contact domain.

The admin, the API and the importer all write contacts through these functions, so the rules
(phone normalisation, one primary phone, typed custom fields, the duplicate-email rule) live
in one place. Validation errors are Django ValidationErrors keyed by field; errors about one
phone or one custom field carry `params["index"]` or `params["key"]` so callers can place them.
"""

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from .models import Contact, CustomField, PhoneNumber, Tag, normalize_email
from .signals import contact_changed, contacts_changed

# Scalar fields a caller may write; relations and custom fields have their own arguments.
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "company",
    "title",
    "linkedin_url",
    "website",
    "address",
    "city",
    "state",
    "zip_code",
    "country",
    "source",
    "status",
    "stage",
    "description",
    "owner",
)


class ContactAlreadyExists(ValidationError):
    """A contact with the same email (compared case-insensitively) already exists."""

    def __init__(self, existing: Contact):
        self.existing = existing
        super().__init__(
            {
                "email": [
                    ValidationError(
                        "A contact with the email %(email)s already exists (#%(id)s).",
                        code="already_exists",
                        params={"email": existing.email, "id": existing.pk},
                    )
                ]
            }
        )


def phone_parse(raw: Any, *, region: str | None = None) -> str:
    """Parse a phone number typed in any format and return it in E.164.

    National numbers are read in `region` (default: settings.PHONE_DEFAULT_REGION).
    """
    text = str(raw if raw is not None else "").strip()
    parsed = None
    if text and len(text) <= 64:
        try:
            parsed = phonenumbers.parse(text, region or settings.PHONE_DEFAULT_REGION)
        except phonenumbers.NumberParseException:
            parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValidationError(
            "“%(value)s” is not a valid phone number.",
            code="invalid_phone",
            params={"value": shown},
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phones_clean(rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Validate a contact's complete set of phone numbers.

    Each row has `number` and optionally `type`, `is_primary`, `do_not_call`. Numbers are
    normalised to E.164; a number may appear once; at most one row is primary, and the first
    row becomes primary when none is flagged.
    """
    errors: list[ValidationError] = []
    cleaned: list[dict] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        try:
            number = phone_parse(row.get("number"))
        except ValidationError as exc:
            errors.append(_with_params(exc, index=index))
            continue
        if number in seen:
            errors.append(
                ValidationError(
                    "%(number)s is listed twice.",
                    code="duplicate_phone",
                    params={"number": number, "index": index},
                )
            )
            continue
        seen[number] = index
        phone_type = row.get("type") or PhoneNumber.Type.MOBILE
        if phone_type not in PhoneNumber.Type.values:
            errors.append(
                ValidationError(
                    "“%(value)s” is not a phone type; use one of %(types)s.",
                    code="invalid_choice",
                    params={
                        "value": phone_type,
                        "types": ", ".join(PhoneNumber.Type.values),
                        "index": index,
                    },
                )
            )
            continue
        cleaned.append(
            {
                "number": number,
                "type": phone_type,
                "is_primary": bool(row.get("is_primary")),
                "do_not_call": bool(row.get("do_not_call")),
            }
        )
    if sum(row["is_primary"] for row in cleaned) > 1:
        errors.append(
            ValidationError("Only one phone number can be primary.", code="multiple_primary")
        )
    if errors:
        raise ValidationError({"phone_numbers": errors})
    if cleaned and not any(row["is_primary"] for row in cleaned):
        cleaned[0]["is_primary"] = True
    return cleaned


def custom_fields_clean(
    values: Any, *, definitions: Mapping[str, CustomField] | None = None
) -> dict:
    """Validate and normalise a contact's complete custom-field values by their definitions.

    Unknown keys are rejected (`unknown_custom_field`), values are converted by type
    (`invalid_custom_field`), required fields must have a value (`required`). Empty values
    are dropped. Errors are raised under "custom_fields", each with `params["key"]`.
    """
    if not isinstance(values, Mapping):
        raise ValidationError(
            {"custom_fields": ValidationError("Expected an object of key: value.", code="invalid")}
        )
    if definitions is None:
        definitions = {field.key: field for field in CustomField.objects.all()}
    errors: list[ValidationError] = []
    cleaned: dict[str, Any] = {}
    for key, raw in values.items():
        field = definitions.get(key)
        if field is None:
            shown = str(key)[:64]
            errors.append(
                ValidationError(
                    "Unknown custom field “%(key)s”.",
                    code="unknown_custom_field",
                    params={"key": shown},
                )
            )
            continue
        try:
            value = field.to_value(raw)
        except ValidationError as exc:
            errors.append(_with_params(exc, key=key))
            continue
        if value is not None:
            cleaned[key] = value
    invalid_keys = {error.params["key"] for error in errors}
    for key, field in definitions.items():
        if field.required and key not in cleaned and key not in invalid_keys:
            errors.append(
                ValidationError(
                    "%(label)s is required.",
                    code="required",
                    params={"label": field.label, "key": key},
                )
            )
    if errors:
        raise ValidationError({"custom_fields": errors})
    return cleaned


def tag_names_clean(names: Iterable[str]) -> dict[str, str]:
    """Tag names with their whitespace collapsed, by case-folded name (the first spelling wins)."""
    wanted: dict[str, str] = {}
    for raw in names:
        name = " ".join(str(raw).split())
        if not name:
            continue
        if len(name) > Tag._meta.get_field("name").max_length:
            raise ValidationError(
                {
                    "tags": ValidationError(
                        "Tag “%(name)s…” is too long.",
                        code="max_length",
                        params={"name": name[:20]},
                    )
                }
            )
        wanted.setdefault(name.lower(), name)
    return wanted


def tags_get_or_create(names: Iterable[str]) -> list[Tag]:
    """Tags by name, matched case-insensitively, created on first use."""
    wanted = tag_names_clean(names)
    ids = _tags_bulk_get_or_create(wanted)
    tags = Tag.objects.in_bulk(ids.values())
    return [tags[ids[folded]] for folded in wanted]


def contact_find_duplicate(*, email: str, exclude_pk: int | None = None) -> Contact | None:
    """The existing contact that `email` would duplicate, if any."""
    email = normalize_email(email)
    if not email:
        return None
    # Matches the unique index on LOWER(email) WHERE email <> '' (both its expression and its
    # condition), so the lookup is an index search; `email__iexact` scanned the whole table,
    # which made a 10,000-row import quadratic.
    candidates = Contact.objects.alias(folded=Lower("email")).filter(~Q(email=""), folded=email)
    if exclude_pk is not None:
        candidates = candidates.exclude(pk=exclude_pk)
    return candidates.order_by("pk").first()


@dataclasses.dataclass
class ContactWrite:
    """One contact write, applied to the instance and validated but not saved yet."""

    contact: Contact
    created: bool
    # The contact columns the write sets (an update saves only these, and updated_at).
    fields: set[str]
    # None means "leave as they are"; otherwise the complete set, cleaned.
    phones: list[dict] | None
    tags: dict[str, str] | None  # case-folded name: name as first written


def contact_prepare(
    *,
    contact: Contact | None = None,
    data: Mapping[str, Any] | None = None,
    phone_numbers: Sequence[Mapping[str, Any]] | None = None,
    tags: Iterable[str] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    definitions: Mapping[str, CustomField] | None = None,
) -> ContactWrite:
    """Apply a write to `contact` (a new one when None) and validate it, writing nothing.

    The validating half of contact_upsert, shared with the bulk import so both follow the same
    rules: raises ValidationError with every field error at once. It does not look for a
    duplicate email: contact_upsert asks per contact, the import matches a whole file at once.
    `definitions` (the custom fields by key) spares a query per contact in a loop.
    """
    contact = contact if contact is not None else Contact()
    data = dict(data or {})
    unexpected = set(data) - set(CONTACT_FIELDS)
    if unexpected:
        raise TypeError(f"contact_upsert() got unexpected fields: {sorted(unexpected)}")
    for name, value in data.items():
        setattr(contact, name, value)
    contact.email = normalize_email(contact.email)

    errors: dict[str, list[ValidationError]] = {}
    try:
        contact.full_clean(
            exclude=["custom_fields", "country"], validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        errors.update(exc.error_dict)
    try:
        _country_clean(contact)
    except ValidationError as exc:
        errors["country"] = exc.error_list
        errors = {f.name: errors[f.name] for f in Contact._meta.fields if f.name in errors}
    phone_rows = None
    if phone_numbers is not None:
        try:
            phone_rows = phones_clean(phone_numbers)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if custom_fields is not None:
        try:
            contact.custom_fields = custom_fields_clean(custom_fields, definitions=definitions)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    tag_names = None
    if tags is not None:
        try:
            tag_names = tag_names_clean(tags)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    fields = set(data) | ({"custom_fields"} if custom_fields is not None else set())
    return ContactWrite(contact, contact.pk is None, fields, phone_rows, tag_names)


def _country_clean(contact: Contact) -> None:
    """full_clean's check of the country, without its cost.

    CountryField.validate compares the value with its choices, which django-countries
    rebuilds (about 250 of them) on every call: 3 ms, half the time of validating a whole
    contact, and 30 s of a 10,000-row import. This is the same check against the configured
    country codes (COUNTRIES_ONLY and COUNTRIES_OVERRIDE included), with the same error.
    """
    field = Contact._meta.get_field("country")
    value = field.to_python(field.value_from_object(contact))
    if value in field.empty_values:
        if not field.blank:
            raise ValidationError(field.error_messages["blank"], code="blank")
        return
    if str(value) not in field.countries.countries:
        raise ValidationError(
            field.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )
    field.run_validators(value)


@transaction.atomic
def contact_upsert(
    *,
    contact: Contact | None = None,
    data: Mapping[str, Any] | None = None,
    phone_numbers: Sequence[Mapping[str, Any]] | None = None,
    tags: Iterable[str] | None = None,
    custom_fields: Mapping[str, Any] | None = None,
) -> Contact:
    """Create a contact (no `contact`) or update one, with its phones, tags and custom fields.

    Only what is passed is written: `data` sets the given scalar fields; `phone_numbers`,
    `tags` and `custom_fields`, when not None, replace the contact's complete set.
    Raises ValidationError with every field error at once, or ContactAlreadyExists.
    """
    write = contact_prepare(
        contact=contact,
        data=data,
        phone_numbers=phone_numbers,
        tags=tags,
        custom_fields=custom_fields,
    )
    contact, created = write.contact, write.created

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
    _phones_bulk_replace([write])
    _tags_bulk_set([write])
    # contact_written without its primary-phone query: contact_prepare already made one of
    # the phones it cleaned primary, which the batch writer relies on too.
    contact_changed.send(sender=Contact, contact=contact, created=created)
    return contact


# --- bulk writes (the import) ---------------------------------------------------------------

# Rows per IN (...) list or bulk statement: well under SQLite's 999 variables per statement
# on old builds, and small enough that PostgreSQL plans each statement quickly.
BULK_CHUNK = 500


def _chunks(items: Sequence, size: int = BULK_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def contacts_find_by_email(*, emails: Iterable[str]) -> dict[str, Contact]:
    """The contacts that these emails would duplicate, by lowercased email, in a few queries.

    contact_find_duplicate for many emails at once: the same LOWER(email) index, the lowest
    id first when (against the constraint) two match. Phones and tags come prefetched, so a
    caller comparing rows with the stored contacts makes no query per contact.
    """
    folded = sorted({normalize_email(email) for email in emails} - {""})
    found: dict[str, Contact] = {}
    for chunk in _chunks(folded):
        contacts = (
            Contact.objects.alias(folded=Lower("email"))
            .filter(~Q(email=""), folded__in=chunk)
            .order_by("pk")
            .prefetch_related("phone_numbers", "tags")
        )
        for contact in contacts:
            found.setdefault(contact.email.lower(), contact)
    return found


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
        # Smaller batches: bulk_update writes a CASE over the batch's ids for every column.
        Contact.objects.bulk_update([w.contact for w in updated], fields, batch_size=200)
    _phones_bulk_replace(writes)
    _tags_bulk_set(writes)
    # contact_written's primary-phone rule has nothing to do here: a written set of phones
    # has its primary (phones_clean), and phones not written are left as they were.
    contacts_changed.send(
        sender=Contact,
        contact_ids=[write.contact.pk for write in writes],
        created_ids=[contact.pk for contact in created],
    )


def _phones_bulk_replace(writes: Sequence[ContactWrite]) -> None:
    """Replace the phones of the writes that set them: a stored number keeps its row (and
    id), the others are deleted or added."""
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
    for chunk in _chunks(list(replaced)):
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
    for chunk in _chunks(drop):
        PhoneNumber.objects.filter(pk__in=chunk).delete()
    for phones in (demoted, changed):
        PhoneNumber.objects.bulk_update(
            phones, ["type", "is_primary", "do_not_call"], batch_size=BULK_CHUNK // 2
        )
    PhoneNumber.objects.bulk_create(new, batch_size=BULK_CHUNK)


def _tags_bulk_set(writes: Sequence[ContactWrite]) -> None:
    """contact.tags.set() for a batch: one read of the links, one delete, one insert."""
    with_tags = [write for write in writes if write.tags is not None]
    if not with_tags:
        return
    names: dict[str, str] = {}
    for write in with_tags:
        for folded, name in write.tags.items():
            names.setdefault(folded, name)
    tag_ids = _tags_bulk_get_or_create(names)
    through = Contact.tags.through
    wanted = {(write.contact.pk, tag_ids[folded]) for write in with_tags for folded in write.tags}
    have: dict[tuple[int, int], int] = {}
    for chunk in _chunks([write.contact.pk for write in with_tags if not write.created]):
        for pk, contact_id, tag_id in through.objects.filter(contact_id__in=chunk).values_list(
            "pk", "contact_id", "tag_id"
        ):
            have[(contact_id, tag_id)] = pk
    for chunk in _chunks([pk for pair, pk in have.items() if pair not in wanted]):
        through.objects.filter(pk__in=chunk).delete()
    through.objects.bulk_create(
        [through(contact_id=c, tag_id=t) for c, t in sorted(wanted) if (c, t) not in have],
        batch_size=BULK_CHUNK * 2,
    )


def _tags_bulk_get_or_create(names: Mapping[str, str]) -> dict[str, int]:
    """Tag ids by case-folded name, creating the missing tags; tags_get_or_create in bulk."""

    def find(folded: Sequence[str]) -> dict[str, int]:
        found = {}
        for chunk in _chunks(list(folded)):
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


def _with_params(error: ValidationError, **params: Any) -> ValidationError:
    """The same error with `params` added, so callers know which item it concerns."""
    return ValidationError(
        error.message, code=error.code, params={**(error.params or {}), **params}
    )
