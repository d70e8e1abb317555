"""A connection's adapter, as the push engine, the batch triage and the admin use it, and the
hash that tells whether a provider already has a payload."""

import hashlib
import json

from django.db import transaction

from .models import Connection
from .providers import Adapter, adapter_class
from .providers.base_http import session_for


def adapter_for(connection: Connection, **kwargs) -> Adapter:
    return adapter_class(connection.provider)(
        base_url=connection.base_url,
        api_key=connection.api_key,
        options=connection.options,
        session=session_for(("connection", connection.pk)),
        # What an adapter learns for later pushes (Close's lead per company) is kept here.
        remember=lambda key, entries: connection_options_merge(
            connection=connection, key=key, entries=entries
        ),
        **kwargs,
    )


def payload_hash(payload: dict) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def connection_options_merge(*, connection: Connection, key: str, entries: dict) -> None:
    """Merge `entries` into the object stored under the connection's option `key`, under a
    row lock, so two workers remembering different entries at once both keep theirs."""
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        options = dict(locked.options or {})
        options[key] = {**(options.get(key) or {}), **entries}
        Connection.objects.filter(pk=connection.pk).update(options=options)
    connection.options = options
