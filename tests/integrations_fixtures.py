"""Fixtures for the integrations tests: a real sandbox over HTTP, fast retry settings, a worker.

Test modules import them with `from tests.integrations_fixtures import *`.
"""

import pytest
import requests
from django.core.management import call_command

from integrations.models import Connection
from integrations.sandbox import start_in_thread

SANDBOX_KEY = "sandbox-test-key-0123456789"

__all__ = [
    "SANDBOX_KEY",
    "Sandbox",
    "connection",
    "drain",
    "fast_integrations",
    "sandbox",
    "sandbox_server",
]


class Sandbox:
    """The running sandbox, driven through its control endpoints over HTTP."""

    def __init__(self, url: str, provider: str = "getraze"):
        self.url = url
        self.provider = provider
        self.control = f"{url}/__sandbox__/{provider}"
        self.base_url = f"{url}/getraze/external/v1"

    def reset(self) -> None:
        requests.post(f"{self.control}/reset", timeout=5).raise_for_status()

    def faults(self, **knobs) -> dict:
        response = requests.post(f"{self.control}/faults", json=knobs, timeout=5)
        response.raise_for_status()
        return response.json()

    def add_key(self, key: str, permissions: list[str]) -> None:
        body = {"key": key, "permissions": permissions}
        requests.post(f"{self.control}/keys", json=body, timeout=5).raise_for_status()

    def requests(self) -> list[dict]:
        return requests.get(f"{self.control}/requests", timeout=5).json()

    def writes(self) -> list[dict]:
        """The create and update requests received, in order."""
        return [r for r in self.requests() if r["method"] in ("POST", "PUT")]

    def contacts(self) -> list[dict]:
        return requests.get(f"{self.control}/contacts", timeout=5).json()


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


@pytest.fixture(autouse=True)
def fast_integrations(settings):
    """Short timeouts and no backoff wait, so retry paths run in milliseconds."""
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "HTTP_TIMEOUT": 0.5,
        "BACKOFF_BASE": 0.0,
        "BACKOFF_CAP": 0.0,
    }


@pytest.fixture
def connection(db, sandbox) -> Connection:
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


def drain() -> None:
    """Run the real worker in batch mode: every due task, then exit."""
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
