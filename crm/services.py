"""Writes to the contact domain.

The admin, the API and the importer all write contacts through these functions, so the rules
(phone normalisation, one primary phone, typed custom fields, the duplicate-email rule) live
in one place. Validation errors are Django ValidationErrors keyed by field; errors about one
phone or one custom field carry `params["index"]` or `params["key"]` so callers can place them.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from .models import Contact, CustomField, PhoneNumber, Tag, normalize_email
from .signals import contact_changed

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


def tags_get_or_create(names: Iterable[str]) -> list[Tag]:
    """Tags by name, matched case-insensitively, created on first use."""
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
    if not wanted:
        return []
    found = {
        tag.name.lower(): tag
        for tag in Tag.objects.annotate(folded=Lower("name")).filter(folded__in=wanted)
    }
    for folded, name in wanted.items():
        if folded not in found:
            try:
                with transaction.atomic():
                    found[folded] = Tag.objects.create(name=name)
            except IntegrityError:  # created concurrently by another writer
                found[folded] = Tag.objects.get(name__iexact=name)
    return [found[folded] for folded in wanted]


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
    contact = contact if contact is not None else Contact()
    created = contact.pk is None
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
            exclude=["custom_fields"], validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        errors.update(exc.error_dict)
    phone_rows = None
    if phone_numbers is not None:
        try:
            phone_rows = phones_clean(phone_numbers)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if custom_fields is not None:
        try:
            contact.custom_fields = custom_fields_clean(custom_fields)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    tag_objects = None
    if tags is not None:
        try:
            tag_objects = tags_get_or_create(tags)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)

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

    if phone_rows is not None and created:
        PhoneNumber.objects.bulk_create([PhoneNumber(contact=contact, **row) for row in phone_rows])
    elif phone_rows is not None:
        _phones_replace(contact, phone_rows)
    if tag_objects is not None:
        contact.tags.set(tag_objects)
    contact_written(contact=contact, created=created)
    return contact


def _phones_replace(contact: Contact, rows: list[dict]) -> None:
    existing = {phone.number.as_e164: phone for phone in contact.phone_numbers.all()}
    keep = {row["number"] for row in rows}
    contact.phone_numbers.exclude(pk__in=[p.pk for n, p in existing.items() if n in keep]).delete()
    # Demote first: the one-primary constraint is checked row by row, not at commit.
    contact.phone_numbers.filter(is_primary=True).update(is_primary=False)
    new = []
    for row in rows:
        phone = existing.get(row["number"])
        if phone is None:
            new.append(PhoneNumber(contact=contact, **row))
            continue
        for name in ("type", "is_primary", "do_not_call"):
            setattr(phone, name, row[name])
        phone.save(update_fields=["type", "is_primary", "do_not_call"])
    PhoneNumber.objects.bulk_create(new)


def phones_ensure_primary(*, contact: Contact) -> None:
    """When a contact has phones but none is primary, the first one entered becomes primary."""
    if not contact.phone_numbers.filter(is_primary=True).exists():
        first = contact.phone_numbers.order_by("pk").first()
        if first is not None:
            first.is_primary = True
            first.save(update_fields=["is_primary"])


def contact_written(*, contact: Contact, created: bool) -> None:
    """Finish any write of a contact: apply the primary-phone rule and tell listeners.

    Called by contact_upsert, and by the admin once its inlines and tags are saved.
    """
    phones_ensure_primary(contact=contact)
    contact_changed.send(sender=Contact, contact=contact, created=created)


def _with_params(error: ValidationError, **params: Any) -> ValidationError:
    """The same error with `params` added, so callers know which item it concerns."""
    return ValidationError(
        error.message, code=error.code, params={**(error.params or {}), **params}
    )
