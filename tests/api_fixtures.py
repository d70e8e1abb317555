"""Fixtures for the API tests: clients holding API keys with given scopes.

Import them into a test module with `from tests.api_fixtures import *`.
"""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apikeys.services import api_key_create

READ = "contacts:read"
WRITE = "contacts:write"
PUSH = "push"
CONTACTS_URL = "/api/v1/contacts/"

__all__ = [
    "CONTACTS_URL",
    "PUSH",
    "READ",
    "WRITE",
    "api",
    "clear_throttle_counts",
    "detail_url",
    "error_codes",
    "make_client",
    "reader",
    "writer",
]


def detail_url(contact_id: int) -> str:
    return f"{CONTACTS_URL}{contact_id}/"


def error_codes(response) -> dict[str | None, list[str]]:
    """{attr: [codes]} of an error response, for compact assertions."""
    codes: dict[str | None, list[str]] = {}
    for error in response.json()["errors"]:
        codes.setdefault(error["attr"], []).append(error["code"])
    return codes


@pytest.fixture(autouse=True)
def clear_throttle_counts():
    # Rate-limit counts live in the cache, which outlives a test's database transaction.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_client(db):
    """make_client("contacts:read", ...) -> an APIClient sending a new key with those scopes."""

    def make(*scopes: str, **key_fields) -> APIClient:
        api_key, secret = api_key_create(name="test client", scopes=scopes, **key_fields)
        client = APIClient(HTTP_X_API_KEY=secret)
        client.raise_request_exception = False
        client.api_key = api_key
        client.secret = secret
        return client

    return make


@pytest.fixture
def api(make_client) -> APIClient:
    return make_client(READ, WRITE)


@pytest.fixture
def reader(make_client) -> APIClient:
    return make_client(READ)


@pytest.fixture
def writer(make_client) -> APIClient:
    return make_client(WRITE)
