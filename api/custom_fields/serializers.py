"""A custom field's definition as clients read it, to build forms and check values."""

from rest_framework import serializers

from crm.models import CustomField


class CustomFieldSerializer(serializers.ModelSerializer):
    key = serializers.CharField(
        read_only=True, help_text="The key of the value in a contact's `custom_fields`."
    )
    choices = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The allowed values of a `choice` field (any case); empty for other types.",
    )

    class Meta:
        model = CustomField
        fields = ["key", "label", "type", "choices", "required", "help_text"]
        read_only_fields = fields
        extra_kwargs = {
            "type": {
                "help_text": "How a value is checked and stored: `text` (up to 2000 "
                "characters), `number`, `date` (YYYY-MM-DD), `boolean`, `choice` (one of "
                "`choices`), `url` or `email`."
            },
            "required": {"help_text": "Whether every contact must have a value."},
            "help_text": {"help_text": "The hint the admin shows under the field; may be empty."},
        }


class CustomFieldListSerializer(serializers.Serializer):
    results = CustomFieldSerializer(many=True, help_text="Every field, in the admin's order.")
