"""GET /api/v1/custom-fields/: the custom field definitions, for clients to build forms."""

import pytest

from crm.models import CustomField
from tests.api_helpers import READ, WRITE, error_codes

URL = "/api/v1/custom-fields/"


@pytest.fixture
def fields(db):
    CustomField.objects.create(
        key="industry",
        label="Industry",
        type=CustomField.Type.CHOICE,
        choices=["SaaS", "Retail"],
        required=True,
        help_text="The main market.",
        position=2,
    )
    CustomField.objects.create(key="seats", label="Seats", type=CustomField.Type.NUMBER)
    CustomField.objects.create(key="renewal", label="Renewal", type=CustomField.Type.DATE)


def test_it_lists_every_field_in_the_admins_order(reader, fields, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the key, the fields
        response = reader.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "results": [
            {
                "key": "renewal",
                "label": "Renewal",
                "type": "date",
                "choices": [],
                "required": False,
                "help_text": "",
            },
            {
                "key": "seats",
                "label": "Seats",
                "type": "number",
                "choices": [],
                "required": False,
                "help_text": "",
            },
            {
                "key": "industry",
                "label": "Industry",
                "type": "choice",
                "choices": ["SaaS", "Retail"],
                "required": True,
                "help_text": "The main market.",
            },
        ]
    }


def test_no_fields_is_an_empty_list(reader):
    assert reader.get(URL).json() == {"results": []}


def test_it_needs_the_read_scope_and_answers_errors_in_the_envelope(make_client, fields):
    denied = make_client(WRITE).get(URL)
    assert denied.status_code == 403
    assert error_codes(denied) == {None: ["permission_denied"]}

    anonymous = make_client(READ).__class__().get(URL)
    assert anonymous.status_code == 401
    assert error_codes(anonymous) == {None: ["authentication_required"]}

    refused = make_client(READ).post(URL, {}, format="json")
    assert refused.status_code == 405
    assert error_codes(refused) == {None: ["method_not_allowed"]}


def test_the_schema_documents_the_list_and_the_batch(client):
    schema = client.get("/api/schema/?format=json").json()

    listing = schema["paths"]["/api/v1/custom-fields/"]["get"]
    assert listing["x-required-scope"] == "contacts:read"
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CustomFieldList"
    }
    field = schema["components"]["schemas"]["CustomField"]
    assert set(field["required"]) == {"key", "label", "type", "choices", "required", "help_text"}

    batch = schema["paths"]["/api/v1/contacts/batch/"]["post"]
    assert batch["x-required-scope"] == "contacts:write"
    assert batch["requestBody"]["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/ContactBatchItemRequest"},
        "minItems": 1,
        "maxItems": 100,
    }
    assert batch["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ContactBatchResult"
    }
    result = schema["components"]["schemas"]["ContactBatchItemResult"]
    assert set(result["required"]) == {"index", "status", "id", "errors"}
    assert "Idempotency-Key" in {p["name"] for p in batch["parameters"]}
    assert batch["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorResponse422"
    }
