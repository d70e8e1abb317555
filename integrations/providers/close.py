"""Close API v1 (docs/providers/close.md).

A Close contact lives in a lead, chosen by the connection's options (close_leads); the choice
travels as the create's context, not in the payload. Custom fields and tags go to the Close
fields the connection's mapping names (`custom.cf_<id>=cf:industry`); nothing by default.
"""

from ..mapping import Mapped
from .base import INVENTORY, Adapter, Answer, OptionField, Rules
from .base_http import BasicKeyAsUser
from .base_inventory import Inventory
from .close_leads import create_in_lead, lead_choice
from .close_search import INVENTORY_KEYS, contact_search_body, contacts_page_body

# Ours → Close's phone types (office, mobile, home, direct, fax, other).
PHONE_TYPES = {"mobile": "mobile", "work": "office", "home": "home", "fax": "fax"}


class CloseAdapter(Adapter):
    provider, label = "close", "Close"
    default_base_url = "https://api.close.com/api/v1"
    documented_rate, advertises_rate = 20.0, True  # the docs' example; RateLimit says more
    auth_scheme = BasicKeyAsUser()
    option_fields = (
        OptionField("lead_strategy", "new (the default), by_company or fixed."),
        OptionField("lead_id", "The lead of every contact, with the fixed strategy."),
    )
    mapping_rules = Rules("custom.", "close", key_example="cf_…")
    legacy_map_option = "custom_field_map"  # the mapping's former place
    check_path, check_params = "/me/", {}  # "Test connection": the key's own user
    delete_path = "/contact/{}/"  # (no error codes at Close: statuses classify, 400s name fields)
    create_path = INVENTORY  # no unique email or phone: the search, 200 a page, by cursor
    inventory = Inventory(INVENTORY_KEYS, "/data/search/", body=contacts_page_body)

    def build_payload(self, contact) -> dict:
        urls = (contact.linkedin_url, contact.website)
        payload = {
            "name": contact.full_name,
            "title": contact.title or None,
            # Lists replace the remote ones on a PUT, so they are always sent complete.
            "emails": [{"email": contact.email, "type": "office"}] if contact.email else [],
            "phones": [
                {"phone": phone.number.as_e164, "type": PHONE_TYPES.get(phone.type, "other")}
                for phone in contact.phones()
            ],
            "urls": [{"url": url, "type": "url"} for url in urls if url],
        }
        # Unmapped fields stay home; a mapped field without a value is null, so a PUT clears
        # it. A value the field can't take (not a choice) is left out (payload_warnings).
        for key, value, _ in (self.mapped_values(contact) or Mapped()).values:
            payload[f"custom.{key}"] = value
        return payload

    def build_context(self, contact) -> dict | None:
        return lead_choice(self.options, contact)

    def create(self, payload: dict, *, context: dict | None = None) -> str:
        def post(lead: str | None) -> str:
            body = ({"lead_id": lead} if lead else {}) | self.without_empty(payload)
            return self.answer_id(self.request("create", "POST", "/contact/", json_body=body), "id")

        return create_in_lead(self, context, post)

    def update(self, remote_id: str, payload: dict) -> None:
        # PUT acts as a patch; null clears. The contact stays in the lead it was created in:
        # a changed company or strategy doesn't move existing contacts.
        self.request("update", "PUT", self.path("/contact/{}/", remote_id), json_body=payload)

    def lookup(self, payload: dict) -> str | None:
        # Through the search index, as Close's own scripts do; it may lag behind a create
        # made seconds ago, in which case the engine retries later and looks again.
        key = self.duplicate_key(payload)  # the first email (lowercased), else the first phone
        if key is None:
            return None
        # Phones with the "phrase" mode: assumed from third-party code (Close documents emails).
        body = contact_search_body(*key, mode="exact_value" if key[0] == "email" else "phrase")
        answer = self.request("lookup", "POST", "/data/search/", json_body=body)
        rows = answer.json_object.get("data")
        return str(rows[0]["id"]) if rows else None

    def fetch_fields(self) -> list[dict]:
        """Close's contact custom fields: the targets of a mapping, their types and choices."""
        answer = self.request("lookup", "GET", "/custom_field/contact/")
        rows = answer.body.get("data") if isinstance(answer.body, dict) else answer.body
        keys = ("id", "name", "type", "accepts_multiple_values", "choices")
        return [{key: row.get(key) for key in keys} for row in rows or []]

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        body = answer.json_object
        names = {e["target"]: e["source"].partition(":")[2] for e in self.field_map}
        parts = [str(e) for e in body.get("errors") or []]
        for field, problem in (body.get("field-errors") or {}).items():
            parts.append(f"{field}{f' ({names[field]})' if field in names else ''}: {problem}")
        legacy = body.get("error")  # 401s and the deprecated 429 body
        if not parts and legacy:
            parts.append(str(legacy.get("message") if isinstance(legacy, dict) else legacy))
        gone = "does not exist" in str((body.get("field-errors") or {}).get("lead_id"))
        return ("lead_not_found" if gone else ""), "; ".join(parts)
