"""CORS: off by default; CORS_ALLOWED_ORIGINS opens /api/ to browser apps on those origins."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apikeys.services import api_key_create

CONTACTS_URL = "/api/v1/contacts/"
APP = "https://app.example.com"
STRANGER = "https://evil.example.net"
PROJECT_DIR = Path(__file__).resolve().parent.parent


def with_cors(middleware: list[str]) -> list[str]:
    """The middleware list as the settings build it when CORS_ALLOWED_ORIGINS is set."""
    position = middleware.index("django.middleware.common.CommonMiddleware")
    return [*middleware[:position], "corsheaders.middleware.CorsMiddleware", *middleware[position:]]


@pytest.fixture
def cors_for_app(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.MIDDLEWARE = with_cors(settings.MIDDLEWARE)


@pytest.fixture
def key_client(db):
    _, secret = api_key_create(name="browser app", scopes=["contacts:read", "contacts:write"])
    client = APIClient(HTTP_X_API_KEY=secret)
    client.raise_request_exception = False
    return client


def preflight(origin: str, path: str = CONTACTS_URL, method: str = "POST"):
    client = APIClient()
    client.raise_request_exception = False
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "x-api-key, content-type, idempotency-key, if-match",
        },
    )


def listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",")}


@pytest.mark.usefixtures("cors_for_app")
def test_a_preflight_from_an_allowed_origin_may_send_the_api_headers(db):
    response = preflight(APP, method="PATCH")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert {"x-api-key", "authorization", "content-type", "idempotency-key", "if-match"} <= listed(
        response["Access-Control-Allow-Headers"]
    )
    assert {"get", "post", "put", "patch", "delete"} <= listed(
        response["Access-Control-Allow-Methods"]
    )
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.usefixtures("cors_for_app")
def test_an_answer_to_an_allowed_origin_exposes_the_api_headers(key_client):
    created = key_client.post(
        CONTACTS_URL, {"first_name": "Ada"}, format="json", headers={"Origin": APP}
    )

    assert created.status_code == 201
    assert created["Access-Control-Allow-Origin"] == APP
    assert "origin" in listed(created["Vary"])
    exposed = listed(created["Access-Control-Expose-Headers"])
    assert {
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
        "retry-after",
        "location",
        "etag",
        "idempotent-replayed",
    } <= exposed
    assert {"location", "ratelimit-remaining"} <= {name.lower() for name in created.headers}


@pytest.mark.usefixtures("cors_for_app")
def test_a_429_to_an_allowed_origin_lets_the_browser_read_retry_after(key_client, settings):
    settings.API_KEY_RATE = "1/min"
    key_client.get(CONTACTS_URL, headers={"Origin": APP})

    refused = key_client.get(CONTACTS_URL, headers={"Origin": APP})

    assert refused.status_code == 429
    assert refused["Access-Control-Allow-Origin"] == APP
    assert "retry-after" in listed(refused["Access-Control-Expose-Headers"])


@pytest.mark.usefixtures("cors_for_app")
def test_another_origin_is_not_allowed(key_client):
    refused_preflight = preflight(STRANGER)
    answer = key_client.get(CONTACTS_URL, headers={"Origin": STRANGER})

    # The browser refuses an answer without Access-Control-Allow-Origin: the page never
    # sees it. A request made outside a browser is answered as usual, as without CORS.
    for response in (refused_preflight, answer):
        assert "Access-Control-Allow-Origin" not in response
        assert "Access-Control-Allow-Headers" not in response
        assert "Access-Control-Expose-Headers" not in response
    assert answer.status_code == 200


@pytest.mark.usefixtures("cors_for_app")
def test_only_the_api_is_open_to_other_origins(admin_client):
    response = admin_client.get("/admin/", headers={"Origin": APP})
    admin_preflight = preflight(APP, path="/admin/login/")

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in admin_preflight


def test_cors_is_off_by_default(key_client, settings):
    assert settings.CORS_ALLOWED_ORIGINS == []
    assert "corsheaders.middleware.CorsMiddleware" not in settings.MIDDLEWARE

    answer = key_client.get(CONTACTS_URL, headers={"Origin": APP})
    options = preflight(APP)

    assert answer.status_code == 200
    assert "Access-Control-Allow-Origin" not in answer
    # A preflight is an ordinary OPTIONS request for the API, answered as without CORS.
    assert options.status_code == 401
    assert "Access-Control-Allow-Origin" not in options
    assert options.json()["errors"][0]["code"] == "authentication_required"


def settings_read(cors_allowed_origins: str | None) -> dict:
    """CORS_ALLOWED_ORIGINS and MIDDLEWARE as the settings build them from the environment."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    environment.pop("CORS_ALLOWED_ORIGINS", None)
    if cors_allowed_origins is not None:
        environment["CORS_ALLOWED_ORIGINS"] = cors_allowed_origins
    script = (
        "import json; from django.conf import settings; "
        "print(json.dumps([settings.CORS_ALLOWED_ORIGINS, settings.MIDDLEWARE]))"
    )
    result = subprocess.run(  # noqa: S603  (this interpreter, our script)
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    origins, middleware = json.loads(result.stdout)
    return {"CORS_ALLOWED_ORIGINS": origins, "MIDDLEWARE": middleware}


def test_the_cors_allowed_origins_variable_turns_cors_on():
    off = settings_read(None)
    on = settings_read(f"{APP},https://crm.example.org")

    assert off["CORS_ALLOWED_ORIGINS"] == []
    assert "corsheaders.middleware.CorsMiddleware" not in off["MIDDLEWARE"]
    assert on["CORS_ALLOWED_ORIGINS"] == [APP, "https://crm.example.org"]
    assert on["MIDDLEWARE"] == with_cors(off["MIDDLEWARE"])
