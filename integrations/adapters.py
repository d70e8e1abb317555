"""A connection's adapter, as the push engine, the batch triage and the admin use it, and the
hash that tells whether a provider already has a payload."""

import hashlib
import json

from django.utils import timezone

from .models import Connection, RemoteReference
from .pace import rate_learn
from .providers import Adapter, adapter_class
from .providers.base_http import session_for


def adapter_for(connection: Connection, **kwargs) -> Adapter:
    return adapter_class(connection.provider)(
        base_url=connection.base_url,
        api_key=connection.api_key,
        options=connection.options,
        field_map=connection.field_map,
        provider_fields=connection.provider_fields,
        session=session_for(("connection", connection.pk)),
        # What an adapter learns for later pushes (Close's lead per company) is kept here.
        references=ConnectionReferences(connection),
        # What each answer says of the provider's rate window sets the connection's pace.
        pace=lambda window: rate_learn(connection=connection, window=window),
        **kwargs,
    )


def payload_hash(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ConnectionReferences:
    """An adapter's references (providers.base.References) kept in RemoteReference rows of
    its connection, out of the options staff edit."""

    def __init__(self, connection: Connection):
        self.connection = connection

    def get(self, kind: str, key: str) -> str | None:
        rows = RemoteReference.objects.filter(connection=self.connection, kind=kind, key=key[:255])
        return rows.values_list("remote_id", flat=True).first()

    def put(self, kind: str, key: str, remote_id: str) -> None:
        # An upsert: two workers remembering the same key at once both succeed, the last wins.
        row = RemoteReference(
            connection=self.connection,
            kind=kind,
            key=key[:255],
            remote_id=remote_id,
            updated_at=timezone.now(),
        )
        RemoteReference.objects.bulk_create(
            [row],
            update_conflicts=True,
            unique_fields=["connection", "kind", "key"],
            update_fields=["remote_id", "updated_at"],
        )

    def drop(self, kind: str, key: str, remote_id: str) -> None:
        # Only the entry that was found gone: another worker's newer one stays.
        RemoteReference.objects.filter(
            connection=self.connection, kind=kind, key=key[:255], remote_id=remote_id
        ).delete()
