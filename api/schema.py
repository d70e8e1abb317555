"""OpenAPI generation: the error envelope with this API's codes, and each operation's scope.

drf-standardized-errors adds the error responses every operation can return; the
serializers here give them the codes this API actually sends (api.errors), so the
schema documents `invalid_key`, not DRF's `authentication_failed`. The library's own
parse error (code `parse_error`) and examples (DRF's codes) are replaced after generation
by the postprocessing hooks below, which use only the schema itself.
"""

import json
import re

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.plumbing import build_examples_list
from drf_spectacular.utils import OpenApiExample
from drf_standardized_errors import openapi
from drf_standardized_errors.openapi_serializers import ClientErrorEnum, ServerErrorEnum
from drf_standardized_errors.settings import package_settings
from rest_framework import serializers

from apikeys.permissions import required_scope

from .errors import CODES_BY_STATUS
from .schema_params import query_parameters_constrained

EXAMPLE_DETAILS = {
    400: "JSON parse error - Expecting value: line 1 column 1 (char 0)",
    401: "Authentication credentials were not provided.",
    403: "This API key lacks the contacts:write scope.",
    404: "Not found.",
    405: 'Method "PUT" not allowed.',
    406: "Could not satisfy the request Accept header.",
    409: "A contact with the email jane@company.com already exists (#42).",
    413: "The request body is larger than 2621440 bytes; send fewer or smaller values.",
    415: 'Unsupported media type "text/plain" in request.',
    422: "This Idempotency-Key was already used with a different request.",
    429: "Request was throttled. Expected available in 12 seconds.",
    500: "Server Error (500)",
}


def error_response_serializer(status_code: int, **extra_fields) -> type[serializers.Serializer]:
    """The envelope of an error with `status_code`, its codes listed as an enum."""
    # The "ErrorComponent" suffix keeps drf-standardized-errors' enum hook from merging
    # these per-status code enums into one shared (and then wrong) enum component.
    item = type(
        f"Error{status_code}Serializer",
        (serializers.Serializer,),
        {
            "code": serializers.ChoiceField(choices=CODES_BY_STATUS[status_code]),
            "detail": serializers.CharField(),
            "attr": serializers.CharField(allow_null=True),
            "Meta": type("Meta", (), {"ref_name": f"Error{status_code}ErrorComponent"}),
        },
    )
    kind = ServerErrorEnum if status_code >= 500 else ClientErrorEnum
    return type(
        f"ErrorResponse{status_code}Serializer",
        (serializers.Serializer,),
        {
            "type": serializers.ChoiceField(choices=kind.choices),
            "errors": item(many=True),
            **extra_fields,
            "Meta": type("Meta", (), {"ref_name": f"ErrorResponse{status_code}"}),
        },
    )


ERROR_RESPONSES = {
    status_code: error_response_serializer(status_code)
    for status_code in CODES_BY_STATUS
    if status_code != 409
}
ERROR_RESPONSES[409] = error_response_serializer(
    409,
    existing_id=serializers.IntegerField(help_text="The id of the contact that already exists."),
)
ParseErrorResponse = ERROR_RESPONSES[400]

# drf-standardized-errors reads these by status through its ERROR_SCHEMAS setting.
ErrorResponse401 = ERROR_RESPONSES[401]
ErrorResponse403 = ERROR_RESPONSES[403]
ErrorResponse404 = ERROR_RESPONSES[404]
ErrorResponse405 = ERROR_RESPONSES[405]
ErrorResponse406 = ERROR_RESPONSES[406]
ErrorResponse409 = ERROR_RESPONSES[409]
ErrorResponse413 = ERROR_RESPONSES[413]
ErrorResponse415 = ERROR_RESPONSES[415]
ErrorResponse422 = ERROR_RESPONSES[422]
ErrorResponse429 = ERROR_RESPONSES[429]
ErrorResponse500 = ERROR_RESPONSES[500]


