"""Contactship API v1, as its docs describe it (served under /contactship/v1/…).

The docs leave the error body and the rate limit undocumented. The sandbox answers errors in
the NestJS shape `{"statusCode", "message", "error"}` (a guess the adapter must survive, as it
reads only `message`/`error`), and a 429 with a Retry-After header when `rate_limit` is set.
Documented: `x-api-key` only, `phone_number` (international) and `full_name` required, 201 on
create, 409 on a duplicate phone number on create and update, bare JSON bodies, 204 on delete.
"""

import re
import uuid
from http import HTTPStatus
from urllib.parse import unquote

from .emulator import JsonEmulator, now_iso
from .server import Reply, Request

FIELDS = ("phone_number", "full_name", "country", "email", "description", "additional_data")
PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID_PATH = re.compile(r"^/v1/contacts/([^/]+)$")
ORGANIZATION = "org_sandbox"


class ContactshipEmulator(JsonEmulator):
    name = "contactship"
    label = "Contactship"
    root = ""  # the base URL is the host; every path starts with /v1/
    # No limit, header or 429 is documented: the sandbox enforces none unless `rate_limit` is
    # set, and then answers a 429 with Retry-After and sends no rate headers.
    documented_limit = None

    def authenticate(self, request: Request) -> tuple[str, Reply | None]:
        key = request.headers.get("x-api-key") or ""
        if key not in self.keys:
            return key, self.error(401, "Invalid or missing API key")
        return key, None

    def error(self, status: int, message, *, code: str = "") -> Reply:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus else ""
        return Reply(status, {"statusCode": status, "message": message, "error": phrase})

    def route(self, request: Request, key: str) -> Reply:
        method, path = request.method, request.path.rstrip("/")
        if path == "/v1/contacts" and method == "GET":
            return self._list(request.query)
        if path == "/v1/contacts" and method == "POST":
            return self._create(request.body)
        match = ID_PATH.match(path)
        if not match:
            return self.error(404, f"Cannot {method} {path}")
        identifier = unquote(match.group(1))
        if method == "GET":
            return self._get(identifier, request.query.get("identifierType") or "id")
        if not _is_uuid(identifier):
            return self.error(400, "Validation failed (uuid is expected)")
        contact = self.contacts.get(identifier)
        if contact is None:
            return self.error(404, "Contact not found")
        if method == "PATCH":
            return self._update(contact, request.body)
        if method == "DELETE":
            del self.contacts[identifier]
            return Reply(204)
        return self.error(404, f"Cannot {method} {path}")

    def _list(self, query: dict) -> Reply:
        rows = list(self.contacts.values())
        for field in ("full_name", "email", "phone_number"):
            if query.get(field):
                rows = [r for r in rows if query[field].lower() in (r.get(field) or "").lower()]
        return Reply(200, rows[:100])

    def _get(self, identifier: str, kind: str) -> Reply:
        if kind not in ("id", "phone_number", "email"):
            return self.error(400, "identifierType must be one of: id, phone_number, email")
        if kind == "id" and not _is_uuid(identifier):
            return self.error(400, "Validation failed (uuid is expected)")
        if kind != "id" and self.take("lookup_misses_next"):
            return self.error(404, "Contact not found")
        found = [
            c for c in self.contacts.values() if (c.get(kind) or "").lower() == identifier.lower()
        ]
        if not found:
            return self.error(404, "Contact not found")
        return Reply(200, found[0])

    def _validate(self, body, *, creating: bool) -> tuple[dict | None, Reply | None]:
        if not isinstance(body, dict):
            return None, self.error(400, ["body must be an object"])
        values = {k: v for k, v in body.items() if k in FIELDS}
        problems = []
        if creating or "phone_number" in values:
            phone = values.get("phone_number")
            if not isinstance(phone, str) or not PHONE.match(phone):
                problems.append("phone_number must be a valid phone number in international format")
        if creating or "full_name" in values:
            name = values.get("full_name")
            if not isinstance(name, str) or not name.strip():
                problems.append("full_name should not be empty")
        for field in ("country", "email", "description"):
            if values.get(field) is not None and not isinstance(values[field], str):
                problems.append(f"{field} must be a string")
        if isinstance(values.get("email"), str) and not EMAIL.match(values["email"]):
            problems.append("email must be an email")
        items = values.get("additional_data")
        if items is not None and not (
            isinstance(items, list)
            and all(
                isinstance(i, dict)
                and set(i) == {"type", "field", "value"}
                and all(isinstance(v, str) and v for v in i.values())
                for i in items
            )
        ):
            problems.append("each additional_data item needs type, field and value, as strings")
        if problems:
            return None, self.error(400, problems)
        return values, None

    def _duplicate(self, phone: str | None, exclude: str | None = None) -> bool:
        return any(
            c["phone_number"] == phone and c["id"] != exclude for c in self.contacts.values()
        )

    def _create(self, body) -> Reply:
        values, problem = self._validate(body, creating=True)
        if problem:
            return problem
        if self._duplicate(values["phone_number"]):
            return self.error(409, "Contact with the same phone number already exists")
        contact = {
            "id": str(uuid.uuid4()),
            "created_at": now_iso(),
            **dict.fromkeys(FIELDS),
            "additional_data": [],
            "organization_id": ORGANIZATION,
        }
        contact.update(values)
        stored = self.create_faults(lambda: self.contacts.__setitem__(contact["id"], contact))
        return stored or Reply(201, contact)

    def _update(self, contact: dict, body) -> Reply:
        values, problem = self._validate(body, creating=False)
        if problem:
            return problem
        if "phone_number" in values and self._duplicate(values["phone_number"], contact["id"]):
            return self.error(409, "Another contact already has this phone number")
        if "additional_data" in values:
            values["additional_data"] = values["additional_data"] or []  # replaced, not merged
        contact.update(values)
        return Reply(200, contact)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
