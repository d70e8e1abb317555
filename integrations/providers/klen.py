"""Klen AI API v1 (docs/providers/klen.md).

Klen has no duplicate key and never answers 409, so a new contact is matched against the
inventory of Klen's contacts (a lookup while it is stale); it can search by email only.
"""

from .base import INVENTORY, Adapter, Answer, OptionField, Rules
from .base_http import BearerToken
from .base_inventory import Inventory


class KlenAdapter(Adapter):
    provider, label = "klen", "Klen AI"
    default_base_url = "https://api.klen.ai/api/v1"
    documented_rate = 1.0  # 60 a minute a key
    auth_scheme = BearerToken()
    mapping_rules = Rules("custom_context.", "json")  # default: every custom field by its key
    option_fields = (OptionField("team_id", "The Klen team new contacts are assigned to."),)
    delete_path = None  # Klen documents no delete endpoint: its records stay
    create_path, inventory = INVENTORY, Inventory(keys=(("email", "email"),))
    # Documented codes, by class. 5xx (server_error) and 429 (rate_limit_exceeded) are
    # retryable by their status; 401/403 ones are auth by theirs.
    permanent_codes = (
        *("missing_first_name", "invalid_json", "validation_error", "invalid_value"),
        "undefined_variable",
    )
    # The connection's team_id option names no team, or one the key can't use: every push
    # would fail until staff fix the connection (a 404 that isn't about the contact).
    misconfigured_codes = ("team_access_denied", "team_not_found")

    def build_payload(self, contact) -> dict:
        team_id = self.options.get("team_id")
        payload = {
            "first_name": contact.first_name,
            "last_name": contact.last_name or None,
            "email": contact.email or None,
            "company": contact.company or None,
            "website": contact.website or None,
            "address": contact.address or None,
            "city": contact.city or None,
            "state": contact.state or None,
            "zip_code": contact.zip_code or None,
            # ISO 3166-1 alpha-2, as Klen's default "US" is; ours are stored that way.
            "country": contact.country.code if contact.country else None,
            # Assumed: Klen takes our status and stage values as they are; the docs show the
            # same vocabulary (not_contacted, contacted, lead, prospect…) without a full list.
            "status": contact.status,
            "stage": contact.stage,
            # Names; an update replaces the set, so it is always complete.
            "tags": self.tag_names(contact),
            # Complete as well: what PATCH does to numbers left out is undocumented.
            "phone_numbers": [
                {
                    "phone_number": phone.number.as_e164,
                    "phone_type": phone.type,
                    "primary": phone.is_primary,
                    "do_not_call": phone.do_not_call,
                }
                for phone in contact.phones()
            ],
            "custom_context": self.mapped_object(contact),
        }
        if team_id not in (None, ""):
            # An integer at Klen; a malformed option is sent as is, for Klen to refuse clearly.
            payload["team_id"] = int(team_id) if str(team_id).isdigit() else team_id
        return payload

    def create(self, payload: dict, *, context=None) -> str:
        body = self.without_empty(payload)
        answer = self.request("create", "POST", "/contacts/create", json_body=body)
        # The create answer isn't documented: the id at the top, else in `contact`. An
        # integer at Klen; our links store text.
        return self.answer_id(answer, "id", "contact.id", "contact_id")

    def update(self, remote_id: str, payload: dict) -> None:
        # PATCH changes only the fields sent (PUT would replace all); null clears one.
        path = self.path("/contacts/{}/update", remote_id)
        self.request("update", "PATCH", path, json_body=payload)

    def lookup(self, payload: dict) -> str | None:
        # `search` matches names and emails as substrings. No search by phone exists: a
        # contact without email can't be found (accepted; rare).
        email = (payload.get("email") or "").lower()
        if not email:
            return None
        return self.find_exact("/contacts", field="email", value=email, params={"search": email})

    def read_page(self, body: dict, page: int) -> tuple[list, bool]:
        return list(body.get("contacts") or []), page < int(body.get("pages") or 0)

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        body = answer.json_object
        code = body.get("error")
        message = str(body.get("message") or "")
        details = body.get("details")
        if isinstance(details, dict) and details:
            message += " (" + "; ".join(f"{k}: {v}" for k, v in details.items()) + ")"
        return (code if isinstance(code, str) else ""), message