WRITE_METHODS = ("POST", "PUT", "PATCH")
COMPONENTS = "#/components/schemas/"
# The library's parse error, and what replaces it (this API's code is `invalid_json`).
LIBRARY_PARSE_ERROR = ("ParseErrorResponse", "ParseError")
PARSE_ERROR_COMPONENT = "ErrorResponse400"
REF = re.compile(r'"#/components/schemas/([^"]+)"')


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        # Only a request body can be too large.
        if self.method not in WRITE_METHODS:
            operation["responses"].pop("413", None)
        query_parameters_constrained(self.view, operation.get("parameters", []))
        # A list body's bounds, which the serializer's `many=True` does not carry.
        items = getattr(self.view, "request_body_items", None)
        for content in (operation.get("requestBody") or {}).get("content", {}).values():
            if items and content["schema"].get("type") == "array":
                content["schema"].update(minItems=items[0], maxItems=items[1])
        # Registered for parse_errors_with_api_codes, which puts it in place of the
        # library's parse error.
        self.resolve_serializer(ParseErrorResponse, "response")
        try:
            scope = required_scope(view=self.view, method=self.method)
        except ImproperlyConfigured:
            return operation
        # Appended here rather than in get_description, which extend_schema(description=…)
        # replaces outright.
        note = f"Requires the `{scope}` scope (API key), or a staff session."
        description = operation.get("description")
        operation["description"] = f"{description}\n\n{note}" if description else note
        operation["x-required-scope"] = scope
        return operation


def parse_errors_with_api_codes(result, generator, request, public):
    """Each operation's 400 names this API's parse error (`invalid_json`), not the library's
    (`parse_error`), which then leaves the components with what only it used (its code's
    enum). Runs after the enum hook, which rebuilds the components."""
    schemas = result.get("components", {}).get("schemas", {})
    library_ref = f"{COMPONENTS}{LIBRARY_PARSE_ERROR[0]}"
    api_ref = f"{COMPONENTS}{PARSE_ERROR_COMPONENT}"
    for component in schemas.values():
        for branch in component.get("oneOf", []):
            if branch.get("$ref") == library_ref:
                branch["$ref"] = api_ref
        mapping = component.get("discriminator", {}).get("mapping", {})
        for kind, ref in mapping.items():
            if ref == library_ref:
                mapping[kind] = api_ref
    removed = [schemas.pop(name) for name in LIBRARY_PARSE_ERROR if name in schemas]
    remaining = json.dumps(result, default=str)
    for name in sorted(set(REF.findall(json.dumps(removed, default=str)))):
        if f'"{COMPONENTS}{name}"' not in remaining:
            schemas.pop(name, None)
    return result


def error_examples_with_api_codes(result, generator, request, public):
    """The example of each documented error response, with this API's code and detail, in
    place of the library's (DRF's codes)."""
    allowed = {str(code) for code in package_settings.ALLOWED_ERROR_STATUS_CODES or []}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for status_code, response in (operation.get("responses") or {}).items():
                if status_code not in allowed or status_code == "400":
                    continue
                content = response.get("content", {}).get("application/json")
                if content is not None:
                    content["examples"] = build_examples_list([error_example(int(status_code))])
    return result


def error_example(status_code: int) -> OpenApiExample:
    codes = CODES_BY_STATUS[status_code]
    kind = "server_error" if status_code >= 500 else "client_error"
    return OpenApiExample(
        f"{codes[0]}",
        value={
            "type": kind,
            "errors": [
                {
                    "code": codes[0],
                    "detail": EXAMPLE_DETAILS[status_code],
                    "attr": "email" if status_code == 409 else None,
                }
            ],
            **({"existing_id": 42} if status_code == 409 else {}),
        },
        response_only=True,
        status_codes=[str(status_code)],
    )


# drf-standardized-errors names a nested field's errors with placeholders, in an enum:
# `phone_numbers.INDEX.number`, `custom_fields.KEY`. No real answer matches such an enum (it
# says `phone_numbers.0.number`), so a client validating answers against the schema (and the
# fuzz test, tests/test_fuzz.py) would reject them. Those attrs become a pattern; the
# placeholder name stays readable in `x-placeholder`.
PLACEHOLDERS = {"INDEX": "[0-9]+", "KEY": r"[\s\S]*"}  # a key may be anything, even ""


def attr_placeholders_as_patterns(result, generator, request, public):
    for component in result.get("components", {}).get("schemas", {}).values():
        attr = (component.get("properties") or {}).get("attr")
        values = attr.get("enum") if isinstance(attr, dict) else None
        if not values or len(values) != 1 or not isinstance(values[0], str):
            continue
        parts = values[0].split(".")
        if not PLACEHOLDERS.keys() & set(parts):
            continue
        pattern = r"\.".join(PLACEHOLDERS.get(part) or re.escape(part) for part in parts)
        del attr["enum"]
        attr["pattern"] = f"^{pattern}$"
        attr["x-placeholder"] = values[0]
    return result
