"""Contactship API v1 (see /work/shared/providers/contactship.md and its create-contact seed).

Contactship documents full_name, phone_number, country, email, description and typed
`additional_data` items; what else a contact holds (company, job title, URLs, address, tags,
custom fields) travels as additional_data, so nothing staff entered is lost there.
"""

from functools import cached_property
from urllib.parse import quote

from crm.models import CustomField

from .base import Adapter, Answer, ProviderError

# The documented item types are text, number, date and location; other field types are text.
ITEM_TYPES = {
    CustomField.Type.TEXT: "text",
    CustomField.Type.NUMBER: "number",
    CustomField.Type.DATE: "date",
}


class ContactshipAdapter(Adapter):
    provider = "contactship"
    default_base_url = "https://api.contactship.ai"
    check_path = "/v1/contacts"  # "Test connection": the first page of contacts
    # No error codes are documented: the status classifies (400 permanent, 401 auth, 5xx
    # retryable), and a 409 (same phone number) sends the engine to the lookup.

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key}

    def build_payload(self, contact) -> dict:
        phone = contact.primary_phone()
        return {
            "full_name": contact.full_name,
            # The duplicate key: always the same E.164 form, so the lookup finds it.
            "phone_number": phone.number.as_e164 if phone else None,
            # Assumed: a country name, as every example in the docs has ("México"), not ISO-2.
            "country": contact.country.name if contact.country else None,
            "email": contact.email or None,
            "description": contact.description or None,
            # A PATCH replaces the whole array, so it is always sent complete.
            "additional_data": self._additional_data(contact),
        }

    def _additional_data(self, contact) -> list[dict]:
        location = ", ".join(
            part
            for part in (
                contact.address,
                contact.city,
                " ".join(p for p in (contact.state, contact.zip_code) if p),
            )
            if part
        )
        tags = ", ".join(sorted((tag.name for tag in contact.tags.all()), key=str.lower))
        items = [
            ("text", "company", contact.company),
            ("text", "job_title", contact.title),
            ("text", "website", contact.website),
            ("text", "linkedin_url", contact.linkedin_url),
            ("location", "address", location),
            ("text", "tags", tags),
        ]
        values = contact.custom_fields or {}
        types = self._custom_field_types if values else {}
        items += [
            (ITEM_TYPES.get(types.get(key), "text"), key, _text(value))
            for key, value in sorted(values.items())
        ]
        return [
            {"type": kind, "field": field, "value": value}
            for kind, field, value in items
            if value not in (None, "")
        ]

    @cached_property
    def _custom_field_types(self) -> dict[str, str]:
        # Read once per adapter, which lives for one push or one batch of them, so a batch
        # costs one query here, not one per contact. Fields deleted since are sent as text.
        return dict(CustomField.objects.values_list("key", "type"))

    def skip_reason(self, payload: dict) -> str | None:
        if not payload["phone_number"]:
            return "Contactship requires a phone number"
        return None

    def create(self, payload: dict) -> str:
        body = {key: value for key, value in payload.items() if value is not None}
        answer = self.request("create", "POST", "/v1/contacts", json_body=body)
        if not isinstance(answer.body, dict) or not answer.body.get("id"):
            raise self.error(
                "The create answer has no id.",
                code="invalid_response",
                status=answer.status,
                ambiguous=True,
            )
        # Opaque: the docs say UUID, but their own example isn't valid hex.
        return str(answer.body["id"])

    def update(self, remote_id: str, payload: dict) -> None:
        # PATCH is partial: null clears a field we emptied, omitted fields would stay.
        path = f"/v1/contacts/{quote(remote_id, safe='')}"
        self.request("update", "PATCH", path, json_body=payload)

    def lookup(self, payload: dict) -> str | None:
        phone = payload.get("phone_number")
        if not phone:
            return None
        path = f"/v1/contacts/{quote(phone, safe='')}"  # "+" must travel as %2B
        try:
            answer = self.request("lookup", "GET", path, params={"identifierType": "phone_number"})
        except ProviderError as error:
            if error.status == 404:
                return None
            raise
        found = answer.body.get("id") if isinstance(answer.body, dict) else None
        return str(found) if found else None

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        # The error body is undocumented: a message from `message`, then `error`, else the
        # raw text (the base's fallback).
        body = answer.body if isinstance(answer.body, dict) else {}
        message = body.get("message") or body.get("error") or ""
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        code = body.get("code")
        return (code if isinstance(code, str) else ""), str(message)


def _text(value) -> str:
    """additional_data values are strings; booleans read as true/false, not Python's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
