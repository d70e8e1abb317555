"""The schema describes the API: each constraint it states is one the API applies, and each one
the API applies is stated (issue 15, "the schema describes the API")."""

import json
import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from crm.services import contact_upsert
from tests.api_helpers import CONTACTS_URL, PUSH, READ, WRITE, detail_url, error_codes

CONTACT = "/api/v1/contacts/{id}/"
PUSH_PATH = "/api/v1/contacts/{id}/push/"
BATCH = "/api/v1/contacts/batch/"
CUSTOM_FIELDS = "/api/v1/custom-fields/"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


def list_parameter(schema: dict, name: str) -> dict:
    (found,) = [p for p in schema["paths"][CONTACTS_URL]["get"]["parameters"] if p["name"] == name]
    return found["schema"]


def matches(pattern: str, value: str) -> bool:
    """JSON Schema's `pattern`: a search, not a full match."""
    return re.search(pattern, value) is not None


# --- request bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "ContactRequest",
        "PatchedContactRequest",
        "ContactBatchItemRequest",
        "PhoneNumberRequest",
        "PushRequestRequest",
    ],
)
def test_every_request_object_refuses_keys_it_does_not_define(schema, name):
    assert component(schema, name)["additionalProperties"] is False


def test_a_contacts_custom_fields_stay_a_map_of_any_keys(schema):
    custom_fields = component(schema, "ContactRequest")["properties"]["custom_fields"]

    assert custom_fields["additionalProperties"] == {}


def test_the_api_refuses_an_unknown_key_in_a_contact_and_in_a_phone_number(api_client):
    response = api_client.post(
        CONTACTS_URL,
        {
            "first_name": "Ada",
            "nickname": "A",
            "phone_numbers": [{"number": "+14155550100", "x": 1}],
        },
        format="json",
    )

    assert response.status_code == 400
    assert error_codes(response) == {
        "nickname": ["unknown_field"],
        "phone_numbers.0.x": ["unknown_field"],
    }


def test_the_push_refuses_an_unknown_body_key(make_client):
    contact = contact_upsert(data={"first_name": "Ada"})

    response = make_client(PUSH).post(
        f"{detail_url(contact.pk)}push/", {"connection": ["GetRaze"]}, format="json"
    )

    assert response.status_code == 400
    assert error_codes(response) == {"connection": ["unknown_field"]}


@pytest.mark.parametrize("name", ["ContactRequest", "PatchedContactRequest"])
def test_the_schema_says_first_name_is_not_blank(schema, name):
    first_name = component(schema, name)["properties"]["first_name"]

    assert first_name["minLength"] == 1
    assert not matches(first_name["pattern"], "   ")
    assert matches(first_name["pattern"], " Ada ")


@pytest.mark.parametrize("name", ["ContactRequest", "ContactBatchItemRequest"])
def test_the_schema_says_a_tag_is_not_blank(schema, name):
    tag = component(schema, name)["properties"]["tags"]["items"]

    assert not any(matches(tag["pattern"], blank) for blank in ["", " ", "\x1f"])


def test_the_api_refuses_a_blank_tag(api_client):
    response = api_client.post(
        CONTACTS_URL, {"first_name": "Ada", "tags": ["vip", "\x1f "]}, format="json"
    )

    assert error_codes(response) == {"tags.1": ["blank"]}


@pytest.mark.parametrize("blank", ["", "   ", "\x1f", "\u3000"])
def test_the_api_refuses_a_blank_first_name_as_required(schema, api_client, blank):
    # Blank as Python's str.strip() sees it (ECMA's `\S` takes U+001F for a character).
    assert not matches(
        component(schema, "ContactRequest")["properties"]["first_name"]["pattern"], blank
    )

    response = api_client.post(CONTACTS_URL, {"first_name": blank}, format="json")

    assert response.status_code == 400
    assert error_codes(response) == {"first_name": ["required"]}


