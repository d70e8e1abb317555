"""The OpenAPI schema: valid, and accurate about fields, auth and error codes."""

import io

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from tests.api_helpers import detail_url
from tests.factories import ContactFactory, PhoneNumberFactory

CONTACTS = "/api/v1/contacts/"
CONTACT = "/api/v1/contacts/{id}/"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def response_codes(schema: dict, path: str, method: str, status: str) -> set[str]:
    """The error codes an operation documents for a status."""
    body = schema["paths"][path][method]["responses"][status]["content"]["application/json"]
    envelope = resolve(schema, body["schema"])
    variants = [resolve(schema, v) for v in envelope.get("oneOf", [envelope])]
    codes = set()
    for variant in variants:
        errors = resolve(schema, variant["properties"]["errors"]["items"])
        for item in [resolve(schema, e) for e in errors.get("oneOf", [errors])]:
            codes.update(item["properties"]["code"]["enum"])
    return codes


def validation_codes(schema: dict, path: str, method: str) -> dict[str, set[str]]:
    body = schema["paths"][path][method]["responses"]["400"]["content"]["application/json"]
    envelope = resolve(schema, body["schema"])
    validation = resolve(schema, {"$ref": envelope["discriminator"]["mapping"]["validation_error"]})
    errors = resolve(schema, validation["properties"]["errors"]["items"])
    codes = {}
    for item in (resolve(schema, e) for e in errors["oneOf"]):
        # A nested field's attr is a pattern, named by its placeholder (api.schema).
        (attr,) = item["properties"]["attr"].get("enum") or [
            item["properties"]["attr"]["x-placeholder"]
        ]
        codes[attr] = set(item["properties"]["code"]["enum"])
    return codes


def test_the_schema_is_valid_openapi_3_and_generates_without_warnings(tmp_path):
    # --fail-on-warn: an unresolved type or an enum collision would make the schema vague.
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yaml"),
        stderr=io.StringIO(),
    )


def test_validate_schema_accepts_the_served_schema(schema):
    validate_schema(schema)


def test_it_documents_the_api_key_header_on_every_operation(schema):
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    for path in (CONTACTS, CONTACT):
        for operation in schema["paths"][path].values():
            assert {"ApiKeyAuth": []} in operation["security"]


def test_it_names_the_scope_each_operation_needs(schema):
    scopes = {
        (path, method): operation["x-required-scope"]
        for path in (CONTACTS, CONTACT)
        for method, operation in schema["paths"][path].items()
    }

    assert scopes == {
        (CONTACTS, "get"): "contacts:read",
        (CONTACTS, "post"): "contacts:write",
        (CONTACT, "get"): "contacts:read",
        (CONTACT, "put"): "contacts:write",
        (CONTACT, "patch"): "contacts:write",
        (CONTACT, "delete"): "contacts:write",
    }


@pytest.mark.parametrize(
    ("status", "codes"),
    [
        ("401", {"authentication_required", "invalid_key"}),
        ("403", {"permission_denied"}),
        ("404", {"not_found"}),
        ("413", {"request_too_large"}),
        ("415", {"unsupported_media_type"}),
        ("429", {"rate_limited"}),
        ("500", {"server_error"}),
        ("409", {"already_exists"}),
        ("422", {"idempotency_key_reused"}),
    ],
)
def test_create_documents_each_error_status_with_this_apis_codes(schema, status, codes):
    assert response_codes(schema, CONTACTS, "post", status) == codes


def test_the_409_documents_the_existing_contacts_id(schema):
    body = schema["paths"][CONTACTS]["post"]["responses"]["409"]["content"]["application/json"]
    envelope = resolve(schema, body["schema"])

    assert envelope["properties"]["existing_id"]["type"] == "integer"
    assert "existing_id" in envelope["required"]


def test_reads_do_not_document_body_errors(schema):
    responses = schema["paths"][CONTACTS]["get"]["responses"]

    assert {"413", "409", "422"}.isdisjoint(responses)


def test_the_400_documents_field_codes_from_the_service_and_invalid_json(schema):
    codes = validation_codes(schema, CONTACTS, "post")

    assert "required" in codes["first_name"]
    assert "invalid_email" in codes["email"]
    assert {"invalid_phone", "duplicate_phone"} <= codes["phone_numbers.INDEX.number"]
    assert "multiple_primary" in codes["phone_numbers.non_field_errors"]
    assert {"unknown_custom_field", "invalid_custom_field", "required"} <= codes[
        "custom_fields.KEY"
    ]
    assert "max_length" in codes["custom_fields"]
    assert "unknown_field" in codes["KEY"]
    assert "invalid" in codes["Idempotency-Key"]
    assert "invalid_json" in response_codes(schema, CONTACTS, "post", "400")


def test_the_list_documents_every_filter(schema):
    names = {p["name"] for p in schema["paths"][CONTACTS]["get"]["parameters"]}

    assert names >= {
        "search",
        "tag",
        "stage",
        "status",
        "source",
        "company",
        "country",
        "email",
        "owner",
        "created_since",
        "updated_since",
        "has_phone",
        "ordering",
        "page",
        "page_size",
    }


def test_the_contact_component_matches_what_the_api_returns(schema, reader):
    contact = ContactFactory()
    PhoneNumberFactory(contact=contact)
    body = reader.get(detail_url(contact.pk)).json()
    components = schema["components"]["schemas"]

    assert set(components["Contact"]["properties"]) == set(body)
    assert set(components["PhoneNumber"]["properties"]) == set(body["phone_numbers"][0])
    read_only = {
        name for name, prop in components["Contact"]["properties"].items() if prop.get("readOnly")
    }
    assert {"id", "full_name", "created_at", "updated_at"} <= read_only
    assert set(components["ContactRequest"]["properties"]) == set(body) - read_only


def test_the_schema_and_swagger_ui_are_served_without_a_key(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
