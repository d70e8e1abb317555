"""The API at its edges (issue 15): every answer under /api/ is JSON with a code, whatever the
URL's form, the method, the Accept header or the query string."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from crm.models import Contact
from tests.api_helpers import CONTACTS_URL, PUSH, READ, WRITE, detail_url, error_codes
from tests.factories import ContactFactory

JAVA_ACCEPT = "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"


def envelope(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    body = json.loads(response.content)
    assert body["type"] in ("validation_error", "client_error", "server_error")
    assert body["errors"]
    assert all(set(error) == {"code", "detail", "attr"} for error in body["errors"])
    return body


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    settings.APPEND_SLASH = True
    return request.param


@pytest.fixture
def everything(make_client) -> APIClient:
    return make_client(READ, WRITE, PUSH)


# --- finding 2: both URL forms --------------------------------------------------------------


def test_a_create_without_the_trailing_slash_creates_and_answers_201(everything, debug):
    response = everything.post(CONTACTS_URL.rstrip("/"), {"first_name": "Ada"}, format="json")

    assert response.status_code == 201
    contact = Contact.objects.get()
    assert response.json()["id"] == contact.pk
    # The canonical, slashed URL.
    assert response["Location"] == f"http://testserver{detail_url(contact.pk)}"


@pytest.mark.parametrize(
    ("method", "body", "status"),
    [
        ("get", None, 200),
        ("put", {"first_name": "Put"}, 200),
        ("patch", {"first_name": "Patched"}, 200),
        ("delete", None, 204),
    ],
)
def test_every_detail_method_works_without_the_trailing_slash(
    everything, debug, method, body, status
):
    contact = ContactFactory(first_name="Before")

    response = getattr(everything, method)(detail_url(contact.pk).rstrip("/"), body, format="json")

    assert response.status_code == status
    if method in ("put", "patch"):
        contact.refresh_from_db()
        assert contact.first_name == body["first_name"]
    if method == "delete":
        assert not Contact.objects.filter(pk=contact.pk).exists()


def test_the_list_and_the_push_work_without_the_trailing_slash(everything, debug):
    contact = ContactFactory()

    listed = everything.get(CONTACTS_URL.rstrip("/"))
    pushed = everything.post(f"{detail_url(contact.pk)}push", {}, format="json")

    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["results"]] == [contact.pk]
    assert pushed.status_code == 202


@pytest.mark.parametrize("path", ["/api/schema", "/api/docs"])
def test_the_schema_and_its_docs_answer_without_the_trailing_slash(client, debug, path):
    assert client.get(path).status_code == 200


def test_the_schema_names_every_path_in_its_slashed_form(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]

    assert paths
    assert all(path.endswith("/") for path in paths)


# --- finding 3: content negotiation ---------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        JAVA_ACCEPT,
        "*",
        "*/*",
        "application/*",
        "text/html",
        "text/html, application/xhtml+xml",
        None,
        "",
        "garbage",
        ";;;,,,",
        "application/xml",
        "application/json; q=0",
    ],
)
def test_a_key_request_gets_json_whatever_its_accept_header(everything, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    ContactFactory()

    listed = everything.get(CONTACTS_URL, **headers)
    created = everything.post(CONTACTS_URL, {"first_name": "Ada"}, format="json", **headers)
    refused = everything.post(CONTACTS_URL, {"first_name": ""}, format="json", **headers)

    assert listed.status_code == 200
    assert listed["Content-Type"] == "application/json"
    assert len(listed.json()["results"]) == 1
    assert created.status_code == 201
    assert created["Content-Type"] == "application/json"
    assert created.json()["id"] == Contact.objects.get(first_name="Ada").pk
    assert refused.status_code == 400
    envelope(refused)


def test_a_request_without_key_or_session_gets_a_json_401_even_asking_for_html(client, db):
    response = client.get(CONTACTS_URL, HTTP_ACCEPT=JAVA_ACCEPT)

    assert response.status_code == 401
    assert error_codes(response) == {None: ["authentication_required"]}


def test_a_staff_session_asking_for_html_gets_the_browsable_api(staff_client):
    response = staff_client.get(CONTACTS_URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_a_staff_session_sending_an_api_key_gets_json(staff_client, everything):
    staff_client.defaults["HTTP_X_API_KEY"] = everything.secret

    response = staff_client.get(CONTACTS_URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_a_session_of_a_user_who_is_not_staff_gets_json(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("someone", password="pw"))

    response = client.get(CONTACTS_URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 403
    envelope(response)


def test_the_schema_is_still_served_in_the_format_asked_for(client, db):
    assert client.get("/api/schema/?format=json")["Content-Type"].startswith(
        "application/vnd.oai.openapi+json"
    )
    assert client.get("/api/schema/")["Content-Type"].startswith("application/vnd.oai.openapi")


# --- finding 8: query parameters --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ordering=foo", {"ordering": ["invalid"]}),
        ("ordering=id", {"ordering": ["invalid"]}),
        ("ordering=email,-email", {"ordering": ["invalid"]}),
        ("ordering=email,", {"ordering": ["invalid"]}),
        ("tags=vip", {"tags": ["unknown_parameter"]}),
        ("pagesize=10", {"pagesize": ["unknown_parameter"]}),
        ("page_size=0", {"page_size": ["min_value"]}),
        ("page_size=abc", {"page_size": ["invalid"]}),
        ("page_size=-1", {"page_size": ["invalid"]}),
        ("page_size=101", {"page_size": ["max_value"]}),
        ("page_size=99999999999999999999999", {"page_size": ["max_value"]}),
        ("page_size=10&page_size=20", {"page_size": ["invalid"]}),
        ("cursor=&created_since=", {"cursor": ["blank"], "created_since": ["blank"]}),
        ("search=", {"search": ["blank"]}),
        ("tag=vip&tag=", {"tag": ["blank"]}),
        ("page=0", {"page": ["min_value"]}),
        ("page=abc", {"page": ["invalid"]}),
        ("page=last", {"page": ["invalid"]}),
        ("format=xml", {"format": ["invalid_choice"]}),
        ("stage=lead&stage=lost&email=a@b.c&email=d@e.f", {"email": ["invalid"]}),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(reader, query, expected):
    ContactFactory()

    response = reader.get(f"{CONTACTS_URL}?{query}")

    assert response.status_code == 400
    assert envelope(response)["type"] == "validation_error"
    assert error_codes(response) == expected


def test_many_unknown_parameters_are_named_up_to_a_bound(reader):
    query = "&".join(f"p{n:02}=1" for n in range(25))

    response = reader.get(f"{CONTACTS_URL}?{query}")

    codes = error_codes(response)
    assert len(codes) == 21
    assert codes["non_field_errors"] == ["unknown_parameter"]


def test_the_known_parameters_still_work_together(reader):
    lead = ContactFactory(stage="lead", first_name="Ann", email="ann@example.com")
    ContactFactory(stage="customer")
    query = (
        "stage=lead&stage=lost&search=Ann&ordering=-created_at,email&page_size=10"
        "&created_since=2000-01-01T00:00:00Z&has_phone=false&format=json"
    )

    response = reader.get(f"{CONTACTS_URL}?{query}")
    paged = reader.get(f"{CONTACTS_URL}?page=1&page_size=1&stage=lead")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [lead.pk]
    assert paged.json()["count"] == 1


def test_a_page_past_the_end_is_still_404(reader):
    response = reader.get(f"{CONTACTS_URL}?page=3")

    assert response.status_code == 404
    assert error_codes(response) == {None: ["not_found"]}


def test_a_contact_url_takes_no_filter_parameters(reader):
    contact = ContactFactory(stage="lead")

    response = reader.get(f"{detail_url(contact.pk)}?stage=customer")

    assert response.status_code == 400
    assert error_codes(response) == {"stage": ["unknown_parameter"]}
    assert reader.get(f"{detail_url(contact.pk)}?format=json").status_code == 200


def test_every_query_error_the_list_gives_is_in_the_schema(client, db):
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    declared = {
        name: set(component["properties"]["code"]["enum"])
        for name, component in components.items()
        if name.startswith("ContactsList") and name.endswith("ErrorComponent")
    }

    assert declared["ContactsListKEYErrorComponent"] == {"unknown_parameter"}
    assert {"blank", "invalid", "min_value", "max_value"} <= declared[
        "ContactsListPageSizeErrorComponent"
    ]
    assert {"blank", "invalid_cursor"} <= declared["ContactsListCursorErrorComponent"]
    assert {"blank", "max_length"} <= declared["ContactsListTagErrorComponent"]
    assert "invalid" in declared["ContactsListOrderingErrorComponent"]


# --- finding 10: the envelope everywhere ----------------------------------------------------

UNKNOWN_PATHS = [
    "/api/v1/contacts/abc/",
    "/api/v1/contacts/abc",
    "/api/v1/contacts/-1/",
    "/api/v1/contacts/1.5/",
    "/api/v1/contacts/1/nothing/",
    "/api/v1/contacts/abc/push/",
    "/api/v1/nothing",
    "/api/v2/contacts/",
    "/api/",
    "/api/v1/contacts//",
]
METHODS = ["get", "post", "put", "patch", "delete", "options"]


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_an_unknown_api_url_is_a_json_404_for_any_method(
    make_client, debug, path, method, with_key
):
    client = make_client(READ, WRITE) if with_key else APIClient()
    client.raise_request_exception = False

    response = getattr(client, method)(path, {"first_name": "X"}, format="json")

    assert response.status_code == 404
    assert envelope(response)["errors"][0]["code"] == "not_found"


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
def test_a_missing_contact_is_a_json_404(make_client, debug, with_key):
    client = make_client(READ, WRITE) if with_key else APIClient()

    response = client.get(detail_url(987654321))

    assert response.status_code == (404 if with_key else 401)
    envelope(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", CONTACTS_URL),
        ("put", CONTACTS_URL),
        ("patch", CONTACTS_URL),
        ("post", "/api/v1/contacts/1/"),
        ("get", "/api/v1/contacts/1/push/"),
        ("delete", "/api/v1/contacts/1/push/"),
    ],
)
@pytest.mark.parametrize(
    "scopes", [(), (READ,), (WRITE,), (READ, WRITE, PUSH)], ids=["none", "r", "w", "all"]
)
def test_a_method_the_route_does_not_have_is_405_before_any_scope_check(
    make_client, method, path, scopes
):
    ContactFactory(pk=1)
    client = make_client(*scopes)

    response = getattr(client, method)(path, {}, format="json")

    assert response.status_code == 405
    assert error_codes(response) == {None: ["method_not_allowed"]}
    assert response["Allow"]
    assert method.upper() not in [m.strip() for m in response["Allow"].split(",")]


def test_a_method_the_route_does_not_have_is_405_without_a_key_too(client, db):
    response = client.delete(CONTACTS_URL)

    assert response.status_code == 405
    assert "GET" in response["Allow"]
    envelope(response)


def test_a_wrong_key_is_still_401_on_a_method_the_route_does_not_have(db):
    response = APIClient(HTTP_X_API_KEY="nope.nope").delete(CONTACTS_URL)

    assert response.status_code == 401
    assert error_codes(response) == {None: ["invalid_key"]}


# --- finding 10: the docs' table of codes ------------------------------------------------------

DOCS = Path(django_settings.BASE_DIR) / "docs" / "api.md"
# Codes no operation's schema can list: Django's own 400 handler for a request it refuses
# before any view (api.errors.bad_request); `validation_error` is a type, in the same table.
OUTSIDE_THE_SCHEMA = {"bad_request", "validation_error"}


def documented_codes() -> set[str]:
    errors = DOCS.read_text().split("\n## Errors", 1)[1].split("\n## ", 1)[0]
    codes = set()
    for row in re.findall(r"^\|(.+)\|$", errors, flags=re.MULTILINE):
        cells = [cell.strip() for cell in row.split("|")]
        cell = cells[1] if cells[0].isdigit() else cells[0]
        codes.update(re.findall(r"`([a-z_]+)`", cell))
    return codes


def schema_codes(schema) -> set[str]:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            code = (node.get("properties") or {}).get("code")
            if isinstance(code, dict):
                found.update(code.get("enum", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def test_the_docs_table_lists_exactly_the_codes_the_api_can_answer(client, db):
    emitted = schema_codes(client.get("/api/schema/?format=json").json())

    assert emitted - documented_codes() == set(), "codes the API sends but the docs omit"
    assert documented_codes() - emitted - OUTSIDE_THE_SCHEMA == set(), "documented, never sent"


# --- finding 10: an unknown body key is named in attr --------------------------------------


def test_an_unknown_body_field_names_itself_in_attr(api_client):
    body = {
        "first_name": "A",
        "nickname": "x",
        "phone_numbers": [{"number": "+14155550100", "primary": True}],
    }

    expected = {"nickname": ["unknown_field"], "phone_numbers.0.primary": ["unknown_field"]}

    response = api_client.post(CONTACTS_URL, body, format="json")
    patched = api_client.patch(detail_url(ContactFactory().pk), body, format="json")

    assert error_codes(response) == expected
    assert error_codes(patched) == expected


def test_an_unknown_phone_number_key_names_its_path(api_client):
    body = {"first_name": "A", "phone_numbers": [{"number": "+14155550100", "primary": True}]}

    response = api_client.post(CONTACTS_URL, body, format="json")

    assert error_codes(response) == {"phone_numbers.0.primary": ["unknown_field"]}


def test_the_count_of_further_unknown_fields_stays_on_the_body(api_client):
    response = api_client.post(
        CONTACTS_URL, {"first_name": "A", **{f"junk{i:02}": 1 for i in range(25)}}, format="json"
    )

    codes = error_codes(response)
    assert codes.pop("non_field_errors") == ["unknown_field"]
    assert sorted(codes) == [f"junk{i:02}" for i in range(20)]


def test_an_unknown_key_error_matches_exactly_one_schema_item(client, api_client):
    # oneOf: an item valid under two declarations would make the answer invalid.
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    unknown_field_attrs = [
        component["properties"]["attr"]
        for name, component in schema.items()
        if name.startswith("ContactsCreate")
        and "unknown_field" in (component.get("properties") or {}).get("code", {}).get("enum", [])
    ]

    assert len(unknown_field_attrs) == 1
