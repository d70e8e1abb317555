"""Close API v1, as its docs describe it (served under /close/api/v1/…, trailing slashes).

Documented and emulated: HTTP Basic with the key as user name; 200 (not 201) on create; a new
lead named after the contact when `lead_id` is left out; `emails`/`phones`/`urls` lists that a
PUT replaces; `custom.cf_<id>` values checked against the field's type and choices; 400 bodies
`{"errors": [], "field-errors": {}}`; search by email or phone through `/data/search/` (whose
index may lag: the `lookup_misses_next` knob), and of every contact, 200 at most a page, paged
by the answer's `cursor`; `DELETE /lead/{id}/` deleting the lead's contacts
too, and `DELETE /contact/{id}/`; the `RateLimit` header on every answer while a
rate limit is set, and on a 429 with Retry-After (the legacy body too, deprecated but sent).
Undocumented, chosen here: 401 answers `{"error": "…"}`.
"""

import base64
import binascii
import datetime
import math
import re
import secrets

from .emulator import JsonEmulator, now_iso
from .server import Reply, Request

ORGANIZATION = "orga_sandbox"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()./-]{7,20}$")
CONTACT_PATH = re.compile(r"^/contact/([^/]+)/$")
LEAD_PATH = re.compile(r"^/lead/([^/]+)/$")
# Fields present after a reset, mirroring the demo data's custom fields and tags.
DEFAULT_FIELDS = [
    {
        "id": "cf_sandboxIndustry",
        "name": "Industry",
        "type": "choices",
        "accepts_multiple_values": False,
        "choices": ["Software", "Healthcare", "Finance", "Retail", "Manufacturing", "Education"],
    },
    {"id": "cf_sandboxDealSize", "name": "Deal size", "type": "number"},
    {"id": "cf_sandboxLastMeeting", "name": "Last meeting", "type": "date"},
    {
        "id": "cf_sandboxTags",
        "name": "Tags",
        "type": "choices",
        "accepts_multiple_values": True,
        "choices": [
            "hot-lead",
            "tech",
            "vip",
            "newsletter",
            "conference-2026",
            "partner",
            "churn-risk",
        ],
    },
]


