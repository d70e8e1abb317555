"""What the integrations tests share besides fixtures: the sandbox's handle and key, and the
worker run in batch mode, and run until the pushes have settled on a controlled clock.

The sandbox server, its per-test handle and the GetRaze connection to it are fixtures in
tests/conftest.py.
"""

import time

import requests
from django.core.management import call_command
from django.db import connection as db_connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from integrations.models import Connection, RemoteLink

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


def drain_in_thread() -> None:
    """`drain` for a thread of the test: the worker of `db_worker --batch` without its signal
    handlers (those are for the main thread only), closing the thread's own connection."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="in-thread",
        excluded_queue_names=[],
    )
    try:
        worker.run()
    finally:
        db_connection.close()


def settle(connection: Connection, clock, *, timeout: float = 20.0) -> None:
    """Run the worker until no link of the connection is pending.

    Between rounds, when every task left is due later (a retry, a provider's Retry-After), the
    clock (the `time_machine` fixture) moves to the first of them instead of the test waiting
    for it. `timeout` bounds the real time spent: a push failing for ever fails the test.
    """
    deadline = time.monotonic() + timeout
    while True:
        # In rounds of 50 tasks, so that the deadline is checked between them.
        call_command(
            "db_worker", batch=True, max_tasks=50, reload=False, startup_delay=False, verbosity=0
        )
        pending = RemoteLink.objects.filter(connection=connection, state="pending")
        if not pending.exists():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still pending after {timeout}s: {list(pending.values())}")
        if not DBTaskResult.objects.ready().exists():
            queued = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
            next_due = queued.order_by("run_after").values_list("run_after", flat=True).first()
            if next_due is not None and next_due > timezone.now():
                clock.move_to(next_due, tick=True)
