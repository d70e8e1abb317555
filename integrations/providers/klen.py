"""Klen AI API v1 (see /work/shared/providers/klen.md and its create-contact seed).

Klen has no duplicate key and never answers 409, so the engine's lookup before each create is
what keeps a retried create from making a second contact; it can search by email only.
"""

from urllib.parse import quote

from .base import Adapter, Answer

# Assumed: 10 pages of 100 substring matches for one email is already absurd.
MAX_LOOKUP_PAGES = 10


class KlenAdapter(Adapter):
    provider = "klen"
    default_base_url = "https://api.klen.ai/api/v1"
    # Documented codes, by class. 5xx (server_error) and 429 (rate_limit_exceeded) are
    # retryable by their status; 401/403 ones are auth by theirs.
    permanent_codes = (
        "missing_first_name",
        "invalid_json",
        "validation_error",
        "invalid_value",
        "undefined_variable",
    )
    # A 404 that isn't about the contact: the connection's team_id option names no team, so
    # every push would fail until staff fix the connection, as with a refused key.
    auth_codes = (
        "authentication_required",
        "invalid_key",
        "permission_denied",
        "team_access_denied",
        "team_not_found",
    )

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

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
            # Names; an update replaces the set, so it is always complete, sorted for the hash.
            "tags": sorted((tag.name for tag in contact.tags.all()), key=str.lower),
            # Complete as well: what PATCH does to numbers left out is undocumented.
            "phone_numbers": [
                {
                    "phone_number": phone.number.as_e164,
                    "phone_type": phone.type,
                    "primary": phone.is_primary,
                    "do_not_call": phone.do_not_call,
                }
                for phone in contact.phone_numbers.all()
            ],
            "custom_context": dict(sorted((contact.custom_fields or {}).items())),
        }
        if team_id not in (None, ""):
            # An integer at Klen; a malformed option is sent as is, for Klen to refuse clearly.
            payload["team_id"] = int(team_id) if str(team_id).isdigit() else team_id
        return payload

    def create(self, payload: dict) -> str:
        body = {key: value for key, value in payload.items() if value is not None}
        answer = self.request("create", "POST", "/contacts/create", json_body=body)
        # The create answer isn't documented: the id at the top, else in `contact`.
        body = answer.body if isinstance(answer.body, dict) else {}
        nested = body.get("contact") if isinstance(body.get("contact"), dict) else {}
        remote_id = body.get("id") or nested.get("id") or body.get("contact_id")
        if not remote_id:
            raise self.error(
                "The create answer has no id.",
                code="invalid_response",
                status=answer.status,
                ambiguous=True,
            )
        return str(remote_id)  # an integer at Klen; our links store text

    def update(self, remote_id: str, payload: dict) -> None:
        # PATCH changes only the fields sent (PUT would replace all); null clears one.
        path = f"/contacts/{quote(remote_id, safe='')}/update"
        self.request("update", "PATCH", path, json_body=payload)

    def lookup(self, payload: dict) -> str | None:
        # `search` matches names and emails as substrings, so rows are compared exactly. No
        # search by phone exists: a contact without email can't be found (accepted; rare).
        email = (payload.get("email") or "").lower()
        if not email:
            return None
        for page in range(1, MAX_LOOKUP_PAGES + 1):
            params = {"search": email, "limit": 100, "page": page}
            answer = self.request("lookup", "GET", "/contacts", params=params)
            body = answer.body if isinstance(answer.body, dict) else {}
            rows = body.get("contacts") or []
            for row in rows:
                if str(row.get("email") or "").lower() == email:
                    return str(row["id"])
            if not rows or page >= int(body.get("pages") or 0):
                return None
        return None

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        body = answer.body if isinstance(answer.body, dict) else {}
        code = body.get("error")
        message = str(body.get("message") or "")
        details = body.get("details")
        if isinstance(details, dict) and details:
            message += " (" + "; ".join(f"{k}: {v}" for k, v in details.items()) + ")"
        return (code if isinstance(code, str) else ""), message
