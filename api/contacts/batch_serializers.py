"""The batch upsert's request item and its answer, for validation of the batch's shape and
for the OpenAPI schema. Each item itself is checked by ContactSerializer."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .serializers import FIRST_NAME_MAX_LENGTH, ContactSerializer, FirstNameField

MAX_BATCH_ITEMS = 100


class ItemStatus:
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERROR = "error"
    CHOICES = [CREATED, UPDATED, UNCHANGED, ERROR]


# A component of its own: as a plain inline enum the schema's enum hook would name it after the
# property, "status", which the contact's own status enum (StatusEnum) is named after, and
# rename both; under allOf, generated clients read it as an object.
@extend_schema_field(
    {"type": "string", "enum": ItemStatus.CHOICES}, component_name="ItemStatusEnum"
)
class ItemStatusField(serializers.ChoiceField):
    pass


class ContactBatchItemSerializer(ContactSerializer):
    """One contact of a batch, as the schema shows it: a contact body, with `id` to match.

    Validation uses ContactSerializer itself, whose `id` is read-only (accepted, ignored);
    the batch reads `id` to find the contact before that.
    """

    id = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="The contact to update. Left out, the contact is matched by `email` "
        "(any case), and created when no contact has it.",
    )
    first_name = FirstNameField(
        max_length=FIRST_NAME_MAX_LENGTH,
        required=False,
        help_text="Required to create a contact; an update keeps the stored one.",
    )


class ItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable code, as in a single write's errors.")
    detail = serializers.CharField()
    attr = serializers.CharField(
        allow_null=True, help_text="The field, in the item (`phone_numbers.0.number`)."
    )


class ItemErrorResponseSerializer(serializers.Serializer):
    """The envelope a single write of this item would have answered with."""

    type = serializers.ChoiceField(choices=["validation_error", "client_error"])
    errors = ItemErrorSerializer(many=True)
    existing_id = serializers.IntegerField(
        required=False,
        help_text="With `already_exists`: the id of the contact that has the email.",
    )


class ContactBatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The item's position in the request, from 0.")
    status = ItemStatusField(
        choices=ItemStatus.CHOICES,
        help_text="`created`, `updated`, `unchanged` (the contact already had these values: "
        "nothing was written or pushed) or `error` (nothing was written for this item).",
    )
    id = serializers.IntegerField(
        allow_null=True,
        help_text="The contact's id; null when an item that would create a contact failed.",
    )
    errors = ItemErrorResponseSerializer(
        allow_null=True, help_text="With `error`: why, in the API's error envelope; else null."
    )


class ContactBatchResultSerializer(serializers.Serializer):
    results = ContactBatchItemResultSerializer(
        many=True, help_text="One result per item, in the request's order."
    )
