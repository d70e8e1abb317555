"""Fixtures shared by the whole suite: factories, signed-in clients, API clients holding keys,
the provider sandbox and a GetRaze connection to it.

Helpers that are not fixtures live beside this file: tests/api_helpers.py (scopes, URLs,
error codes), tests/integrations_helpers.py (the sandbox's handle, its key, `drain`) and
tests/integrations_providers.py (one sandbox handle per provider).
"""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apikeys.services import api_key_create
from integrations import throttle
from integrations.models import Connection
from integrations.sandbox import start_in_thread
from tests.api_helpers import READ, WRITE
from tests.factories import ContactFactory, CustomFieldFactory, PhoneNumberFactory, TagFactory
from tests.integrations_helpers import SANDBOX_KEY, Sandbox

# --- isolation ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached values (admin filter choices, API rate-limit counts, backlog spreads) outlive a
    test's database transaction: none leaks into the next test."""
    cache.clear()
    # integrations.throttle has no public reset of its per-process spreads yet.
    throttle.backlog_spreads_forget()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fast_integrations(settings):
    """Short provider timeouts: the sandbox's slow answers and cut connections are real
    sockets, which no clock can hurry."""
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "HTTP_TIMEOUT": 0.5}


# --- the contact domain ------------------------------------------------------------------------


@pytest.fixture
def contact_factory(db):
    return ContactFactory


@pytest.fixture
def phone_factory(db):
    return PhoneNumberFactory


@pytest.fixture
def tag_factory(db):
    return TagFactory


@pytest.fixture
def custom_field_factory(db):
    return CustomFieldFactory


@pytest.fixture
def staff_client(client, django_user_model):
    """A logged-in superuser's client for admin pages."""
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


# --- API clients -------------------------------------------------------------------------------


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
def api_client(make_client) -> APIClient:
    return make_client(READ, WRITE)


@pytest.fixture
def reader(make_client) -> APIClient:
    return make_client(READ)


@pytest.fixture
def writer(make_client) -> APIClient:
    return make_client(WRITE)


# --- the provider sandbox ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox_server():
    server = start_in_thread(api_keys={SANDBOX_KEY: ["contacts:read", "contacts:write"]})
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(sandbox_server) -> Sandbox:
    box = Sandbox(sandbox_server.url)
    box.reset()
    return box


@pytest.fixture
def getraze_connection(db, sandbox) -> Connection:
    """A GetRaze connection to the sandbox, pushing automatically, without a rate limit."""
    conn = Connection(
        name="getraze-sandbox",
        provider="getraze",
        base_url=sandbox.base_url,
        rate_limit=0,
        concurrency=2,
    )
    conn.api_key = SANDBOX_KEY
    conn.save()
    return conn
