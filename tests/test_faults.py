"""The push engine's promises under provider faults, worker crashes and concurrent writers.

Every scenario runs against the sandbox over real HTTP, through the real worker (in-process
`db_worker --batch`, or `manage.py db_worker` subprocesses where the scenario is about the
worker process), and ends with the same exact checks (`assert_exactly_in_sync`): as many remote
records as contacts, every link synced to one of them, no orphan or duplicate record, and each
record holding our latest data.

The sandbox runs with `unique_email` off, as GetRaze's own code does (no unique index): a
second create would be a silent duplicate, so only the engine's lookups can prevent one.
"""

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection as db_connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from crm.services import contact_upsert
from integrations.adapters import adapter_for
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.push import link_push
from tests.integrations_helpers import SANDBOX_KEY, drain, drain_in_thread, settle

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(django_settings.BASE_DIR)
# No wait in this file may exceed this: a regression fails the test, it never hangs the suite.
# Generous, because each wait includes starting a `manage.py` process, which takes seconds on
# an idle 2-core machine and far longer on a loaded one; a passing run never waits it out.
DEADLINE = 60.0


@pytest.fixture(autouse=True)
def lenient_sandbox(sandbox):
    sandbox.faults(unique_email=False)


def make_contacts(count: int, prefix: str = "person") -> list[Contact]:
    return [
        contact_upsert(
            data={"first_name": f"{prefix.title()}{i}", "email": f"{prefix}{i}@example.com"},
            phone_numbers=[{"number": f"+1212555{i:04d}"}],
            tags=["fault-suite"],
        )
        for i in range(count)
    ]


def remote_view(record: dict) -> dict:
    """The fields of a sandbox record that our payload sets."""
    return {
        "name": record["name"],
        "email": record["email"],
        "phone": record["phone"],
        "company": record["company"],
        "title": record["title"],
        "linkedin": record["linkedin_profile_url"],
        "source": record["source"],
        "tags": sorted(tag["name"] for tag in record["tags"]),
        "custom_fields": record["custom_fields"] or {},
    }


def expected_view(payload: dict) -> dict:
    return {
        "name": payload["name"],
        "email": payload["email"],
        "phone": payload["phone"],
        "company": payload["company"],
        "title": payload["title"],
        "linkedin": payload["linkedin_url"],
        "source": payload["source"],
        "tags": sorted(payload["tags"]),
        "custom_fields": payload["custom_fields"],
    }


def assert_exactly_in_sync(sandbox, connection: Connection) -> None:
    """0 changes lost, 0 duplicates: one remote record per contact holding our latest data."""
    records = {record["id"]: record for record in sandbox.contacts()}
    contacts = list(Contact.objects.prefetch_related("tags", "phone_numbers").order_by("pk"))
    links = {link.contact_id: link for link in RemoteLink.objects.filter(connection=connection)}
    assert len(records) == len(contacts), "remote records != contacts (a duplicate or a loss)"
    states = {contact.email: links[contact.pk].state for contact in contacts}
    assert set(states.values()) == {"synced"}, states
    remote_ids = [links[contact.pk].remote_id for contact in contacts]
    assert sorted(remote_ids) == sorted(records), "links and remote records differ"
    adapter = adapter_for(connection)
    for contact in contacts:
        expected = expected_view(adapter.build_payload(contact))
        assert remote_view(records[links[contact.pk].remote_id]) == expected, contact.email


def writes(sandbox, method: str) -> list[dict]:
    return [r for r in sandbox.requests() if r["method"] == method]


# --- provider faults ----------------------------------------------------------------------------


def test_a_provider_answering_500_for_a_while_then_recovering_loses_and_duplicates_nothing(
    getraze_connection, sandbox, time_machine
):
    sandbox.faults(fail_next=7)  # every request, lookups and creates alike, until 7 are spent
    make_contacts(4)

    settle(getraze_connection, time_machine)

    assert_exactly_in_sync(sandbox, getraze_connection)
    assert PushAttempt.objects.filter(http_status=500, outcome="retry").count() == 7
    assert PushAttempt.objects.filter(operation="create", http_status=201).count() == 4
    assert set(RemoteLink.objects.values_list("attempts", "last_error_code")) == {(0, "")}


