"""Contact representation and input checks for the API.

The serializer checks shapes and types only; every rule about contacts (phone parsing and
the one-primary rule, custom-field typing, duplicate emails) is applied by
crm.services.contact_upsert, the same service the admin uses, whose Django
ValidationErrors are translated here into field errors with stable codes.
"""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, RegexValidator, URLValidator
from django.db import models
from django_countries.serializer_fields import CountryField
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from crm.models import Contact, CustomField, PhoneNumber
from crm.services import WriteOutcome, contact_write
from crm.validation import CONTACT_FIELDS, ContactAlreadyExists

from ..errors import AlreadyExists
from ..schema_params import NOT_BLANK as NOT_BLANK_PATTERN
from ..schema_params import NOT_SPACE, SPACE
from .countries import country_input_pattern
from .links import RemoteLinkSerializer

MAX_PHONE_NUMBERS = 20
MAX_TAGS = 50
DESCRIPTION_MAX_LENGTH = Contact._meta.get_field("description").max_length
MAX_CUSTOM_FIELDS = 100
MAX_REPORTED_UNKNOWN = 20
FIRST_NAME_MAX_LENGTH = Contact._meta.get_field("first_name").max_length
# Never fails (a blank value does not reach it): the schema's pattern for a non-blank name.
NOT_BLANK = RegexValidator(NOT_BLANK_PATTERN)

# Django's generic codes, renamed where the API documents a more precise one.
CODE_RENAMES = {"blank": "required"}
FIELD_CODE_RENAMES = {
    ("email", "invalid"): "invalid_email",
    ("linkedin_url", "invalid"): "invalid_url",
    ("website", "invalid"): "invalid_url",
}


class RejectUnknownFieldsMixin:
    """Unknown keys are an error (`unknown_field`) rather than silently dropped.

    A misspelt field ("phone" for "phone_numbers") would otherwise be a write that quietly
    does nothing. Read-only fields are known: a body fetched with GET can be sent back.
    """

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not unknown:
                raise
            errors = exc.detail
        else:
            if not unknown:
                return value
            errors = {}
        # Named one by one up to a bound, so a body of junk keys cannot inflate the answer.
        shown, hidden = unknown[:MAX_REPORTED_UNKNOWN], len(unknown) - MAX_REPORTED_UNKNOWN
        messages = [f"Unknown field “{name[:64]}”." for name in shown]
        if hidden > 0:
            messages.append(f"…and {hidden} more unknown fields.")
        errors.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).extend(
            ErrorDetail(message, code="unknown_field") for message in messages
        )
        raise serializers.ValidationError(errors)


# Blank is refused by the service (`invalid_phone`); whether a number is valid depends on the
# numbering plans, which the schema cannot state.
@extend_schema_field({"type": "string", "minLength": 1})
class RawLengthCharField(serializers.CharField):
    """Text only, and `max_length` counts the characters sent, as the schema's type and
    maxLength say. DRF also takes numbers, and trims
    first and takes a value of spaces, however long, for "" (and 152 characters with two
    spaces around them for 150): the schema's limit is the one applied."""

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)

    def to_internal_value(self, data):
        # Text only, as the schema says: DRF also takes a number (`"city": 5` stored "5").
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PhoneNumberField(RawLengthCharField):
    """Any format in, E.164 out. Parsing is the service's job, so its codes are the API's."""

    def to_representation(self, value) -> str:
        return getattr(value, "as_e164", None) or str(value)


class PhoneNumberSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """One of a contact's phone numbers. Unknown keys are refused (`unknown_field`)."""

    number = PhoneNumberField(
        allow_blank=True,
        help_text="Any format; stored and returned in E.164 (+5511988888888). National "
        "numbers are read in the server's default region.",
    )

    class Meta:
        model = PhoneNumber
        fields = ["id", "number", "type", "is_primary", "do_not_call"]
        read_only_fields = ["id"]
        extra_kwargs = {
            "is_primary": {
                "help_text": "At most one per contact; the first number is primary when none is."
            }
        }


