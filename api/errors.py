"""One error envelope for the whole API, built on drf-standardized-errors.

Every error response, from DRF views and from Django's 404/500/400 handlers under /api/, is

    {"type": "validation_error" | "client_error" | "server_error",
     "errors": [{"code": "<stable code>", "detail": "<for humans>", "attr": "<field>" | null}]}

A validation error lists every problem, each with the field it concerns ("attr", nested with
dots: "phone_numbers.0.number", "custom_fields.industry"). Any other error has exactly one
item, whose code says what happened. Some errors add a top-level member (409 already_exists:
"existing_id"). docs/api.md has the table of codes.
"""

import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_standardized_errors.formatter import ExceptionFormatter
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.settings import api_settings

# DRF's generic codes renamed to the ones this API documents. Validation errors keep their
# field codes; these apply to the single error of any other response.
CODE_RENAMES = {
    "not_authenticated": "authentication_required",
    "authentication_failed": "invalid_key",
    "throttled": "rate_limited",
    "parse_error": "invalid_json",
    "error": "server_error",
}

# The codes each status can carry, for the OpenAPI schema and the docs.
CODES_BY_STATUS: dict[int, list[str]] = {
    400: ["invalid_json"],  # besides validation_error, whose codes are per field
    401: ["authentication_required", "invalid_key"],
    403: ["permission_denied"],
    404: ["not_found"],
    405: ["method_not_allowed"],
    # Never answered (api/negotiation.py gives JSON to every Accept header) and absent from
    # the schema (DRF_STANDARDIZED_ERRORS); kept while api.schema still names ErrorResponse406.
    406: ["not_acceptable"],
    409: ["already_exists"],
    413: ["request_too_large"],
    415: ["unsupported_media_type"],
    422: ["idempotency_key_reused"],
    429: ["rate_limited"],
    500: ["server_error"],
}


class AlreadyExists(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "already_exists"
    default_detail = "This contact already exists."

    def __init__(self, detail: str, *, existing_id: int, attr: str | None = None):
        super().__init__(detail)
        self.attr = attr
        self.extra = {"existing_id": existing_id}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class Handler(ExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        # Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE with a SuspiciousOperation,
        # which would otherwise become a 500 here (or a 400 page outside DRF).
        if isinstance(exc, RequestDataTooBig):
            return RequestTooLarge(_too_large_detail())
        return super().convert_known_exceptions(exc)


# The unknown-field message of api.contacts.serializers.RejectUnknownFieldsMixin.
UNKNOWN_FIELD = re.compile(r"Unknown field “(?P<name>.*)”\.", re.DOTALL)


class Formatter(ExceptionFormatter):
    def run(self) -> dict:
        data = super().run()
        if data["type"] == "validation_error":
            for error in data["errors"]:
                error["attr"] = _unknown_field_attr(error)
        else:
            for error in data["errors"]:
                error["code"] = CODE_RENAMES.get(error["code"], error["code"])
                if error["attr"] is None:
                    error["attr"] = getattr(self.exc, "attr", None)
        data.update(getattr(self.exc, "extra", None) or {})
        return data


def _unknown_field_attr(error: dict) -> str | None:
    """An unknown body key is reported under the object's `non_field_errors`: name the key
    itself (`nickname`, `phone_numbers.0.primary`), as every other field error does. The
    count of further unknown keys stays on the object."""
    attr = error["attr"]
    found = UNKNOWN_FIELD.fullmatch(error["detail"])
    if error["code"] != "unknown_field" or found is None or attr is None:
        return attr
    parent, _, last = attr.rpartition(".")
    if last != api_settings.NON_FIELD_ERRORS_KEY:
        return attr
    return f"{parent}.{found['name']}" if parent else found["name"]


def error_body(*, code: str, detail: str, status_code: int) -> dict:
    kind = "server_error" if status_code >= 500 else "client_error"
    return {"type": kind, "errors": [{"code": code, "detail": detail, "attr": None}]}


def _too_large_detail() -> str:
    return (
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; "
        "send fewer or smaller values."
    )


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _json(body: dict, status_code: int) -> JsonResponse:
    # Compact, like DRF's JSONRenderer, so every error looks the same on the wire too.
    return JsonResponse(body, status=status_code, json_dumps_params={"separators": (",", ":")})


# Django's error handlers (config/urls.py handler400/404/500): JSON under /api/, pages elsewhere.


def bad_request(request, exception=None):
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        body = error_body(code="request_too_large", detail=_too_large_detail(), status_code=413)
        return _json(body, 413)
    return _json(error_body(code="bad_request", detail="Bad request.", status_code=400), 400)


def page_not_found(request, exception=None):
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return _json(error_body(code="not_found", detail="Not found.", status_code=404), 404)


def server_error(request):
    if not _is_api(request):
        return defaults.server_error(request)
    return _json(error_body(code="server_error", detail="Server Error (500)", status_code=500), 500)


@csrf_exempt  # any method: a POST to a wrong URL is a 404 too, not a CSRF failure page
def unknown_api_url(request, *args, **kwargs):
    """The last route under /api/: a path no endpoint has."""
    return _json(error_body(code="not_found", detail="Not found.", status_code=404), 404)