def test_timeouts_are_retried_until_the_provider_answers(getraze_connection, sandbox, time_machine):
    # Each request waits longer than our read timeout, then the connection is cut, unapplied.
    sandbox.faults(timeout_next=3, timeout_seconds=1.0)
    make_contacts(3)

    settle(getraze_connection, time_machine)

    assert_exactly_in_sync(sandbox, getraze_connection)
    assert PushAttempt.objects.filter(error_code="timeout", outcome="retry").count() == 3
    assert len(writes(sandbox, "POST")) == 3 + sum(
        1 for a in PushAttempt.objects.filter(error_code="timeout", operation="create")
    )


def test_a_429_storm_is_waited_out_as_long_as_retry_after_says(
    getraze_connection, sandbox, time_machine
):
    # 3 requests a second for 4 contacts needing 8: 429s for several windows in a row.
    sandbox.faults(rate_limit=3, rate_window=1, retry_after_header=True)
    make_contacts(4)

    settle(getraze_connection, time_machine)

    assert_exactly_in_sync(sandbox, getraze_connection)
    limited = PushAttempt.objects.filter(http_status=429)
    assert limited.exists()
    assert PushAttempt.objects.filter(operation="create", http_status=201).count() == 4
    for attempt in limited:
        # The provider said Retry-After: 1; the link's next request waited at least that.
        after = (
            PushAttempt.objects.filter(link=attempt.link, id__gt=attempt.id).order_by("id").first()
        )
        assert (after.started_at - attempt.started_at).total_seconds() >= 1.0


def test_a_503_in_maintenance_is_retried_no_sooner_than_its_retry_after(
    getraze_connection, sandbox
):
    # The sandbox's GetRaze never sends this; a provider (or its proxy) in maintenance does.
    class Maintenance(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503)
            self.send_header("Retry-After", "120")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Maintenance)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Connection.objects.filter(pk=getraze_connection.pk).update(
            base_url=f"http://127.0.0.1:{server.server_address[1]}"
        )
        [contact] = make_contacts(1)
        link = RemoteLink.objects.get(contact=contact)
        before = timezone.now()

        assert link_push(link_id=link.pk) == "retry"
    finally:
        server.shutdown()
        server.server_close()

    link.refresh_from_db()
    assert (link.state, link.last_error_code) == ("pending", "http_503")
    assert (link.next_attempt_at - before).total_seconds() >= 120


def test_a_lost_create_response_links_the_stored_record_without_a_duplicate(
    getraze_connection, sandbox, settings, time_machine
):
    # A long backoff: whatever the first pass leaves pending is still pending when the
    # contacts change below, as it would be in production (30 s and more).
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "BACKOFF_BASE": 60.0, "BACKOFF_CAP": 60.0}
    sandbox.faults(drop_after_create_next=2)  # stored, then the connection is cut
    contacts = make_contacts(3)

    drain()

    assert len(sandbox.contacts()) == 3
    assert len(writes(sandbox, "POST")) == 3

    # The records whose answer was lost were found by the lookup right after the create, so
    # the links know their remote IDs and a change of the duplicate key (the email) now
    # updates them. Without that lookup the links would still be waiting for a retry, whose
    # lookup by the new email finds nothing: a second record each.
    for contact in contacts:
        contact_upsert(contact=contact, data={"email": "new-" + contact.email})
    settle(getraze_connection, time_machine)

    assert len(writes(sandbox, "POST")) == 3
    assert_exactly_in_sync(sandbox, getraze_connection)


def test_a_500_after_the_provider_stored_the_create_links_the_stored_record(
    getraze_connection, sandbox, time_machine
):
    sandbox.faults(fail_creates_next=2, fail_creates_applied=True)  # GetRaze's tags bug
    make_contacts(3)

    settle(getraze_connection, time_machine)

    assert len(writes(sandbox, "POST")) == 3
    assert_exactly_in_sync(sandbox, getraze_connection)


# --- concurrent writers -------------------------------------------------------------------------