class CloseEmulator(JsonEmulator):
    name = "close"
    label = "Close"
    persisted = ("contacts", "requests", "leads", "fields")
    root = "/api/v1"
    # The docs' example: 20 requests a second per key, over the window of their header's
    # example (`limit=100, remaining=50, reset=5`): 100 requests every 5 s. Close's limits are
    # per endpoint group, read from `RateLimit` at run time; the sandbox counts them together.
    documented_limit = (100, 5.0)

    def reset(self) -> None:
        super().reset()
        self.leads: dict[str, dict] = {}
        self.fields = {
            f["id"]: {"accepts_multiple_values": False, "choices": [], **f} for f in DEFAULT_FIELDS
        }

    def authenticate(self, request: Request) -> tuple[str, Reply | None]:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        key = ""
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(token).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if key not in self.keys:
            return key, Reply(401, {"error": "The API key is missing or invalid."})
        return key, None

    def error(self, status: int, message: str, *, code: str = "") -> Reply:
        return Reply(status, {"errors": [message], "field-errors": {}})

    def rate_headers(self, *, limit: int, remaining: int, reset: float) -> dict:
        return {"RateLimit": f"limit={limit}, remaining={remaining}, reset={reset}"}

    def rate_limited(self, *, limit: int, reset: float) -> Reply:
        window = self.faults.rate_window
        legacy = {
            "rate_reset": reset,
            "message": f"API call count exceeded for this {window:g} second window",
            "rate_limit": limit,
            "rate_window": self.faults.rate_window,
            "rate_limit_type": "key",
        }
        return Reply(429, {"error": legacy}, {"Retry-After": max(1, math.ceil(reset))})

    def route(self, request: Request, key: str) -> Reply:
        method, path = request.method, request.path
        if path == "/me/" and method == "GET":
            return Reply(200, {"id": "user_sandbox", "organizations": [{"id": ORGANIZATION}]})
        if path == "/contact/" and method == "POST":
            return self._create(request.body)
        if path == "/contact/" and method == "GET":
            rows = [
                c for c in self.contacts.values() if c["lead_id"] == request.query.get("lead_id")
            ]
            return Reply(200, {"data": rows, "has_more": False})
        if path == "/lead/" and method == "POST":
            body = request.body if isinstance(request.body, dict) else {}
            return Reply(200, self._new_lead(body.get("name")))
        if path == "/data/search/" and method == "POST":
            return self._search(request.body)
        if path == "/custom_field/contact/" and method == "GET":
            return Reply(200, {"data": list(self.fields.values()), "has_more": False})
        if path == "/custom_field/contact/" and method == "POST":
            return self._new_field(request.body)
        if match := LEAD_PATH.match(path):
            lead = self.leads.get(match.group(1))
            if lead is None or method not in ("GET", "DELETE"):
                return self.error(404, "Not found.")
            contacts = [c for c in self.contacts.values() if c["lead_id"] == lead["id"]]
            if method == "DELETE":  # a lead's contacts go with it, as at Close
                del self.leads[lead["id"]]
                for contact in contacts:
                    del self.contacts[contact["id"]]
                return Reply(200, {})
            return Reply(200, {**lead, "contacts": contacts})
        if match := CONTACT_PATH.match(path):
            contact = self.contacts.get(match.group(1))
            if contact is None:
                return self.error(404, "Not found.")
            if method == "GET":
                return Reply(200, contact)
            if method == "PUT":
                return self._update(contact, request.body)
            if method == "DELETE":
                del self.contacts[contact["id"]]
                return Reply(200, {})
        return self.error(404, "Not found.")

    # --- contacts ---------------------------------------------------------------------------

    def _validate(self, body) -> Reply | None:
        if not isinstance(body, dict):
            return self.error(400, "The body must be a JSON object.")
        problems = {}
        for field in ("name", "title"):
            if body.get(field) is not None and not isinstance(body[field], str):
                problems[field] = "Not a valid string."
        checks = {"emails": ("email", EMAIL), "phones": ("phone", PHONE), "urls": ("url", None)}
        for field, (inner, pattern) in checks.items():
            items = body.get(field)
            if items is None:
                continue
            if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get(inner), str) for i in items
            ):
                problems[field] = f"A list of objects with {inner} and type."
            elif pattern and not all(pattern.match(i[inner]) for i in items):
                problems[field] = f"Invalid {inner}."
        for field, value in body.items():
            if field.startswith("custom."):
                problem = self._check_custom(field[len("custom.") :], value)
                if problem:
                    problems[field] = problem
        if "lead_id" in body and body["lead_id"] not in self.leads:
            problems["lead_id"] = "Object does not exist."
        if problems:
            return Reply(400, {"errors": [], "field-errors": problems})
        return None

    def _check_custom(self, field_id: str, value) -> str | None:
        field = self.fields.get(field_id)
        if field is None:
            return "Custom field does not exist."
        if value is None:
            return None
        values = value if field["accepts_multiple_values"] else [value]
        if field["accepts_multiple_values"] and not isinstance(value, list):
            return "Expected a list of values."
        for item in values:
            kind = field["type"]
            if kind == "choices" and item not in field["choices"]:
                return f"Invalid choice: {item!r}."
            if kind == "number" and (isinstance(item, bool) or not isinstance(item, int | float)):
                return f"Not a number: {item!r}."
            if kind == "date" and not _is_date(item):
                return f"Not a date (YYYY-MM-DD): {item!r}."
            if kind == "text" and not isinstance(item, str):
                return f"Not a text: {item!r}."
        return None

    def _create(self, body) -> Reply:
        problem = self._validate(body)
        if problem:
            return problem
        now = now_iso()
        contact = {
            "id": "cont_" + secrets.token_urlsafe(24),
            "organization_id": ORGANIZATION,
            "lead_id": body.get("lead_id"),
            "name": None,
            "title": None,
            "display_name": "",
            "date_created": now,
            "date_updated": now,
            "created_by": "user_sandbox",
            "updated_by": "user_sandbox",
            "emails": [],
            "phones": [],
            "urls": [],
            "integration_links": [],
        }
        self._apply(contact, body)

        def store():
            if not contact["lead_id"]:  # Close names the new lead after the contact
                contact["lead_id"] = self._new_lead(contact["display_name"])["id"]
            self.contacts[contact["id"]] = contact

        return self.create_faults(store) or Reply(200, contact)

    def _update(self, contact: dict, body) -> Reply:
        problem = self._validate(body)
        if problem:
            return problem
        self._apply(contact, body)
        contact["date_updated"] = now_iso()
        return Reply(200, contact)

    def _apply(self, contact: dict, body: dict) -> None:
        for field in ("name", "title", "lead_id"):
            if field in body:
                contact[field] = body[field]
        if "emails" in body:
            contact["emails"] = [{**e, "is_unsubscribed": False} for e in body["emails"] or []]
        if "phones" in body:
            contact["phones"] = [
                {**p, "phone_formatted": p["phone"], "country": None} for p in body["phones"] or []
            ]
        if "urls" in body:
            contact["urls"] = list(body["urls"] or [])
        for field, value in body.items():
            if field.startswith("custom."):
                if value is None:
                    contact.pop(field, None)
                else:
                    contact[field] = value
        first_email = contact["emails"][0]["email"] if contact["emails"] else ""
        contact["display_name"] = contact["name"] or first_email

    def _new_lead(self, name) -> dict:
        lead = {
            "id": "lead_" + secrets.token_urlsafe(24),
            "organization_id": ORGANIZATION,
            "name": name or None,
            "display_name": name or "Untitled",
            "date_created": now_iso(),
        }
        self.leads[lead["id"]] = lead
        return lead

    def _new_field(self, body) -> Reply:
        if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
            return Reply(400, {"errors": [], "field-errors": {"name": "This field is required."}})
        field = {
            "id": "cf_" + secrets.token_urlsafe(24),
            "name": body["name"],
            "type": body["type"],
            "accepts_multiple_values": bool(body.get("accepts_multiple_values")),
            "choices": list(body.get("choices") or []),
        }
        self.fields[field["id"]] = field
        return Reply(200, field)

    # --- search -----------------------------------------------------------------------------

    def _search(self, body) -> Reply:
        """The query shapes the adapters send: contacts that have an email or a phone, and
        every contact, page by page (`_limit` at most 200, then the answer's `cursor`)."""
        if isinstance(body, dict) and body.get("query") == {
            "type": "object_type",
            "object_type": "contact",
        }:
            return self._search_all(body)
        try:
            related = next(q for q in body["query"]["queries"] if q.get("type") == "has_related")
            kind = related["related_object_type"]
            condition = related["related_query"]["condition"]
            value, mode = condition["value"], condition["mode"]
        except (KeyError, TypeError, StopIteration):
            return self.error(400, "This sandbox only searches contacts by email or phone.")
        if kind not in ("contact_email", "contact_phone"):
            return self.error(400, f"Unsupported related object type {kind!r}.")
        rows = [] if self.take("lookup_misses_next") else list(self.contacts.values())
        list_field, item_field = (
            ("emails", "email") if kind == "contact_email" else ("phones", "phone")
        )

        def matches(item: str) -> bool:
            # Close's exact_value on email ignores case (inferred: its scripts lowercase).
            return item.lower() == value.lower() if mode == "exact_value" else value in item

        found = [c for c in rows if any(matches(i[item_field]) for i in c[list_field])]
        limit = min(int(body.get("results_limit") or 200), int(body.get("_limit") or 200))
        wanted = (body.get("_fields") or {}).get("contact") or ["id"]
        data = [{f: c.get(f) for f in wanted} | {"__object_type": "contact"} for c in found[:limit]]
        return Reply(200, {"data": data, "cursor": None})

    def _search_all(self, body: dict) -> Reply:
        limit = int(body.get("_limit") or 100)
        if not 0 < limit <= 200:
            return self.error(400, "_limit must be between 1 and 200.")
        try:
            start = int(base64.urlsafe_b64decode(str(body.get("cursor") or "MA==")).decode())
        except (binascii.Error, ValueError):
            return self.error(400, "Invalid cursor.")
        # Oldest first (the contacts as they were stored), so a page never shifts.
        rows = [] if self.take("lookup_misses_next") else list(self.contacts.values())
        wanted = (body.get("_fields") or {}).get("contact") or ["id"]
        page = rows[start : start + limit]
        data = [{f: c.get(f) for f in wanted} | {"__object_type": "contact"} for c in page]
        more = start + limit < len(rows)
        cursor = base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None
        return Reply(200, {"data": data, "cursor": cursor})


def _is_date(value) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True
