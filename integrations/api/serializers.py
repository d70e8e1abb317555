"""The contact's provider links as the API shows them, and the push request."""

from rest_framework import serializers

from ..models import Connection, RemoteLink


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


class PushRequestSerializer(serializers.Serializer):
    connections = serializers.ListField(
        child=serializers.CharField(max_length=100),
        min_length=1,
        required=False,
        help_text="Connection names. Left out: every enabled connection.",
    )

    def validate_connections(self, names: list[str]) -> list[Connection]:
        found = {c.name: c for c in Connection.objects.filter(name__in=names)}
        unknown = [name for name in names if name not in found]
        if unknown:
            raise serializers.ValidationError(
                f"No connection named {', '.join(unknown)}.", code="unknown_connection"
            )
        disabled = [name for name in names if not found[name].enabled]
        if disabled:
            raise serializers.ValidationError(
                f"Connection {', '.join(disabled)} is disabled.", code="connection_disabled"
            )
        return [found[name] for name in dict.fromkeys(names)]


class PushResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Pushes queued; the worker sends them.")
    remote_links = RemoteLinkSerializer(many=True)
