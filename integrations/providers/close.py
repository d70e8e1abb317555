"""Close API v1 (see /work/shared/providers/close.md and its create-contact seed).

A Close contact lives in a lead. The connection's option `lead_strategy` says which: `new`
(Close makes a lead per contact, the default), `by_company` (one lead per company name, its id
remembered in the option `lead_ids`) or `fixed` (the option `lead_id`). Custom fields and tags
go to the Close fields named in the option `custom_field_map` ({"industry": "cf_…"}).
"""

import base64
from urllib.parse import quote

from .base import Adapter, Answer

# Ours → Close's phone types (office, mobile, home, direct, fax, other).
PHONE_TYPES = {"mobile": "mobile", "work": "office", "home": "home", "fax": "fax"}


class CloseAdapter(Adapter):
    provider = "close"
    default_base_url = "https://api.close.com/api/v1"
    check_path, check_params = "/me/", {}  # "Test connection": the key's own user
    # Close has no error codes: statuses classify, and 400 messages name the fields.

    def auth_headers(self) -> dict[str, str]:
        token = base64.b64encode(f"{self._api_key}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}  # the key as user name, no password

    def build_payload(self, contact) -> dict:
        urls = (contact.linkedin_url, contact.website)
        payload = {
            "name": contact.full_name,
            "title": contact.title or None,
            # Lists replace the remote ones on a PUT, so they are always sent complete.
            "emails": [{"email": contact.email, "type": "office"}] if contact.email else [],
            "phones": [
                {"phone": phone.number.as_e164, "type": PHONE_TYPES.get(phone.type, "other")}
                for phone in contact.phone_numbers.all()
            ],
            "urls": [{"url": url, "type": "url"} for url in urls if url],
        }
        values = contact.custom_fields or {}
        tags = sorted((tag.name for tag in contact.tags.all()), key=str.lower)
        # Unmapped fields stay home; a mapped field without a value is null, so a PUT clears it.
        for key, field_id in sorted(self.field_map().items()):
            payload[f"custom.{field_id}"] = tags if key == "tags" else values.get(key)
        # Which lead a create goes to; ours, never sent as such (see create).
        payload["_lead"] = self._lead_choice(contact)
        return payload

    def field_map(self) -> dict[str, str]:
        return dict(self.options.get("custom_field_map") or {})

    def _lead_choice(self, contact) -> dict | None:
        strategy = self.options.get("lead_strategy") or "new"
        if strategy == "fixed":
            return {"id": self.options.get("lead_id") or None}
        if strategy == "by_company" and contact.company.strip():
            return {"company": " ".join(contact.company.split())}
        if strategy not in ("new", "by_company", "fixed"):
            return {"strategy": strategy}
        return None  # Close names a new lead after the contact

    def create(self, payload: dict) -> str:
        body = {k: v for k, v in payload.items() if v is not None and k != "_lead"}
        lead_id = self._lead_id(payload.get("_lead"))
        if lead_id:
            body = {"lead_id": lead_id, **body}
        answer = self.request("create", "POST", "/contact/", json_body=body)
        return self._id(answer)

    def update(self, remote_id: str, payload: dict) -> None:
        # PUT acts as a patch; null clears. The contact stays in the lead it was created in:
        # a changed company or strategy doesn't move existing contacts.
        body = {k: v for k, v in payload.items() if k != "_lead"}
        self.request("update", "PUT", f"/contact/{quote(remote_id, safe='')}/", json_body=body)

    def _lead_id(self, choice: dict | None) -> str | None:
        if choice is None:
            return None
        if "strategy" in choice or ("id" in choice and not choice["id"]):
            # The connection needs fixing, not the contact: pause it with the reason.
            raise self.error(
                "lead_strategy must be new, by_company or fixed, and fixed needs lead_id.",
                code="invalid_lead_strategy",
                auth=True,
            )
        if "id" in choice:
            return choice["id"]
        company = choice["company"]
        known = (self.options.get("lead_ids") or {}).get(company.casefold())
        if known:
            return known
        # Two workers creating the first contacts of one company at once may make two leads;
        # the last remembered wins from then on. Accepted: rare, and visible in Close.
        answer = self.request("create", "POST", "/lead/", json_body={"name": company})
        lead_id = self._id(answer)
        self.remember("lead_ids", {company.casefold(): lead_id})
        return lead_id

    def lookup(self, payload: dict) -> str | None:
        # Through the search index, as Close's own scripts do; it may lag behind a create
        # made seconds ago, in which case the engine retries later and looks again.
        if payload.get("emails"):
            kind, value, mode = "email", payload["emails"][0]["email"].lower(), "exact_value"
        elif payload.get("phones"):
            # Assumed from third-party code (Close documents the email form only): phones
            # are searched the same way, with the "phrase" mode.
            kind, value, mode = "phone", payload["phones"][0]["phone"], "phrase"
        else:
            return None
        field = {"type": "regular_field", "object_type": f"contact_{kind}", "field_name": kind}
        condition = {"type": "text", "mode": mode, "value": value}
        related = {"type": "field_condition", "field": field, "condition": condition}
        has = {"type": "has_related", "this_object_type": "contact"}
        has |= {"related_object_type": f"contact_{kind}", "related_query": related}
        contacts = {"type": "object_type", "object_type": "contact"}
        body = {"query": {"type": "and", "queries": [contacts, has]}}
        body |= {"_fields": {"contact": ["id", "lead_id", "emails", "phones"]}}
        body |= {"_limit": 200, "results_limit": 1}
        answer = self.request("lookup", "POST", "/data/search/", json_body=body)
        rows = answer.body.get("data") if isinstance(answer.body, dict) else None
        return str(rows[0]["id"]) if rows else None

    def fetch_fields(self) -> list[dict]:
        """Close's contact custom fields, for staff filling `custom_field_map`."""
        answer = self.request("lookup", "GET", "/custom_field/contact/")
        rows = answer.body.get("data") if isinstance(answer.body, dict) else answer.body
        keys = ("id", "name", "type", "accepts_multiple_values", "choices")
        return [{key: row.get(key) for key in keys} for row in rows or []]

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        body = answer.body if isinstance(answer.body, dict) else {}
        names = {f"custom.{cf}": key for key, cf in self.field_map().items()}
        parts = [str(e) for e in body.get("errors") or []]
        for field, problem in (body.get("field-errors") or {}).items():
            ours = f" ({names[field]})" if field in names else ""
            parts.append(f"{field}{ours}: {problem}")
        legacy = body.get("error")  # 401s and the deprecated 429 body
        if not parts and legacy:
            parts.append(str(legacy.get("message") if isinstance(legacy, dict) else legacy))
        return "", "; ".join(parts)

    def _id(self, answer: Answer) -> str:
        if not isinstance(answer.body, dict) or not answer.body.get("id"):
            raise self.error(
                "The answer has no id.",
                code="invalid_response",
                status=answer.status,
                ambiguous=True,
            )
        return str(answer.body["id"])
