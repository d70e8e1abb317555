"""Klen AI API v1, as its docs describe it (served under /klen/api/v1/…).

Documented and emulated: the key as `Authorization: Bearer`, `X-API-Key` or `?api_key=`;
the `can_*` permissions; `first_name` required; phone numbers in E.164; teams; the error body
`{"error": "<code>", "message"}` with every documented code; 429 `rate_limit_exceeded` with
Retry-After; integer ids; duplicates accepted (no 409). Undocumented, chosen here: a create
answers 201 with the contact as GET returns it.
"""

import re

from .emulator import JsonEmulator, now_iso, window_words
from .server import Reply, Request

PERMISSIONS = [
    "can_read_calls",
    "can_initiate_calls",
    "can_read_agents",
    "can_read_contacts",
    "can_write_contacts",
    "can_read_calendar",
    "can_write_calendar",
]
# Team 1 and 2 exist and the sandbox's keys may use them; team 9 exists, but not for us.
TEAMS = {1: True, 2: True, 9: False}
TEXT_FIELDS = ("first_name", "last_name", "email", "company", "website", "status", "stage")
ADDRESS_FIELDS = ("address", "city", "state", "zip_code", "country")
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID_PATH = re.compile(r"^/contacts/([^/]+)(/update)?$")


class KlenEmulator(JsonEmulator):
    name = "klen"
    label = "Klen AI"
    persisted = ("contacts", "requests", "next_id", "next_phone_id")
    root = "/api/v1"
    # 60 a minute a key; the docs name no rate headers, so none is sent (only Retry-After).
    documented_limit = (60, 60.0)

    def reset(self) -> None:
        super().reset()
        self.next_id = 101
        self.next_phone_id = 501

    def authenticate(self, request: Request) -> tuple[str, Reply | None]:
        authorization = request.headers.get("authorization") or ""
        key = (
            (authorization[7:].strip() if authorization.lower().startswith("bearer ") else "")
            or request.headers.get("x-api-key")
            or request.query.get("api_key")
        )
        if not key:
            return "", self.error(401, "API key required.", code="authentication_required")
        if key not in self.keys:
            return key, self.error(401, "Invalid or inactive API key", code="invalid_key")
        return key, None

    def permissions(self, key: str) -> set[str]:
        # Keys shared with other providers carry their permissions; those get Klen's defaults.
        granted = {p for p in self.keys.get(key) or [] if p.startswith("can_")}
        return granted or set(PERMISSIONS)

    def error(self, status: int, message: str, *, code: str = "") -> Reply:
        code = code or {429: "rate_limit_exceeded", 404: "not_found"}.get(status, "server_error")
        return Reply(status, {"error": code, "message": message})

    def rate_limited(self, *, limit: int, reset: float) -> Reply:
        reply = super().rate_limited(limit=limit, reset=reset)
        reply.body["message"] = (
            f"Rate limit of {limit} requests per {window_words(self.faults.rate_window)} exceeded."
        )
        return reply

    def route(self, request: Request, key: str) -> Reply:
        method, path = request.method, request.path.rstrip("/")
        # The docs name can_read_contacts for create and update (sic); either is accepted.
        if not {"can_read_contacts", "can_write_contacts"} & self.permissions(key):
            return self.error(
                403, "The API key doesn't have the required permission", code="permission_denied"
            )
        if path == "/contacts" and method == "GET":
            return self._list(request.query)
        if path == "/contacts/create" and method == "POST":
            return self._create(request.body)
        match = ID_PATH.match(path)
        if match and match.group(1).isdigit():
            contact = self.contacts.get(match.group(1))
            if contact is None:
                return self.error(404, "Contact not found", code="not_found")
            if method == "GET" and not match.group(2):
                return Reply(200, contact)
            if match.group(2) and method in ("PUT", "PATCH"):
                return self._update(contact, request.body, replace=method == "PUT")
        return self.error(404, "Not found", code="not_found")

    def _list(self, query: dict) -> Reply:
        rows = list(self.contacts.values())
        if self.take("lookup_misses_next"):
            rows = []
        if query.get("search"):
            term = query["search"].lower()
            rows = [
                r
                for r in rows
                if any(
                    term in (r.get(f) or "").lower() for f in ("first_name", "last_name", "email")
                )
            ]
        for field in ("stage", "status"):
            if query.get(field):
                rows = [r for r in rows if r[field] == query[field]]
        if query.get("tag"):
            rows = [r for r in rows if query["tag"] in r["tags"]]
        page = max(1, int(query.get("page") or 1))
        limit = min(100, max(1, int(query.get("limit") or 25)))
        count = len(rows)
        return Reply(
            200,
            {
                "count": count,
                "page": page,
                "limit": limit,
                "pages": -(-count // limit),
                "contacts": [_list_item(r) for r in rows[(page - 1) * limit : page * limit]],
            },
        )

    def _validate(self, body, *, creating: bool) -> Reply | None:
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON payload", code="invalid_json")
        if (creating or "first_name" in body) and not str(body.get("first_name") or "").strip():
            return self.error(400, "First name is required", code="missing_first_name")
        details = {}
        for field in (*TEXT_FIELDS, *ADDRESS_FIELDS):
            if body.get(field) is not None and not isinstance(body[field], str):
                details[field] = "Must be a string."
        if isinstance(body.get("email"), str) and not EMAIL.match(body["email"]):
            details["email"] = "Enter a valid email address."
        phones = body.get("phone_numbers")
        if phones is not None and not (
            isinstance(phones, list)
            and all(isinstance(p, dict) and PHONE.match(str(p.get("phone_number"))) for p in phones)
        ):
            details["phone_numbers"] = "Each phone_number is required, in E.164 format."
        tags = body.get("tags")
        if tags is not None and not (
            isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        ):
            details["tags"] = "A list of tag names."
        if body.get("custom_context") is not None and not isinstance(body["custom_context"], dict):
            details["custom_context"] = "An object."
        if details:
            reply = self.error(400, "Validation error", code="validation_error")
            reply.body["details"] = details
            return reply
        if "team_id" in body and body["team_id"] is not None:
            team = body["team_id"]
            if not isinstance(team, int) or team not in TEAMS:
                return self.error(404, "Team not found", code="team_not_found")
            if not TEAMS[team]:
                return self.error(
                    403, "You do not have access to this team", code="team_access_denied"
                )
        return None

    def _create(self, body) -> Reply:
        problem = self._validate(body, creating=True)
        if problem:
            return problem
        contact = {
            "id": self.next_id,
            "first_name": "",
            "last_name": "",
            "full_name": "",
            "email": None,
            "company": None,
            "website": None,
            "stage": "lead",
            "status": "not_contacted",
            "address": {
                "street": None,
                "city": None,
                "state": None,
                "zip_code": None,
                "country": "US",
            },
            "team_id": None,
            "created_date": now_iso(),
            "last_call_date": None,
            "phone_numbers": [],
            "tags": [],
            "recent_notes": [],
            "custom_context": {},
            "industry_context": {},
        }
        self.next_id += 1
        self._apply(contact, body)
        stored = self.create_faults(lambda: self.contacts.__setitem__(str(contact["id"]), contact))
        return stored or Reply(201, contact)

    def _update(self, contact: dict, body, *, replace: bool) -> Reply:
        problem = self._validate(body, creating=replace)
        if problem:
            return problem
        self._apply(contact, body)
        return Reply(200, contact)

    def _apply(self, contact: dict, body: dict) -> None:
        for field in ("first_name", "last_name", "email", "company", "website"):
            if field in body:
                contact[field] = body[field]
        for field in ("status", "stage", "team_id"):
            if body.get(field) is not None:
                contact[field] = body[field]
        for field in ADDRESS_FIELDS:
            if field in body:
                contact["address"]["street" if field == "address" else field] = body[field]
        if "tags" in body:
            contact["tags"] = list(body["tags"] or [])  # replaced
        if "custom_context" in body:
            contact["custom_context"] = dict(body["custom_context"] or {})
        if "phone_numbers" in body:
            phones = []
            for given in body["phone_numbers"] or []:
                phones.append(
                    {
                        "id": self.next_phone_id,
                        "phone_number": given["phone_number"],
                        "phone_type": given.get("phone_type") or "mobile",
                        "primary": bool(given.get("primary")),
                        "do_not_call": bool(given.get("do_not_call")),
                        "dnc_date": None,
                        "dnc_reason": None,
                    }
                )
                self.next_phone_id += 1
            if phones and not any(p["primary"] for p in phones):
                phones[0]["primary"] = True  # as the docs say: the first becomes primary
            contact["phone_numbers"] = phones
        contact["full_name"] = " ".join(
            p for p in (contact["first_name"], contact["last_name"]) if p
        )


def _list_item(contact: dict) -> dict:
    """List rows carry only the primary phone, flattened, as the docs show."""
    primary = next((p for p in contact["phone_numbers"] if p["primary"]), None)
    fields = ("id", "first_name", "last_name", "full_name", "email", "company", "stage", "status")
    return {
        **{f: contact[f] for f in fields},
        "phone": primary["phone_number"] if primary else None,
        "created_date": contact["created_date"],
        "last_call_date": contact["last_call_date"],
        "tags": contact["tags"],
    }
