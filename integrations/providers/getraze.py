"""GetRaze external API v1 (docs/providers/getraze.md).

The published docs and the vendor's server code disagree on several names; we send what the
docs (our contract) define and, where harmless, the name the code reads as well.
"""

import time

from .base import INVENTORY, Adapter, Answer, Inventory, OptionField, Rules
from .base_errors import parse_retry_after
from .base_http import KeyHeader

# No unique index on email in its code (the docs promise a 409): an inventory, by the keys
# `lookup` searches in its order, read oldest first (records made meanwhile shift no page).
KEYS = (("email", "email"), ("phone", "phone"))
OLDEST_FIRST = {"sort_by": "created_at", "sort_order": "asc"}


class GetRazeAdapter(Adapter):
    provider, label = "getraze", "GetRaze"
    default_base_url = "https://app.getraze.com/external/v1"
    documented_rate, advertises_rate = 1000 / 3600, True  # 1,000 an hour a key; headers say
    auth_scheme = KeyHeader("X-API-Key")
    mapping_rules = Rules("custom_fields.", "json")  # default: every custom field by its key
    option_fields = (OptionField("source", "Sent as every contact's source instead of ours."),)
    delete_path = "/contacts/{}"  # needs the key's contacts:delete permission
    create_path, inventory = INVENTORY, Inventory(KEYS, params=OLDEST_FIRST)
    permanent_codes = ("VALIDATION_ERROR", "INVALID_EMAIL", "INVALID_PARAMETER")
    permanent_codes += ("MISSING_REQUIRED_FIELD", "ALREADY_EXISTS", "CONFLICT", "DUPLICATE_ERROR")
    permanent_codes += ("NOT_FOUND",)

    def build_payload(self, contact) -> dict:
        phone = contact.primary_phone()
        title, linkedin = contact.title or None, contact.linkedin_url or None
        return {
            "name": contact.full_name,
            "email": contact.email or None,
            "phone": phone.number.as_e164 if phone else None,
            "company": contact.company or None,
            # The docs name `position`; the vendor's code reads `title`. Both, so either works.
            "position": title,
            "title": title,
            # Same story: docs `linkedin_url`, code `linkedin_profile_url`.
            "linkedin_url": linkedin,
            "linkedin_profile_url": linkedin,
            # Sent explicitly: the docs default to "other", the code to "api".
            "source": self.options.get("source") or contact.source,
            "tags": self.tag_names(contact),  # names, as the docs define
            # A PUT replaces the whole object, so the complete map is always sent.
            "custom_fields": self.mapped_object(contact),
        }

    def skip_reason(self, payload: dict) -> str | None:
        # GetRaze's database rejects a contact with neither (a 500, not a 400), so don't send it.
        if not payload["email"] and not payload["phone"]:
            return "GetRaze needs an email or a phone number; this contact has neither."
        return None

    def create(self, payload: dict, *, context=None) -> str:
        answer = self.request("create", "POST", "/contacts", json_body=self.without_empty(payload))
        return self.answer_id(answer, "data.id")

    def update(self, remote_id: str, payload: dict) -> None:
        # PUT is partial at GetRaze (only sent keys change), so null clears a field we emptied.
        self.request("update", "PUT", self.path("/contacts/{}", remote_id), json_body=payload)

    def lookup(self, payload: dict) -> str | None:
        # Substring filters (ILIKE), so rows compared exactly; `phone` only the code documents.
        key = self.duplicate_key(payload)
        return key and self.find_exact("/contacts", field=key[0], value=key[1], params=dict([key]))

    def read_page(self, body: dict, page: int) -> tuple[list, bool]:
        # The code answers {data: [...], pagination}, the docs {data: {contacts, pagination}}.
        data = body.get("data")
        if isinstance(data, dict):
            rows, pagination = data.get("contacts") or [], data.get("pagination") or {}
        else:
            rows, pagination = data or [], body.get("pagination") or {}
        if "has_next" in pagination:
            return list(rows), bool(pagination["has_next"])
        return list(rows), page < int(pagination.get("total_pages") or 0)

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        error = answer.json_object.get("error")
        if not isinstance(error, dict):
            return "", ""
        message = str(error.get("message") or "")
        fields = (error.get("details") or {}).get("fields")
        if isinstance(fields, dict) and fields:
            message += " (" + "; ".join(f"{k}: {v}" for k, v in fields.items()) + ")"
        return str(error.get("code") or ""), message

    def retry_after(self, answer: Answer) -> float | None:
        # The vendor sends no Retry-After header (a proxy might); its body and reset time do.
        seconds = parse_retry_after(answer.headers.get("Retry-After"))
        if seconds is None:
            seconds = (answer.json_object.get("error") or {}).get("retry_after")
        if seconds is None and answer.headers.get("X-RateLimit-Reset"):
            seconds = float(answer.headers["X-RateLimit-Reset"]) - time.time()
        return max(0.0, float(seconds)) if seconds is not None else None