class TagNamesField(serializers.ListField):
    # NOT_BLANK: a name of spaces is refused (`blank`) before it, and the schema says so.
    child = RawLengthCharField(max_length=64, validators=[NOT_BLANK])

    def get_attribute(self, instance: Contact):
        return instance.tags.all()

    def to_representation(self, tags) -> list[str]:
        return [tag.name for tag in tags]


@extend_schema_field(
    {
        "type": "string",
        "pattern": country_input_pattern(),
        "example": "BR",
        "description": "ISO 3166-1 alpha-2 code, or empty. Input also accepts lowercase codes "
        "and English country names; answers always carry the upper-case code.",
    },
    component_name="Country",
)
class CountryCodeField(CountryField):
    """Text only: django-countries also reads `{"code": …}` objects and numbers, which the
    schema does not offer (a number or an empty object would be taken as a country, or none)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class FirstNameField(RawLengthCharField):
    """Blank (or only spaces) is refused, by the service (`required`, the same answer as a
    missing name); the schema says so (minLength and a pattern), which it does only for a
    field that does not allow blank."""

    def __init__(self, **kwargs):
        super().__init__(allow_blank=False, min_length=1, **kwargs)
        self.validators.append(NOT_BLANK)

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str) and not data.strip():
            return ""
        return super().run_validation(data)


# The URLs Django's URLValidator takes, as far as a JSON Schema pattern can say it: a web or
# FTP scheme, a host name with a top-level domain of letters (or localhost), an optional port
# and path.
URL_PATTERN = (
    r"^(https?|ftps?)://(([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
    rf"|localhost)(:[0-9]{{1,5}})?([/?#]{NOT_SPACE}*)?$"
)
URL_MAX_LENGTH = 500


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": URL_MAX_LENGTH, "pattern": URL_PATTERN},
            # None: "" (or only spaces, which are trimmed).
            {"type": "string", "maxLength": URL_MAX_LENGTH, "pattern": f"^{SPACE}*$"},
        ]
    }
)
class URLTextField(RawLengthCharField):
    """A link, or "" for none (`invalid_url` otherwise)."""

    def __init__(self, **kwargs):
        super().__init__(
            max_length=URL_MAX_LENGTH,
            allow_blank=True,
            validators=[URLValidator(code="invalid_url")],
            **kwargs,
        )


EMAIL_MAX_LENGTH = 254


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "format": "email", "maxLength": EMAIL_MAX_LENGTH},
            # None: "" (or only spaces, which are trimmed).
            {"type": "string", "maxLength": EMAIL_MAX_LENGTH, "pattern": f"^{SPACE}*$"},
        ]
    }
)
class EmailTextField(RawLengthCharField):
    """An email address, or "" for none (`invalid_email` otherwise)."""


class ContactSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    """A contact with its phone numbers, tags and custom field values.

    Unknown keys are refused (`unknown_field`); read-only keys are accepted and ignored, so
    a contact fetched with GET can be sent back with PUT.
    """

    # After save(): whether the contact was created, updated or left as stored.
    write_outcome: WriteOutcome | None = None

    first_name = FirstNameField(max_length=FIRST_NAME_MAX_LENGTH)
    email = EmailTextField(
        max_length=EMAIL_MAX_LENGTH,
        allow_blank=True,
        required=False,
        validators=[EmailValidator(code="invalid_email")],
        help_text="Unique among contacts, compared case-insensitively; stored lowercased.",
    )
    linkedin_url = URLTextField(required=False)
    website = URLTextField(required=False)
    country = CountryCodeField(allow_blank=True, required=False)
    description = RawLengthCharField(
        max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        allow_null=True,
        required=False,
        help_text="The id of the staff user who owns the contact, or null.",
    )
    phone_numbers = PhoneNumberSerializer(
        many=True,
        required=False,
        max_length=MAX_PHONE_NUMBERS,
        help_text="When sent, replaces the contact's phone numbers with this list.",
    )
    tags = TagNamesField(
        required=False,
        max_length=MAX_TAGS,
        help_text="Tag names, matched case-insensitively and created on first use. "
        "When sent, replaces the contact's tags.",
    )
    custom_fields = serializers.DictField(
        required=False,
        help_text="Values keyed by custom field key, validated by the field's type. "
        "POST and PUT replace all values; PATCH merges into the stored values, and a key "
        "set to null removes that value.",
    )
    remote_links = RemoteLinkSerializer(many=True, read_only=True)

    # The model's text fields (last_name, company, …) as RawLengthCharField.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: RawLengthCharField,
        models.TextField: RawLengthCharField,
    }

    class Meta:
        model = Contact
        fields = [
            "id",
            "full_name",
            *CONTACT_FIELDS,
            "phone_numbers",
            "tags",
            "custom_fields",
            "created_at",
            "updated_at",
            "remote_links",
        ]
        read_only_fields = ["id", "full_name", "created_at", "updated_at"]
        extra_kwargs = {
            "source": {"help_text": "Defaults to `api` for contacts created through the API."}
        }

    def validate_custom_fields(self, value: dict) -> dict:
        # Each unknown key is reported by the service; a bound keeps that answer small.
        if len(value) > MAX_CUSTOM_FIELDS:
            raise serializers.ValidationError(
                f"Ensure this object has no more than {MAX_CUSTOM_FIELDS} keys.",
                code="max_length",
            )
        return value

    def create(self, validated_data: dict[str, Any]) -> Contact:
        validated_data.setdefault("source", Contact.Source.API)
        # Always validated on create, so required custom fields are enforced.
        validated_data.setdefault("custom_fields", {})
        return self.write_contact(None, validated_data)

    def update(self, instance: Contact, validated_data: dict[str, Any]) -> Contact:
        if self.partial and "custom_fields" in validated_data:
            validated_data["custom_fields"] = custom_fields_merge(
                instance.custom_fields, validated_data["custom_fields"]
            )
        return self.write_contact(instance, validated_data)

    def write_contact(self, contact: Contact | None, data: dict[str, Any]) -> Contact:
        phone_numbers = data.pop("phone_numbers", None)
        tags = data.pop("tags", None)
        custom_fields = data.pop("custom_fields", None)
        try:
            written = contact_write(
                contact=contact,
                data=data,
                phone_numbers=phone_numbers,
                tags=tags,
                custom_fields=custom_fields,
            )
        except ContactAlreadyExists as exc:
            raise AlreadyExists(
                exc.messages[0], existing_id=exc.existing.pk, attr="email"
            ) from None
        except DjangoValidationError as exc:
            raise serializers.ValidationError(service_errors_to_drf(exc)) from None
        self.write_outcome = written.outcome
        return written.contact


def custom_fields_merge(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict:
    """PATCH semantics for custom_fields: sent keys change, null removes, others stay.

    Stored values whose definition was deleted are dropped rather than reported as unknown
    fields the client never sent.
    """
    defined = set(CustomField.objects.values_list("key", flat=True))
    merged = {key: value for key, value in stored.items() if key in defined}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def service_errors_to_drf(exc: DjangoValidationError) -> dict:
    """The service's errors as DRF field errors, nested where they concern one item.

    Phone errors carry params["index"] and become phone_numbers.<index>.number (or .type);
    custom-field errors carry params["key"] and become custom_fields.<key>.
    """
    detail: dict[str, Any] = {}
    for field, errors in exc.error_dict.items():
        name = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field
        for error in errors:
            params = error.params or {}
            code = error.code or "invalid"
            code = FIELD_CODE_RENAMES.get((name, code), CODE_RENAMES.get(code, code))
            message = str(error.message % params if params else error.message)
            item = ErrorDetail(message, code=code)
            if name == "phone_numbers":
                place = detail.setdefault(name, {})
                if "index" in params:
                    attr = "type" if code == "invalid_choice" else "number"
                    place.setdefault(str(params["index"]), {}).setdefault(attr, []).append(item)
                else:
                    place.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).append(item)
            elif name == "custom_fields" and "key" in params:
                detail.setdefault(name, {}).setdefault(str(params["key"]), []).append(item)
            else:
                detail.setdefault(name, []).append(item)
    return detail