def test_the_countrys_pattern_takes_codes_in_either_case_names_and_empty(schema):
    pattern = component(schema, "Country")["pattern"]

    assert all(matches(pattern, value) for value in ["BR", "br", "Brazil", ""])
    assert not any(matches(pattern, value) for value in ["AA", "Bra", "BR ", "Brazil!"])


@pytest.mark.parametrize(("value", "stored"), [("br", "BR"), ("Brazil", "BR"), ("", "")])
def test_the_api_takes_what_the_countrys_pattern_takes(api_client, value, stored):
    response = api_client.post(CONTACTS_URL, {"first_name": "Ada", "country": value}, format="json")

    assert response.status_code == 201
    assert response.json()["country"] == stored


@pytest.mark.parametrize("value", [{}, {"code": "BR"}, 76, ["BR"], True])
def test_a_country_that_is_not_text_is_refused(api_client, value):
    # django-countries reads {"code": …} and numbers; `{}` used to be stored as no country.
    response = api_client.post(CONTACTS_URL, {"first_name": "Ada", "country": value}, format="json")

    assert response.status_code == 400
    assert error_codes(response) == {"country": ["invalid_choice"]}


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://relay.example/in/ada", True),
        ("http://a.example.com:8080/?q=1#top", True),
        ("ftp://files.example.org/a.csv", True),
        ("mailto:ada@example.com", False),
        ("https://localhost:8000/", True),
        ("https://intranet", False),
        ("https://-bad.example", False),
        ("http://localhost/a\x1db", False),  # a space to Python (URLValidator), not to ECMA
    ],
)
def test_the_url_pattern_agrees_with_the_api(schema, api_client, url, accepted):
    (pattern_branch, blank_branch) = component(schema, "ContactRequest")["properties"]["website"][
        "oneOf"
    ]
    response = api_client.post(CONTACTS_URL, {"first_name": "Ada", "website": url}, format="json")

    assert not matches(blank_branch["pattern"], "x") and matches(blank_branch["pattern"], " ")
    assert matches(pattern_branch["pattern"], url) is accepted
    assert (response.status_code == 201) is accepted


def test_the_batch_states_its_bounds(schema):
    body = schema["paths"][BATCH]["post"]["requestBody"]["content"]["application/json"]["schema"]

    assert (body["minItems"], body["maxItems"]) == (1, 100)


# --- query parameters --------------------------------------------------------------------------


def test_every_free_text_query_parameter_says_it_is_not_blank(schema):
    for parameter in schema["paths"][CONTACTS_URL]["get"]["parameters"]:
        value = parameter["schema"].get("items", parameter["schema"])
        if value.get("type") != "string" or {"enum", "format"} & set(value):
            continue
        assert not matches(value["pattern"], ""), parameter["name"]
        assert not matches(value["pattern"], "  "), parameter["name"]
        assert not matches(value["pattern"], "\x1f\u3000"), parameter["name"]


@pytest.mark.parametrize(
    "query", ["cursor=", "created_since=", "search=", "company=%20", "tag=", "sync=", "tag=%1F"]
)
def test_the_list_refuses_a_blank_query_value(reader, query):
    response = reader.get(f"{CONTACTS_URL}?{query}")
    name = query.split("=")[0]

    assert response.status_code == 400
    assert error_codes(response) == {name: ["blank"]}


def test_the_schema_states_the_lists_limits(schema):
    assert list_parameter(schema, "search")["maxLength"] == 200
    assert list_parameter(schema, "owner") == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**63 - 1,
    }
    assert list_parameter(schema, "page")["maximum"] == 10**18 - 1
    assert list_parameter(schema, "ordering")["enum"] == [
        f"{sign}{name}"
        for name in ["created_at", "updated_at", "first_name", "last_name", "company", "email"]
        for sign in ("", "-")
    ]


