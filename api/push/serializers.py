"""The push request and its answer."""

from rest_framework import serializers

from integrations.models import Connection

from ..contacts.links import RemoteLinkSerializer
from ..contacts.serializers import RejectUnknownFieldsMixin

MAX_CONNECTION_NAMES = 100


class PushRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Unknown keys are refused (`unknown_field`), as in a contact's body."""

    connections = serializers.ListField(
        child=serializers.CharField(max_length=100),
        min_length=1,
        # Bounds the names bound in the lookup below, whatever the body holds.
        max_length=MAX_CONNECTION_NAMES,
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
