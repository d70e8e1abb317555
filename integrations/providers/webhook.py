"""Webhooks: every change of a contact POSTed to another application's URL
(docs/providers/webhook.md), signed as the Standard Webhooks specification defines.

A delivery is `{"type": "contact.created" | "contact.updated" | "contact.deleted",
"timestamp", "data"}`, `data` being the contact as the API shows it. There is no remote
record: the contact's own id stands for it, so the engine's create is `contact.created`, its
update `contact.updated` and its remote delete `contact.deleted`.
"""

import json
import time

from django.utils import timezone

from ..representation import contact_data
from .base import CREATE_FIRST, Adapter, Answer
from .base_http import KeyHeader
from .signing import message_id, secret_bytes, settings_problem, signed_headers


class WebhookAdapter(Adapter):
    provider, label = "webhook", "Webhook"
    default_base_url = ""  # the receiver's URL is the connection's own
    documented_rate = 10.0  # a receiver documents none: ten deliveries a second
    auth_scheme = KeyHeader("webhook-signature")  # not sent as is: the secret signs bodies
    answers_json = False  # any 2xx acknowledges, whatever its body
    delete_path = ""  # deliveries of contact.deleted (see delete)
    notifies_deletes = exact_url = True
    create_path = CREATE_FIRST  # a delivery: nothing to look up before it

    @classmethod
    def settings_problem(cls, *, base_url: str, api_key: str) -> str | None:
        return settings_problem(base_url=base_url, api_key=api_key)

    def __init__(self, *, base_url: str, **kwargs):
        super().__init__(base_url=base_url, **kwargs)
        self.endpoint = "/" if base_url.endswith("/") else ""  # the base drops it

    def auth_headers(self) -> dict[str, str]:
        return {}

    def error(self, message: str, **kwargs):
        # Delivered at least once, under a stable webhook-id: never an "ambiguous" create
        # to look up (there is nothing to look up), only a delivery to try again.
        return super().error(message, **{**kwargs, "ambiguous": False})

    def classify(self, answer: Answer):
        error = super().classify(answer)
        error.gone = answer.status == 410  # the receiver asks us to stop: disabled
        error.misconfigured |= answer.status == 404  # no receiver at this URL
        return error

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        if answer.status == 410:
            return "gone", "The receiver answered 410 Gone: it wants no more deliveries."
        return "", ""

    def build_payload(self, contact) -> dict:
        data = contact_data(contact.pk) or {}
        # Our own sync state, which this very delivery changes: not part of the contact.
        data.pop("remote_links", None)
        return data

    def skip_reason(self, payload: dict) -> str | None:
        return None if payload.get("id") else "The contact was deleted meanwhile."

    def create(self, payload: dict, *, context=None) -> str:
        self.deliver("create", "contact.created", payload)
        return str(payload["id"])

    def update(self, remote_id: str, payload: dict) -> None:
        self.deliver("update", "contact.updated", payload)

    def lookup(self, payload: dict) -> str | None:
        return None  # a receiver holds no record we could find: each create is delivered

    def delete(self, remote_id: str) -> None:
        data = {"id": int(remote_id) if remote_id.isdigit() else remote_id}
        self.deliver("delete", "contact.deleted", data)

    def check(self) -> None:
        self.deliver("lookup", "webhook.test", {})

    def deliver(self, operation: str, event: str, data: dict) -> Answer:
        when = data.get("updated_at") or timezone.now().isoformat().replace("+00:00", "Z")
        body = {"type": event, "timestamp": when, "data": data}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()
        key = secret_bytes(self._api_key)
        # Stable across the retries of one delivery (same event, contact and version), and
        # new for each change: the receiver may drop a webhook-id it has already handled.
        seed = f"{event}.{data.get('id')}.{data.get('updated_at') or ''}"
        headers = signed_headers(
            key=key, message_id=message_id(key=key, seed=seed), timestamp=int(time.time()), body=raw
        )
        headers["Content-Type"] = "application/json"
        return self.request(operation, "POST", self.endpoint, data=raw, headers=headers)
