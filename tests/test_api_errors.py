"""The error envelope outside the happy paths: Django's 400/404/500 handlers and crashes."""

import json

import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import RequestFactory

from api import errors
from tests.api_helpers import CONTACTS_URL, error_codes


def envelope(response) -> dict:
    body = json.loads(response.content)
    assert set(body) >= {"type", "errors"}
    assert all(set(error) == {"code", "detail", "attr"} for error in body["errors"])
    return body


@pytest.mark.parametrize("path", ["/api/", "/api/v1/", "/api/v1/nothing/", "/api/v2/contacts/"])
def test_an_unknown_api_url_answers_404_not_found_in_the_envelope(reader, path):
    response = reader.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert envelope(response) == {
        "type": "client_error",
        "errors": [{"code": "not_found", "detail": "Not found.", "attr": None}],
    }


def test_an_unknown_url_outside_the_api_keeps_djangos_html_page(client):
    response = client.get("/nothing-here/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_crash_in_a_view_answers_500_server_error_without_details(reader, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("api.contacts.views.contact_list_rows", explode)

    response = reader.get(CONTACTS_URL)

    assert response.status_code == 500
    assert envelope(response)["type"] == "server_error"
    assert error_codes(response) == {None: ["server_error"]}
    assert b"secret internals" not in response.content


def test_djangos_500_handler_answers_json_under_api_and_html_elsewhere(db):
    api_client = errors.server_error(RequestFactory().get("/api/v1/contacts/"))
    page = errors.server_error(RequestFactory().get("/admin/"))

    assert api_client.status_code == page.status_code == 500
    assert envelope(api_client)["errors"][0]["code"] == "server_error"
    assert page["Content-Type"].startswith("text/html")


def test_djangos_400_handler_turns_an_oversized_body_into_413_under_api(db):
    too_big = errors.bad_request(
        RequestFactory().post("/api/v1/contacts/"), RequestDataTooBig("too big")
    )
    other = errors.bad_request(RequestFactory().post("/api/v1/contacts/"), ValueError())
    page = errors.bad_request(RequestFactory().post("/admin/"), RequestDataTooBig("too big"))

    assert too_big.status_code == 413
    assert envelope(too_big)["errors"][0]["code"] == "request_too_large"
    assert other.status_code == 400
    assert envelope(other)["errors"][0]["code"] == "bad_request"
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