def test_a_contact_edited_while_its_push_is_in_flight_ends_with_the_newer_version(
    getraze_connection, sandbox, settings, time_machine
):
    # Answers slow enough to edit during one, well within the read timeout.
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "HTTP_TIMEOUT": 5.0}
    [contact] = make_contacts(1)
    settle(getraze_connection, time_machine)
    contact_upsert(contact=contact, data={"title": "Engineer"})
    sandbox.faults(latency=0.5)

    worker = threading.Thread(target=drain_in_thread)
    worker.start()
    try:
        # The update carrying "Engineer" has reached the provider and is being answered…
        _wait_for(lambda: len(writes(sandbox, "PUT")) == 1, "the first update")
        # …when someone saves the contact again.
        contact_upsert(contact=contact, data={"title": "CTO"})
    finally:
        worker.join(timeout=DEADLINE)
    assert not worker.is_alive()
    sandbox.faults(latency=0.0)
    settle(getraze_connection, time_machine)

    puts = [r["body"]["title"] for r in writes(sandbox, "PUT")]
    assert puts == ["Engineer", "CTO"]  # in order: nothing older is sent after the newer
    assert_exactly_in_sync(sandbox, getraze_connection)
    assert sandbox.contacts()[0]["title"] == "CTO"


def test_a_revoked_provider_key_pauses_the_connection_loses_nothing_and_resumes(
    getraze_connection, sandbox, time_machine
):
    sandbox.add_key("rotating-key-4f1e2d3c", ["contacts:read", "contacts:write"])
    getraze_connection.api_key = "rotating-key-4f1e2d3c"
    getraze_connection.save()
    synced = make_contacts(2, prefix="early")
    settle(getraze_connection, time_machine)

    sandbox.add_key("rotating-key-4f1e2d3c", [])  # the provider withdraws the key's rights
    make_contacts(3, prefix="late")
    contact_upsert(contact=synced[0], data={"company": "Changed During Outage"})
    before = len(sandbox.requests())
    drain()

    getraze_connection.refresh_from_db()
    assert getraze_connection.is_paused
    assert "INSUFFICIENT_PERMISSIONS" in getraze_connection.paused_reason
    # The first refusal paused the connection; the other queued pushes sent nothing.
    assert len(sandbox.requests()) == before + 1
    assert RemoteLink.objects.filter(state="pending").count() == 4
    assert len(sandbox.contacts()) == 2

    # Staff enter a working key (here with the command; the admin does the same).
    call_command(
        "add_connection",
        getraze_connection.name,
        "--provider=getraze",
        f"--base-url={sandbox.base_url}",
        f"--api-key={SANDBOX_KEY}",
        stdout=io.StringIO(),
    )
    settle(getraze_connection, time_machine)

    getraze_connection.refresh_from_db()
    assert not getraze_connection.is_paused
    assert_exactly_in_sync(sandbox, getraze_connection)


# --- the worker process -------------------------------------------------------------------------


