"""A contact's links to provider records, as `remote_links` shows them."""

from rest_framework import serializers

from integrations.models import RemoteLink


class LinkErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The provider's error code, e.g. INVALID_EMAIL.")
    message = serializers.CharField()


class RemoteLinkSerializer(serializers.ModelSerializer):
    connection = serializers.CharField(source="connection.name", read_only=True)
    provider = serializers.CharField(source="connection.provider", read_only=True)
    last_error = LinkErrorSerializer(read_only=True, allow_null=True)

    class Meta:
        model = RemoteLink
        fields = ["connection", "provider", "remote_id", "state", "last_error", "last_pushed_at"]
        read_only_fields = fields