def test_a_search_longer_than_the_schema_says_is_refused(schema, reader):
    limit = list_parameter(schema, "search")["maxLength"]

    assert reader.get(CONTACTS_URL, {"search": "a" * limit}).status_code == 200
    response = reader.get(CONTACTS_URL, {"search": "a" * (limit + 1)})
    assert error_codes(response) == {"search": ["max_length"]}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("failed", True),
        ("  synced ", True),
        ("\x1ffailed\x1f", True),  # spaces to Python's str.strip(), not to ECMA's \s
        ("GetRaze:failed", True),
        ("a:b:pending", True),
        ("GetRaze: failed", False),
        ("failed:GetRaze", False),
        ("done", False),
    ],
)
def test_the_sync_pattern_agrees_with_the_api(schema, reader, value, accepted):
    response = reader.get(CONTACTS_URL, {"sync": value})

    assert matches(list_parameter(schema, "sync")["pattern"], value) is accepted
    assert (response.status_code == 200) is accepted


@pytest.mark.parametrize(("value", "accepted"), [("br", True), ("BR", True), ("AA", False)])
def test_the_country_filters_pattern_agrees_with_the_api(schema, reader, value, accepted):
    response = reader.get(CONTACTS_URL, {"country": value})

    assert matches(list_parameter(schema, "country")["pattern"], value) is accepted
    assert (response.status_code == 200) is accepted


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    [
        ("post", "{contact}push/", [PUSH]),
        ("post", BATCH, [WRITE]),
        ("get", CUSTOM_FIELDS, [READ]),
    ],
)
def test_the_other_endpoints_refuse_unknown_or_bad_query_parameters(
    make_client, method, path, scopes
):
    contact = contact_upsert(data={"first_name": "Ada"})
    url = path.format(contact=detail_url(contact.pk))
    client = make_client(*scopes)
    body = [{"first_name": "Bo"}] if path == BATCH else {}

    def send(query: str):
        return getattr(client, method)(f"{url}?{query}", body, format="json")

    assert error_codes(send("dry_run=1")) == {"dry_run": ["unknown_parameter"]}
    assert error_codes(send("format=xml")) == {"format": ["invalid_choice"]}
    assert error_codes(send("format=")) == {"format": ["blank"]}
    assert send("format=json").status_code < 300


@pytest.mark.parametrize(
    ("path", "method"), [(PUSH_PATH, "post"), (BATCH, "post"), (CUSTOM_FIELDS, "get")]
)
def test_the_schema_documents_their_query_parameter_codes(schema, path, method):
    names = {
        name
        for name in schema["components"]["schemas"]
        if name.endswith("KEYErrorComponent") or name.endswith("FormatErrorComponent")
    }
    prefix = schema["paths"][path][method]["operationId"].title().replace("_", "")
    key = component(schema, f"{prefix}KEYErrorComponent")
    format_ = component(schema, f"{prefix}FormatErrorComponent")

    assert {f"{prefix}KEYErrorComponent", f"{prefix}FormatErrorComponent"} <= names
    assert "unknown_parameter" in key["properties"]["code"]["enum"]
    assert {"blank", "invalid_choice"} <= set(format_["properties"]["code"]["enum"])


# --- headers -----------------------------------------------------------------------------------


