"""GetRaze external API v1 (see /work/shared/providers/getraze.md and the create-contact seed).

The published docs and the vendor's server code disagree on several names; we send what the
docs (our contract) define and, where harmless, the name the code reads as well.
"""

import time
from urllib.parse import quote

from .base import Adapter, Answer, parse_retry_after

# Assumed: the vendor's code pages at most 100 rows; 10 pages of one email is already absurd.
MAX_LOOKUP_PAGES = 10


class GetRazeAdapter(Adapter):
    provider = "getraze"
    default_base_url = "https://app.getraze.com/external/v1"
    permanent_codes = (
        "VALIDATION_ERROR",
        "INVALID_EMAIL",
        "INVALID_PARAMETER",
        "MISSING_REQUIRED_FIELD",
        "ALREADY_EXISTS",
        "CONFLICT",
        "DUPLICATE_ERROR",
        "NOT_FOUND",
    )

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self._api_key}

    def build_payload(self, contact) -> dict:
        phone = contact.primary_phone()
        title = contact.title or None
        linkedin = contact.linkedin_url or None
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
            # Names, as the docs and seed define; sorted so the payload hash is stable.
            "tags": sorted((tag.name for tag in contact.tags.all()), key=str.lower),
            # A PUT replaces the whole object, so the complete map is always sent.
            "custom_fields": dict(sorted((contact.custom_fields or {}).items())),
        }

    def skip_reason(self, payload: dict) -> str | None:
        # GetRaze's database rejects a contact with neither (a 500, not a 400), so don't send it.
        if not payload["email"] and not payload["phone"]:
            return "GetRaze needs an email or a phone number; this contact has neither."
        return None

    def create(self, payload: dict) -> str:
        # Empty values are left out of a create; an update sends them as null to clear them.
        body = {key: value for key, value in payload.items() if value is not None}
        answer = self.request("create", "POST", "/contacts", json_body=body)
        return self._remote_id(answer)

    def update(self, remote_id: str, payload: dict) -> None:
        # PUT is partial at GetRaze (only sent keys change), so null clears a field we emptied.
        self.request("update", "PUT", f"/contacts/{quote(remote_id, safe='')}", json_body=payload)

    def lookup(self, payload: dict) -> str | None:
        # The filters are substring matches (ILIKE), so rows are compared exactly here.
        # By email first; `phone` is a filter only the vendor's code documents.
        if payload["email"]:
            field, value = "email", payload["email"].lower()
        elif payload["phone"]:
            field, value = "phone", payload["phone"]
        else:
            return None
        for page in range(1, MAX_LOOKUP_PAGES + 1):
            params = {field: value, "limit": 100, "page": page}
            answer = self.request("lookup", "GET", "/contacts", params=params)
            rows, pagination = _list_rows(answer.body)
            for row in rows:
                if str(row.get(field) or "").lower() == value.lower():
                    return str(row["id"])
            if not rows or not _has_next(pagination, page):
                return None
        return None

    def parse_error(self, answer: Answer) -> tuple[str, str]:
        error = answer.body.get("error") if isinstance(answer.body, dict) else None
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
        if seconds is None and isinstance(answer.body, dict):
            seconds = (answer.body.get("error") or {}).get("retry_after")
        if seconds is None and answer.headers.get("X-RateLimit-Reset"):
            seconds = float(answer.headers["X-RateLimit-Reset"]) - time.time()
        return max(0.0, float(seconds)) if seconds is not None else None

    def _remote_id(self, answer: Answer) -> str:
        data = answer.body.get("data") if isinstance(answer.body, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise self.error(
                "The create answer has no data.id.",
                code="invalid_response",
                status=answer.status,
                ambiguous=True,
            )
        return str(data["id"])


def _list_rows(body) -> tuple[list, dict]:
    """Rows and pagination: the code answers {data: [...], pagination}, the docs
    {data: {contacts, pagination}}."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict):
        return list(data.get("contacts") or []), data.get("pagination") or {}
    return list(data or []), (body.get("pagination") or {}) if isinstance(body, dict) else {}


def _has_next(pagination: dict, page: int) -> bool:
    if "has_next" in pagination:
        return bool(pagination["has_next"])
    return page < int(pagination.get("total_pages") or 0)
