"""GetRaze external API v1, as its docs and the vendor's server code describe it.

Where the two disagree the sandbox is tolerant: it reads `position` or `title`, `linkedin_url` or
`linkedin_profile_url`, tags as names, and answers 409 ALREADY_EXISTS on a duplicate email
(the docs) unless the `unique_email` knob is off (the code, which has no unique index).
"""

import datetime
import math
import re
import time
import uuid

from .emulator import JsonEmulator, window_words
from .server import Reply, Request

FIELDS = (
    "name",
    "email",
    "phone",
    "company",
    "title",
    "linkedin_profile_url",
    "location",
    "source",
)
ALIASES = {"position": "title", "linkedin_url": "linkedin_profile_url"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID_PATH = re.compile(r"^/contacts/([^/]+)$")


def error(status: int, code: str, message: str, **extra) -> Reply:
    return Reply(status, {"success": False, "error": {"code": code, "message": message, **extra}})


class GetRazeEmulator(JsonEmulator):
    name = "getraze"
    label = "GetRaze"
    root = "/external/v1"
    documented_limit = (1000, 3600.0)  # a key's default, per clock hour
    DEFAULT_PERMISSIONS = [
        "contacts:read",
        "contacts:write",
        "opportunities:read",
        "opportunities:write",
    ]

    # Auth runs before the rate limiter, as in the vendor's code (JsonEmulator's order).
    def authenticate(self, request: Request) -> tuple[str, Reply | None]:
        key = (
            request.headers.get("x-api-key")
            or _bearer(request.headers.get("authorization"))
            or request.query.get("api_key")
        )
        if not key:
            return "", error(
                401,
                "MISSING_API_KEY",
                "API key is required. Provide it via X-API-Key header, "
                "Authorization: Bearer header, or api_key query parameter.",
            )
        if key not in self.keys:
            return key, error(401, "INVALID_API_KEY", "Invalid or expired API key.")
        return key, None

    def error(self, status: int, message: str, *, code: str = "") -> Reply:
        # GetRaze answers every unexpected failure as INTERNAL_ERROR, and a body that is not
        # JSON as a validation error.
        codes = {"invalid_json": "VALIDATION_ERROR"}
        return error(status, codes.get(code, code) or "INTERNAL_ERROR", message)

    def route(self, request: Request, key: str) -> Reply:
        return self._route(request, self.keys[key])

    def rate_headers(self, *, limit: int, remaining: int, reset: float) -> dict:
        # X-RateLimit-Reset is the window's end as epoch seconds.
        return {
            "X-RateLimit-Limit": limit,
            "X-RateLimit-Remaining": remaining,
            "X-RateLimit-Reset": round(time.time() + reset),
        }

    def rate_limited(self, *, limit: int, reset: float) -> Reply:
        # The wait is in the body only; a Retry-After header only with the knob (a proxy's).
        retry_after = max(1, math.ceil(reset))
        reply = error(
            429,
            "RATE_LIMIT_EXCEEDED",
            f"Rate limit of {limit} requests per {window_words(self.faults.rate_window)} exceeded.",
            retry_after=retry_after,
        )
        if self.faults.retry_after_header:
            reply.headers = {"Retry-After": retry_after}
        return reply

    def _route(self, request: Request, permissions: list[str]) -> Reply:
        method, path = request.method, request.path.rstrip("/") or "/"
        if method == "GET" and path == "/":
            return Reply(
                200,
                {
                    "success": True,
                    "message": "GetRaze External API",
                    "version": "v1",
                    "rate_limit": {"limit": 1000, "window": "1 hour"},
                },
            )
        match = ID_PATH.match(path)
        needed = {
            "GET": "contacts:read",
            "POST": "contacts:write",
            "PUT": "contacts:write",
            "DELETE": "contacts:delete",
        }.get(method)
        allowed = not needed or {needed, "contacts:*", "*"} & set(permissions)
        if (path == "/contacts" or match) and not allowed:
            return error(
                403,
                "INSUFFICIENT_PERMISSIONS",
                f"Insufficient permissions. Required permission: {needed}",
                required_permission=needed,
                current_permissions=permissions,
            )
        if path == "/contacts" and method == "GET":
            return self._list(request.query)
        if path == "/contacts" and method == "POST":
            return self._create(request.body)
        if match:
            contact_id = match.group(1)
            try:
                uuid.UUID(contact_id)
            except ValueError:  # the vendor's uuid cast error lands in the generic handler
                return error(500, "INTERNAL_ERROR", "An internal error occurred.")
            contact = self.contacts.get(contact_id)
            if contact is None:
                return error(404, "NOT_FOUND", "Contact not found")
            if method == "GET":
                return Reply(200, {"success": True, "data": {**contact, "notes": []}})
            if method == "PUT":
                return self._update(contact, request.body)
            if method == "DELETE":
                del self.contacts[contact_id]
                return Reply(200, {"success": True, "message": "Contact deleted successfully"})
        return error(404, "NOT_FOUND", "Endpoint not found")

    def _list(self, query: dict) -> Reply:
        rows = list(self.contacts.values())
        if self.take("lookup_misses_next"):
            rows = []
        for field in ("email", "phone", "company"):
            if query.get(field):
                # Lowered once, not once a row: a lookup scans every stored contact, and the
                # push benchmark stores 10,000 of them.
                term = query[field].lower()
                rows = [r for r in rows if term in (r.get(field) or "").lower()]
        if query.get("search"):
            term = query["search"].lower()
            rows = [
                r
                for r in rows
                if any(term in (r.get(f) or "").lower() for f in ("name", "email", "company"))
            ]
        if query.get("source"):
            rows = [r for r in rows if r.get("source") == query["source"]]
        page = max(1, int(query.get("page") or 1))
        limit = min(100, max(1, int(query.get("limit") or 50)))
        total = len(rows)
        pages = math.ceil(total / limit) if total else 0
        return Reply(
            200,
            {
                "success": True,
                "data": rows[(page - 1) * limit : page * limit],
                "pagination": {
                    "page": page,
                    "per_page": limit,
                    "total": total,
                    "total_pages": pages,
                    "has_next": page < pages,
                    "has_prev": page > 1,
                },
            },
        )

    def _validate(self, body, *, creating: bool) -> tuple[dict | None, Reply | None]:
        if not isinstance(body, dict):
            return None, error(400, "VALIDATION_ERROR", "Request body must be a JSON object.")
        values = {ALIASES.get(k, k): v for k, v in body.items() if k in FIELDS or k in ALIASES}
        for key in ("tags", "custom_fields"):
            if key in body:
                values[key] = body[key]
        if creating or "name" in values:
            values["name"] = (values.get("name") or "").strip()
            if not values["name"]:
                return None, error(
                    400,
                    "VALIDATION_ERROR",
                    "Name is required",
                    details={"fields": {"name": "Name is required"}},
                )
        if values.get("email") and not EMAIL.match(values["email"]):
            return None, error(
                400,
                "INVALID_EMAIL",
                "Email format is invalid",
                details={"fields": {"email": "Invalid email format"}},
            )
        if "tags" in values and not (
            isinstance(values["tags"], list) and all(isinstance(t, str) for t in values["tags"])
        ):
            return None, error(
                400,
                "VALIDATION_ERROR",
                "Tags must be an array of strings",
                details={"fields": {"tags": "Array of tag strings"}},
            )
        if "custom_fields" in values and not isinstance(values["custom_fields"] or {}, dict):
            return None, error(
                400,
                "VALIDATION_ERROR",
                "custom_fields must be an object",
                details={"fields": {"custom_fields": "Object expected"}},
            )
        return values, None

    def _duplicate(self, email, exclude=None) -> bool:
        return (
            bool(email)
            and self.faults.unique_email
            and any(
                (c.get("email") or "").lower() == email.lower() and c["id"] != exclude
                for c in self.contacts.values()
            )
        )

    def _create(self, body) -> Reply:
        values, problem = self._validate(body, creating=True)
        if problem:
            return problem
        if not values.get("email") and not values.get("phone"):
            # The vendor's DB check constraint fails, and its handler answers a generic 500.
            return error(500, "INTERNAL_ERROR", "An internal error occurred.")
        if self._duplicate(values.get("email")):
            return error(409, "ALREADY_EXISTS", "Contact with this email already exists")
        now = _now()
        contact = {
            "id": str(uuid.uuid4()),
            **dict.fromkeys(FIELDS),
            "source": "api",
            "tags": [],
            "custom_fields": {},
            "created_at": now,
            "updated_at": now,
        }
        contact.update(values)
        contact["tags"] = _tag_objects(contact["tags"])
        failing = self.take("fail_creates_next")
        if failing and not self.faults.fail_creates_applied:
            return error(self.faults.error_status, "INTERNAL_ERROR", "Injected failure.")
        self.contacts[contact["id"]] = contact
        if failing:
            return error(self.faults.error_status, "INTERNAL_ERROR", "Injected failure.")
        if self.take("drop_after_create_next"):
            return Reply(201, drop=True)
        return Reply(201, {"success": True, "data": contact})

    def _update(self, contact: dict, body) -> Reply:
        values, problem = self._validate(body, creating=False)
        if problem:
            return problem
        if self._duplicate(values.get("email"), exclude=contact["id"]):
            return error(409, "ALREADY_EXISTS", "Contact with this email already exists")
        if "tags" in values:
            values["tags"] = _tag_objects(values["tags"] or [])
        if "custom_fields" in values:
            values["custom_fields"] = values["custom_fields"] or {}  # replaced, not merged
        contact.update(values, updated_at=_now())
        return Reply(200, {"success": True, "data": contact})


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def _tag_objects(names: list[str]) -> list[dict]:
    # The vendor's code answers tag objects; ids are stable per name, as its names are unique.
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "tag:" + n.lower())),
            "name": n,
            "color": "purple",
        }
        for n in names
    ]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