class WorkerDatabase:
    """The test database, as `manage.py` subprocesses reach it.

    On PostgreSQL the subprocesses use the test database itself. The SQLite test database is
    in memory, out of another process's reach, so it is copied to a file for them (`share`)
    and the file copied back (`collect`) before the test looks at the results.
    """

    def __init__(self, tmp_path: Path):
        self.vendor = db_connection.vendor
        params = db_connection.settings_dict
        if self.vendor == "sqlite":
            self.file = tmp_path / "worker.sqlite3"
            self.url = f"sqlite:///{self.file}"
        else:
            auth = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
            self.url = f"postgres://{auth}@{params['HOST']}:{params['PORT']}/{params['NAME']}"
        self.processes: list[subprocess.Popen] = []
        self.logs = tmp_path

    def share(self) -> None:
        if self.vendor == "sqlite":
            db_connection.ensure_connection()
            with sqlite3.connect(self.file) as target:
                db_connection.connection.backup(target)

    def collect(self) -> None:
        if self.vendor == "sqlite":
            source = sqlite3.connect(self.file)
            try:
                source.backup(db_connection.connection)
            finally:
                source.close()

    def link_states(self) -> Counter:
        sql = "SELECT state FROM integrations_remotelink"
        if self.vendor == "sqlite":
            with sqlite3.connect(self.file, timeout=10) as conn:
                return Counter(row[0] for row in conn.execute(sql))
        with db_connection.cursor() as cursor:
            cursor.execute(sql)
            return Counter(row[0] for row in cursor.fetchall())

    def manage(self, *args: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": self.url,
            "CONN_MAX_AGE": "0",
            "PUSH_HTTP_TIMEOUT": "2",
            "PUSH_BACKOFF_BASE": "0",
            "PUSH_BACKOFF_CAP": "0",
            "PUSH_LEASE_SECONDS": "1",
        }
        log = open(self.logs / f"process-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", *args, "--skip-checks"],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def worker(self) -> subprocess.Popen:
        return self.manage("db_worker", "--interval", "0.05", "--no-startup-delay", "--no-reload")

    def run(self, *args: str) -> None:
        """Run a command to its end."""
        process = self.manage(*args)
        assert process.wait(timeout=DEADLINE) == 0, self.output()

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.logs.glob("process-*.log"))
        )

    def wait_until_synced(self, total: int) -> None:
        try:
            _wait_for(lambda: self.link_states() == Counter(synced=total), "every link synced")
        except AssertionError:
            raise AssertionError(f"{self.link_states()}\n{self.output()}") from None


@pytest.fixture
def worker_db(tmp_path):
    database = WorkerDatabase(tmp_path)
    yield database
    for process in database.processes:  # before the test database is flushed
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def test_a_worker_killed_mid_batch_and_restarted_loses_and_duplicates_nothing(
    getraze_connection, sandbox, worker_db
):
    make_contacts(6)
    # Slow answers, so the kill lands while a create is on the wire.
    sandbox.faults(latency=0.5)
    worker_db.share()

    first = worker_db.worker()
    _wait_for(lambda: len(writes(sandbox, "POST")) == 3, "the third create on the wire")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=5)
    # The provider stores that create all the same; its answer goes nowhere.
    _wait_for(lambda: len(sandbox.contacts()) == 3, "the provider to store the third create")

    # Restarted, with the sweep that queues again the link whose task died with the worker
    # (started together: each process takes seconds to start).
    second = worker_db.worker()
    worker_db.run("push_contacts", "--pending")
    worker_db.wait_until_synced(6)
    worker_db.stop(second)
    worker_db.collect()

    assert len(writes(sandbox, "POST")) == 6  # the create on the wire was not sent again
    assert_exactly_in_sync(sandbox, getraze_connection)
    # The crash left its evidence: the attempt row written before the call, never completed.
    assert list(PushAttempt.objects.filter(outcome="started").values_list("operation")) == [
        ("create",)
    ]


def test_two_workers_draining_one_queue_push_each_contact_exactly_once(
    getraze_connection, sandbox, worker_db
):
    if worker_db.vendor != "postgresql":
        pytest.skip("SQLite takes one writer at a time: several workers need PostgreSQL")
    Connection.objects.filter(pk=getraze_connection.pk).update(concurrency=4)
    make_contacts(20)
    sandbox.faults(latency=0.05)

    workers = [worker_db.worker(), worker_db.worker()]
    worker_db.wait_until_synced(20)
    for worker in workers:
        worker_db.stop(worker)

    assert_exactly_in_sync(sandbox, getraze_connection)
    assert len(writes(sandbox, "POST")) == 20
    # One lookup and one create per contact: no push ran twice.
    per_link = Counter(PushAttempt.objects.values_list("link_id", "operation"))
    assert set(per_link.values()) == {1}
    assert len(per_link) == 40
    ran_by = {tuple(ids) for ids in DBTaskResult.objects.values_list("worker_ids", flat=True)}
    assert len({ids[0] for ids in ran_by}) == 2, "both workers took tasks"


def _wait_for(condition, what: str, timeout: float = DEADLINE) -> None:
    """Poll until another thread or process (a worker, the sandbox) has acted: nothing of
    theirs signals this process, and the clock cannot hurry them."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