def test_the_idempotency_keys_format_agrees_with_the_api(schema, api_client):
    (parameter,) = [
        p for p in schema["paths"][CONTACTS_URL]["post"]["parameters"] if p["in"] == "header"
    ]
    key_schema = parameter["schema"]

    for key, accepted in [("a-uuid-1", True), ("x" * 255, True), ("x" * 256, False), ("é", False)]:
        fits = matches(key_schema["pattern"], key) and len(key) <= key_schema["maxLength"]
        response = api_client.post(
            CONTACTS_URL, {"first_name": key[:10]}, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        assert fits is accepted, key
        assert (response.status_code == 201) is accepted, key


def test_the_create_documents_location_and_idempotent_replayed(schema, api_client):
    headers = schema["paths"][CONTACTS_URL]["post"]["responses"]["201"]["headers"]
    batch = schema["paths"][BATCH]["post"]["responses"]["200"]["headers"]

    assert {"Location", "Idempotent-Replayed", "ETag"} <= set(headers)
    assert "Idempotent-Replayed" in batch
    assert "Location" not in batch

    first = api_client.post(
        CONTACTS_URL, {"first_name": "Ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    again = api_client.post(
        CONTACTS_URL, {"first_name": "Ada"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert first["Location"] == again["Location"]
    assert first["Location"].endswith(detail_url(first.json()["id"]))
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"


def test_a_429_documents_retry_after(schema):
    responses = schema["paths"][CONTACTS_URL]["get"]["responses"]

    assert "Retry-After" in responses["429"]["headers"]


# --- responses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Contact", "PhoneNumber", "RemoteLink", "LinkError", "CustomField", "PushResult"],
)
def test_every_field_of_an_answer_is_required(schema, name):
    answer = component(schema, name)

    assert set(answer["required"]) == set(answer["properties"])


@pytest.mark.parametrize(
    ("name", "optional"),
    [("PaginatedContactList", {"count"}), ("ItemErrorResponse", {"existing_id"})],
)
def test_only_the_fields_an_answer_may_leave_out_are_optional(schema, name, optional):
    answer = component(schema, name)

    assert set(answer["properties"]) - set(answer["required"]) == optional


def test_the_create_links_the_new_contact_to_its_operations(schema):
    links = schema["paths"][CONTACTS_URL]["post"]["responses"]["201"]["links"]

    assert {link["operationId"] for link in links.values()} == {
        "contacts_retrieve",
        "contacts_update",
        "contacts_partial_update",
        "contacts_destroy",
        "contacts_push_create",
    }
    assert all(link["parameters"] == {"id": "$response.body#/id"} for link in links.values())


def test_no_component_is_left_unused(schema):
    text = json.dumps({key: value for key, value in schema.items() if key != "components"})
    pending = set(re.findall(r"#/components/schemas/([^\"]+)", text))
    used: set[str] = set()
    while pending:
        name = pending.pop()
        used.add(name)
        found = re.findall(r"#/components/schemas/([^\"]+)", json.dumps(component(schema, name)))
        pending |= set(found) - used

    assert set(schema["components"]["schemas"]) == used


@pytest.mark.parametrize("field", ["last_name", "email", "website", "description"])
def test_a_text_longer_than_its_max_length_is_refused_even_when_spaces_pad_it(schema, api, field):
    properties = component(schema, "ContactRequest")["properties"][field]
    limit = max(branch["maxLength"] for branch in properties.get("oneOf", [properties]))
    # Only spaces past the limit (DRF took them for "" once trimmed), then a value with spaces
    # around it (trimmed to the limit, it was stored).
    for value in [" " * (limit + 1), f" {'a' * (limit - 1)}  "]:
        response = api.post(CONTACTS_URL, {"first_name": "Ada", field: value}, format="json")
        assert error_codes(response) == {field: ["max_length"]}, value[:20]


def test_a_blank_of_spaces_within_the_limit_is_still_no_value(api):
    response = api.post(
        CONTACTS_URL, {"first_name": "Ada", "email": "   ", "website": " "}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["email"], response.json()["website"]) == ("", "")


@pytest.mark.parametrize(("field", "value"), [("city", 5), ("address", 0.0), ("tags", [7])])
def test_a_number_for_a_text_is_refused(api, field, value):
    # DRF's CharField took it (`"city": 5` stored "5"); the schema says text.
    response = api.post(CONTACTS_URL, {"first_name": "Ada", field: value}, format="json")

    attr = f"{field}.0" if field == "tags" else field
    assert error_codes(response) == {attr: ["invalid"]}


@pytest.mark.parametrize("name", ["ContactRequest", "Contact", "ContactBatchItemRequest"])
def test_the_phone_numbers_bound_is_stated(schema, name):
    assert component(schema, name)["properties"]["phone_numbers"]["maxItems"] == 20
