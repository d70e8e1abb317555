"""`ETag` on contact answers and `If-Match` on contact writes (optimistic concurrency).

A contact's ETag is a strong validator of its representation: a keyed hash of the body GET
/contacts/{id}/ shows (the JSON with its keys sorted), so it changes whenever any of it does,
`remote_links` included, which a push changes without moving `updated_at`. The hash is keyed
with SECRET_KEY so that an ETag given to a key without `contacts:read` (in a write answer)
cannot be used to confirm a guess of the contact's data.

`If-Match` on PUT, PATCH and DELETE compares strongly (RFC 9110 13.1.1): the write happens
only if one of the listed ETags is the contact's current one, or the header is `*`. A weak
ETag (`W/"…"`) never matches; a stale one, or a header with no well-formed ETag, is answered
412 `precondition_failed`. Without the header a write is unconditional, as before.
"""

from collections.abc import Callable, Mapping
from typing import Any

import orjson
from django.utils.crypto import salted_hmac
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, status

IF_MATCH = "If-Match"
ETAG = "ETag"
HMAC_SALT = "api.contacts.preconditions.etag"

IF_MATCH_PARAMETER = OpenApiParameter(
    IF_MATCH,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Optional: the contact's `ETag` from an earlier answer (or several, comma-separated, "
        "or `*`). The write happens only if the contact still has that ETag; otherwise the "
        "answer is 412 `precondition_failed` and nothing changes. Compared strongly: a weak "
        '`W/"…"` ETag never matches.'
    ),
)


def etag_parameter(*statuses: int) -> OpenApiParameter:
    """The ETag response header, for the schema of the answers in `statuses`."""
    return OpenApiParameter(
        ETAG,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=list(statuses),
        description=(
            "A strong validator of the contact's representation; send it back in `If-Match` "
            "to write only if nobody changed the contact meanwhile."
        ),
    )


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = (
        "The contact has changed since this ETag was issued (If-Match); fetch it again and "
        "apply your change to the current version."
    )


def contact_etag(representation: Mapping[str, Any]) -> str:
    """The strong ETag of a contact's representation (the detail body)."""
    body = orjson.dumps(representation, option=orjson.OPT_SORT_KEYS)
    return f'"{salted_hmac(HMAC_SALT, body, algorithm="sha256").hexdigest()[:32]}"'


def if_match_check(request, current: Callable[[], Mapping[str, Any]]) -> None:
    """Raise PreconditionFailed unless the request's If-Match (if any) matches the contact,
    whose representation `current` reads (only when there is an ETag to compare)."""
    header = request.headers.get(IF_MATCH)
    if header is None:
        return
    wanted = parse_etags(header)
    if wanted == ["*"]:
        return
    strong = [etag for etag in wanted if not etag.startswith("W/")]
    if strong and contact_etag(current()) in strong:
        return
    raise PreconditionFailed()


# The answer to a write by a caller who may not read contacts (a key without
# `contacts:read`): enough to find the contact again and to send If-Match, nothing it may
# not read.
RECEIPT_FIELDS = ("id", "updated_at")


def write_receipt(representation: Mapping[str, Any]) -> dict[str, Any]:
    return {name: representation[name] for name in RECEIPT_FIELDS}


def write_answer_schema(description: str) -> dict[str, Any]:
    """The schema of a write's answer: the contact, or for a caller without
    `contacts:read` the receipt. additionalProperties: false tells the two apart."""
    receipt = {
        "type": "object",
        "title": "ContactWriteReceipt",
        "description": "The answer to a caller without the contacts:read scope.",
        "properties": {
            "id": {"type": "integer", "readOnly": True},
            "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
        },
        "required": list(RECEIPT_FIELDS),
        "additionalProperties": False,
    }
    return {
        "oneOf": [{"$ref": "#/components/schemas/Contact"}, receipt],
        "description": description,
    }


# The 412 answer's schema (the error envelope with its one code).
PRECONDITION_FAILED_RESPONSE = OpenApiResponse(
    {
        "type": "object",
        "title": "ErrorResponse412",
        "properties": {
            "type": {"type": "string", "enum": ["client_error"]},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string", "enum": [PreconditionFailed.default_code]},
                        "detail": {"type": "string"},
                        "attr": {"type": "string", "nullable": True},
                    },
                    "required": ["code", "detail", "attr"],
                },
            },
        },
        "required": ["type", "errors"],
    },
    description="The contact's ETag is not the one in `If-Match`: nothing was written.",
)
