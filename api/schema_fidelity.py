"""The schema says what the API does (drf-spectacular postprocessing hooks, on the schema only).

- A request body's object refuses keys it does not define (`unknown_field`):
  `additionalProperties: false`, unless the object is a free-form map.
- A response's object always has its fields, except the few listed in SOMETIMES_ABSENT:
  they are `required`, so a generated client types them as always present.
- The headers the API sends on its answers: `Location` on a 201, `Idempotent-Replayed` on a
  replayed answer of an operation that takes `Idempotency-Key`, and that header's format.
- Links from a created contact to the operations on it (OpenAPI links), for clients and for
  stateful testing.
- No component that nothing uses.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

from apikeys.idempotency import HEADER as IDEMPOTENCY_KEY
from apikeys.idempotency import MAX_LENGTH as IDEMPOTENCY_KEY_MAX_LENGTH

from .contacts.serializers import MAX_PHONE_NUMBERS

COMPONENTS = "#/components/schemas/"
# {property: its most items}, for lists of nested objects.
LIST_BOUNDS = {"phone_numbers": MAX_PHONE_NUMBERS}
REF = re.compile(r'"#/components/schemas/([^"]+)"')

# Response fields that an answer may leave out: {component: {field: when it is there}}.
SOMETIMES_ABSENT = {
    "PaginatedContactList": {"count"},  # only with `page`
    "ItemErrorResponse": {"existing_id"},  # only with `already_exists`
}

HEADERS = {
    "Location": {
        "description": "The URL of the created contact.",
        "schema": {"type": "string", "format": "uri"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same `Idempotency-Key` (nothing was written again); absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
# What apikeys.idempotency takes: 1 to 255 printable ASCII characters, not only spaces.
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": IDEMPOTENCY_KEY_MAX_LENGTH,
    "pattern": "^[ -~]*[!-~][ -~]*$",
}

CONTACT_DETAIL = "/api/v1/contacts/{id}/"
# The operations a created contact's id leads to: {path: {method: operationId}} is read from
# the schema; these are the paths whose `id` is a contact's.
CONTACT_PATHS = ("/api/v1/contacts/{id}/", "/api/v1/contacts/{id}/push/")


def _refs(node: Any) -> set[str]:
    return set(REF.findall(json.dumps(node, default=str)))


def _reachable(schemas: dict, roots: set[str]) -> set[str]:
    found, pending = set(), list(roots)
    while pending:
        name = pending.pop()
        if name in found or name not in schemas:
            continue
        found.add(name)
        pending.extend(_refs(schemas[name]) - found)
    return found


def _operations(result: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield path, method, operation


def _objects(schema: Any) -> Iterator[dict]:
    """Every object schema with properties in `schema`, nested ones included."""
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            yield schema
        for value in schema.values():
            yield from _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _objects(value)


def request_lists_bounded(result, generator, request, public):
    """A nested list's bound, which a `many=True` serializer does not carry into the schema."""
    schemas = result.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        for name, max_items in LIST_BOUNDS.items():
            prop = (schema.get("properties") or {}).get(name)
            if isinstance(prop, dict) and prop.get("type") == "array":
                prop.setdefault("maxItems", max_items)
    return result


def request_bodies_refuse_unknown_keys(result, generator, request, public):
    schemas = result.get("components", {}).get("schemas", {})
    bodies = [op.get("requestBody", {}) for _, _, op in _operations(result)]
    names = _reachable(schemas, _refs(bodies))
    for schema in [*bodies, *(schemas[name] for name in names)]:
        for node in _objects(schema):
            node.setdefault("additionalProperties", False)
    return result


def response_fields_always_present(result, generator, request, public):
    schemas = result.get("components", {}).get("schemas", {})
    answers = [
        response.get("content", {})
        for _, _, op in _operations(result)
        for status, response in op["responses"].items()
        if status.startswith("2")
    ]
    for name in _reachable(schemas, _refs(answers)):
        optional = SOMETIMES_ABSENT.get(name, set())
        for node in _objects(schemas[name]):
            node["required"] = [field for field in node["properties"] if field not in optional]
    return result


def answer_headers(result, generator, request, public):
    headers = result.setdefault("components", {}).setdefault("headers", {})
    headers.update(HEADERS)
    for _, _, operation in _operations(result):
        idempotent = False
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == IDEMPOTENCY_KEY and parameter.get("in") == "header":
                parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)
                idempotent = True
        for status, response in operation["responses"].items():
            if "$ref" in response:
                continue
            if status == "201":
                response.setdefault("headers", {})["Location"] = _header("Location")
            if idempotent and status.startswith("2"):
                response.setdefault("headers", {})["Idempotent-Replayed"] = _header(
                    "Idempotent-Replayed"
                )
    return result


def _header(name: str) -> dict:
    return {"$ref": f"#/components/headers/{name}"}


def created_contact_links(result, generator, request, public):
    """The 201 of a contact's create links to each operation on that contact, by its id."""
    paths = result.get("paths", {})
    targets = {
        f"{method.upper()} {path}": operation["operationId"]
        for path in CONTACT_PATHS
        for method, operation in paths.get(path, {}).items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for _, method, operation in _operations(result):
        created = operation["responses"].get("201")
        if method != "post" or created is None or "$ref" in created:
            continue
        created["links"] = {
            _link_name(label): {
                "operationId": operation_id,
                "parameters": {"id": "$response.body#/id"},
                "description": f"{label} of the contact just created.",
            }
            for label, operation_id in targets.items()
        }
    return result


def _link_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_")


def unused_components_removed(result, generator, request, public):
    """Components that nothing refers to (left by the library, or by earlier hooks)."""
    schemas = result.get("components", {}).get("schemas", {})
    roots = _refs({key: value for key, value in result.items() if key != "components"})
    roots |= _refs(result.get("components", {}).get("headers", {}))
    used = _reachable(schemas, roots)
    for name in set(schemas) - used:
        del schemas[name]
    return result
