"""What the integrations tests share besides fixtures: the sandbox's handle and key, and the
worker run in batch mode.

The sandbox server, its per-test handle and the GetRaze connection to it are fixtures in
tests/conftest.py.
"""

import requests
from django.core.management import call_command

SANDBOX_KEY = "sandbox-test-key-0123456789"


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


def drain() -> None:
    """Run the real worker in batch mode: every due task, then exit."""
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
