"""What a push of a contact would send to a connection, without sending anything.

The adapter runs as in a push, but on a session that records each request instead of sending
it and answers "nothing found" to lookups and a placeholder id to creates. So the preview is
the adapter's own output, not a second rendering of it that could drift, and every provider
gets it without code of its own.
"""

import base64
import io
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from crm.models import Contact

from .. import crypto
from ..adapters import payload_hash
from ..mapping import mapping_text
from ..models import Connection, RemoteLink
from ..providers import ProviderError, adapter_class

PLACEHOLDER_ID = "(id from the provider)"
# Enough for every adapter's reading of a miss (GetRaze, Klen and Close lists, Contactship's
# 200-without-id) and of a create (GetRaze's data.id, the others' id).
NOTHING_FOUND = {"success": True, "data": [], "contacts": [], "pages": 0, "cursor": None}
CREATED = {"success": True, "id": PLACEHOLDER_ID, "data": {"id": PLACEHOLDER_ID}}


@dataclass
class Preview:
    connection: Connection
    operation: str = ""  # create or update
    skipped: str = ""
    unchanged: bool = False
    error: str = ""
    # Values left out because the provider can't take them (a tag outside Close's choices).
    warnings: list[str] = field(default_factory=list)
    unchecked: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mapping(self) -> list[str]:
        return mapping_text(self.connection.field_map)


class RecordingSession(requests.Session):
    """Records each request the adapter makes and answers it with `answer`, sending nothing."""

    def __init__(self, api_key: str):
        super().__init__()
        self.api_key = api_key
        self.answer: dict = NOTHING_FOUND
        self.sent: list[dict[str, Any]] = []

    def request(self, method, url, params=None, json=None, headers=None, data=None, **kwargs):
        self.sent.append(
            {
                "method": method,
                "url": url + (f"?{urlencode(params)}" if params else ""),
                "headers": {k: self.mask(k, v) for k, v in (headers or {}).items()},
                # A body sent byte for byte (a webhook's signed one) is JSON too.
                "body": _pretty(json) if data is None else _pretty(_loads(data)),
            }
        )
        response = requests.Response()
        response.status_code = 200
        response.url = url
        response.headers["Content-Type"] = "application/json"
        # The body the adapter reads, given the way a transport adapter gives it.
        response.raw = io.BytesIO(_dumps(self.answer).encode())
        return response

    def mask(self, name: str, value: str) -> str:
        if not self.api_key:
            return value
        secrets = (self.api_key, base64.b64encode(f"{self.api_key}:".encode()).decode())
        for secret in secrets:
            value = value.replace(secret, crypto.mask(self.api_key) or "••••")
        return value


def payload_previews(*, contact: Contact) -> list[Preview]:
    """One preview per connection, in the connections' order."""
    contact = Contact.objects.prefetch_related("tags", "phone_numbers").get(pk=contact.pk)
    links = {link.connection_id: link for link in RemoteLink.objects.filter(contact=contact)}
    return [
        payload_preview(contact=contact, connection=c, link=links.get(c.pk))
        for c in Connection.objects.all()
    ]


def payload_preview(
    *, contact: Contact, connection: Connection, link: RemoteLink | None = None
) -> Preview:
    preview = Preview(connection)
    try:
        api_key = connection.api_key
    except crypto.SecretUnreadable as exc:
        api_key, preview.error = "", str(exc)
    session = RecordingSession(api_key)
    adapter = adapter_class(connection.provider)(
        base_url=connection.base_url,
        api_key=api_key,
        options=connection.options,
        field_map=connection.field_map,
        provider_fields=connection.provider_fields,
        session=session,
    )
    payload = adapter.build_payload(contact)
    preview.warnings = adapter.payload_warnings
    rules = adapter.mapping_rules
    # Close's fields never fetched: its values go as they are, unchecked against its choices.
    preview.unchecked = bool(
        rules and rules.values == "close" and adapter.field_map and adapter.provider_fields is None
    )
    preview.skipped = adapter.skip_reason(payload) or ""
    if preview.skipped:
        return preview
    remote_id = link.remote_id if link else ""
    # The engine's own comparison: unchanged here means the push would send nothing.
    preview.unchanged = bool(remote_id) and link.payload_hash == payload_hash(payload)
    try:
        if remote_id:
            preview.operation = "update"
            session.answer = CREATED
            adapter.update(remote_id, payload)
        else:
            preview.operation = "create"
            adapter.lookup(payload)  # the engine looks before it creates
            session.answer = CREATED
            adapter.create(payload, context=adapter.build_context(contact))
    except ProviderError as error:
        preview.error = error.message
    preview.requests = session.sent
    return preview


def _loads(data: bytes):
    return json.loads(data)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _pretty(value) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False, default=str)
