"""Contactship API v1 (docs/providers/contactship.md).

Contactship documents full_name, phone_number, country, email, description and typed
`additional_data` items; what else a contact holds (company, job title, URLs, address, tags,
custom fields) travels as additional_data, so nothing staff entered is lost there.
"""

from crm.models import CustomField

from .base import CREATE_FIRST, Adapter, Answer, Rules
from .base_http import KeyHeader

# The documented item types are text, number, date and location; other field types are text.
ITEM_TYPES = {CustomField.Type.TEXT, CustomField.Type.NUMBER, CustomField.Type.DATE}


class ContactshipAdapter(Adapter):
    provider, label = "contactship", "Contactship"
    default_base_url = "https://api.contactship.ai"
    documented_rate = 2.0  # none documented: a cautious few a second
    auth_scheme = KeyHeader("x-api-key")
    mapping_rules = Rules("additional_data.", "items")  # default: every custom field, typed
    check_path = "/v1/contacts"  # "Test connection": the first page of contacts
    delete_path, create_path = "/v1/contacts/{}", CREATE_FIRST  # 204; no lookup before creating
    # No error codes are documented: the status classifies (400 permanent, 401 auth, 5xx
    # retryable), and a 409 (same phone number) sends the engine to the lookup.

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
        # Every value is a string; booleans read as true/false, not Python's.
        region = " ".join(p for p in (contact.state, contact.zip_code) if p)
        location = ", ".join(p for p in (contact.address, contact.city, region) if p)
        items = [
            ("text", "company", contact.company),
            ("text", "job_title", contact.title),
            ("text", "website", contact.website),
            ("text", "linkedin_url", contact.linkedin_url),
            ("location", "address", location),
            ("text", "tags", ", ".join(self.tag_names(contact))),
        ]
        mapped = self.mapped_values(contact)
        if mapped is None:  # the default: every custom field, typed by its field's type
            values = contact.custom_fields or {}
            types = self.custom_field_types if values else {}
            custom = [(k, v, types.get(k, "text")) for k, v in sorted(values.items())]
        else:  # a mapped item replaces a built-in one of the same name
            custom = sorted(mapped.values, key=lambda item: item[0])
            items = [item for item in items if item[1] not in {k for k, _, _ in custom}]
        items += [(t if t in ITEM_TYPES else "text", k, _text(v)) for k, v, t in custom]
        return [{"type": t, "field": f, "value": v} for t, f, v in items if v not in (None, "")]

    def skip_reason(self, payload: dict) -> str | None:
        return None if payload["phone_number"] else "Contactship requires a phone number"

    def create(self, payload: dict, *, context=None) -> str:
        body = self.without_empty(payload)
        answer = self.request("create", "POST", "/v1/contacts", json_body=body)
        return self.answer_id(answer, "id")  # opaque: the docs' own example UUID isn't hex

    def update(self, remote_id: str, payload: dict) -> None:
        # PATCH is partial: null clears a field we emptied, omitted fields would stay.
        self.request("update", "PATCH", self.path("/v1/contacts/{}", remote_id), json_body=payload)

    def lookup(self, payload: dict) -> str | None:
        phone = payload.get("phone_number")
        if not phone:
            return None
        path = self.path("/v1/contacts/{}", phone)  # "+" must travel as %2B
        answer = self.read_if_found(path, params={"identifierType": "phone_number"})
        found = answer.json_object.get("id") if answer else None
        return str(found) if found else None

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        # The error body is undocumented: a message from `message`, then `error`, else the
        # raw text (the base's fallback).
        body, code = answer.json_object, answer.json_object.get("code")
        message = body.get("message") or body.get("error") or ""
        message = "; ".join(str(m) for m in message) if isinstance(message, list) else message
        return (code if isinstance(code, str) else ""), str(message)


def _text(value) -> str:
    if isinstance(value, list):  # tags: one text item, as the built-in one
        return ", ".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else "" if value is None else str(value)
