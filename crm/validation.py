"""The rules a contact write must follow, checked without writing anything.

The admin, the API and the importer all validate contacts with these functions, so the rules
(phone normalisation, one primary phone, typed custom fields, tag names, the country) live in
one place. Validation errors are Django ValidationErrors keyed by field; errors about one
phone or one custom field carry `params["index"]` or `params["key"]` so callers can place them.
"""

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

from .models import Contact, CustomField, PhoneNumber, Tag, normalize_email

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

    National numbers are read in `region` (default: settings.PHONE_DEFAULT_REGION). A number
    with an extension ("ext. 12", "x12", "#12", or a second number after a comma, which the
    parser reads as one) is refused (`phone_extension_not_supported`).
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
    if parsed.extension:
        # E.164 has no extension, and neither do the providers' phone fields: kept, it would
        # be dropped on the way to every one of them. Refused rather than silently dropped.
        raise ValidationError(
            "“%(value)s” has an extension (%(extension)s), which phone numbers cannot "
            "store; send the number without it (the description can hold the extension).",
            code="phone_extension_not_supported",
            params={"value": text[:40], "extension": parsed.extension[:10]},
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
            errors.append(error_with_params(exc, index=index))
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
            errors.append(error_with_params(exc, key=key))
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


def country_clean(contact: Contact) -> None:
    """full_clean's check of the country, against the configured country codes.

    CountryField.validate compares the value with its choices, which django-countries
    rebuilds (about 250 of them) on every call, a large share of validating a contact and
    of a long import (docs/benchmarks.md). This is the same check against the configured
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
        country_clean(contact)
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


def error_with_params(error: ValidationError, **params: Any) -> ValidationError:
    """The same error with `params` added, so callers know which item it concerns."""
    return ValidationError(
        error.message, code=error.code, params={**(error.params or {}), **params}
    )
