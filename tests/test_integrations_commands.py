"""The management commands: add_connection, push_contacts, run_sandbox."""

import io
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.core.management import CommandError, call_command
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
from tests.integrations_helpers import SANDBOX_KEY, drain

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_add_connection_creates_with_the_official_url_and_json_options():
    output = run(
        "add_connection",
        "main",
        "--provider",
        "getraze",
        "--api-key",
        "lr_live_command_key_9876",
        "--auto-push",
        "--option",
        "source=relay",
        "--option",
        'tags={"a": 1}',
        "--option",
        "limit=3",
    )
    connection = Connection.objects.get(name="main")
    assert connection.base_url == "https://app.getraze.com/external/v1"
    assert connection.api_key == "lr_live_command_key_9876"
    assert connection.auto_push is True
    assert connection.options == {"source": "relay", "tags": {"a": 1}, "limit": 3}
    assert "lr_live_command_key_9876" not in output
    assert "••••9876" in output


def test_add_connection_a_second_time_updates_it():
    run("add_connection", "main", "--provider", "getraze", "--api-key", "first-key-0000000000")
    run(
        "add_connection",
        "main",
        "--provider",
        "getraze",
        "--api-key",
        "second-key-111111111",
        "--base-url",
        "http://127.0.0.1:8001/getraze/external/v1/",
        "--rate-limit",
        "5",
    )
    connection = Connection.objects.get()
    assert connection.api_key == "second-key-111111111"
    assert connection.base_url == "http://127.0.0.1:8001/getraze/external/v1"
    assert (connection.rate_limit, connection.auto_push) == (5, False)

    run("add_connection", "main", "--provider", "getraze")  # no --base-url: official again
    connection.refresh_from_db()
    assert connection.base_url == "https://app.getraze.com/external/v1"
    assert connection.api_key == "second-key-111111111"


def test_add_connection_sets_the_sync_rules_and_a_second_call_changes_only_those_named():
    out = run(
        *("add_connection", "vip", "--provider", "getraze", "--api-key", "key-000000000000"),
        *("--audience", "?tag=vip&stage=customer", "--mode", "create_only"),
        *("--on-delete", "delete", "--on-leave", "delete"),
    )
    assert "audience tag=vip&stage=customer, mode create_only" in out
    connection = Connection.objects.get()
    rules = ("audience", "mode", "on_delete", "on_leave")
    assert [getattr(connection, f) for f in rules] == [
        "tag=vip&stage=customer",
        "create_only",
        "delete",
        "delete",
    ]

    run("add_connection", "vip", "--provider", "getraze", "--mode", "update_only")
    connection.refresh_from_db()
    assert [getattr(connection, f) for f in rules] == [
        "tag=vip&stage=customer",
        "update_only",
        "delete",
        "delete",
    ]
    run("add_connection", "vip", "--provider", "getraze", "--audience", "", "--on-leave", "keep")
    connection.refresh_from_db()
    assert [getattr(connection, f) for f in rules] == ["", "update_only", "delete", "keep"]


def test_an_update_leaves_a_disabled_connection_disabled_unless_told():
    run(
        *("add_connection", "main", "--provider", "getraze"),
        *("--api-key", "key-000000000000", "--disabled"),
    )
    run("add_connection", "main", "--provider", "getraze", "--rate-limit", "2")
    assert Connection.objects.get().enabled is False
    run("add_connection", "main", "--provider", "getraze", "--enabled")
    assert Connection.objects.get().enabled is True


def test_a_new_connection_gets_the_default_rules():
    run("add_connection", "main", "--provider", "getraze", "--api-key", "key-000000000000")
    connection = Connection.objects.get()
    assert (connection.audience, connection.mode, connection.on_delete, connection.on_leave) == (
        "",
        "upsert",
        "keep",
        "keep",
    )


def test_add_connection_refuses_an_audience_the_filter_set_refuses():
    with pytest.raises(CommandError, match="Unknown filter “colour”"):
        run(
            *("add_connection", "vip", "--provider", "getraze", "--api-key", "key-000000000000"),
            *("--audience", "colour=red"),
        )
    assert not Connection.objects.exists()
    with pytest.raises(CommandError, match="invalid choice"):
        run("add_connection", "vip", "--provider", "getraze", "--mode", "sometimes")


def test_add_connection_needs_a_key_for_a_new_connection():
    with pytest.raises(CommandError, match="needs an API key"):
        run("add_connection", "main", "--provider", "getraze")


def test_push_contacts_by_ids_all_and_pending(
    getraze_connection, sandbox, django_capture_on_commit_callbacks
):
    Connection.objects.filter(pk=getraze_connection.pk).update(auto_push=False)
    a, b, _c = (
        Contact.objects.create(first_name=n, email=f"{n}@example.com") for n in ("a", "b", "c")
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert "2 pushes queued" in run(
            "push_contacts", "--connection", getraze_connection.name, "--ids", f"{a.pk},{b.pk}"
        )
    links = set(RemoteLink.objects.values_list("pk", flat=True))
    assert set(RemoteLink.objects.values_list("contact_id", flat=True)) == {a.pk, b.pk}
    # Several links go to one batch task, which settles the unchanged ones in bulk.
    [batch] = DBTaskResult.objects.all()
    assert (batch.task_path, set(batch.args_kwargs["kwargs"]["link_ids"])) == (
        "integrations.tasks.push_links",
        links,
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert "3 pushes queued" in run(
            "push_contacts", "--connection", getraze_connection.name, "--all"
        )

    DBTaskResult.objects.all().delete()
    assert "3 pending pushes queued" in run("push_contacts", "--pending")
    [batch] = DBTaskResult.objects.all()
    assert len(batch.args_kwargs["kwargs"]["link_ids"]) == 3


def test_push_contacts_rejects_unknown_names_and_ids(getraze_connection):
    with pytest.raises(CommandError, match="No connection named nope"):
        run("push_contacts", "--connection", "nope", "--all")
    with pytest.raises(CommandError, match="No contact with ID 999"):
        run("push_contacts", "--connection", getraze_connection.name, "--ids", "999")
    with pytest.raises(CommandError, match="--connection"):
        run("push_contacts", "--all")


def test_push_contacts_takes_more_ids_than_a_statement_may_bind(getraze_connection):
    # Every id once went into one IN list: past PostgreSQL's 65,535 parameters the command
    # failed with a database error (this machine's SQLite allows more, so PostgreSQL tells).
    known = [contact_upsert(data={"first_name": f"P{n}"}).pk for n in range(3)]
    ids = ",".join(map(str, [*known, *range(10**6, 10**6 + 70_000)]))

    with pytest.raises(CommandError, match=r"No contact with ID 1000000, 1000001"):
        run("push_contacts", "--connection", getraze_connection.name, "--ids", ids)

    run(
        "push_contacts", "--connection", getraze_connection.name, "--ids", ",".join(map(str, known))
    )
    assert RemoteLink.objects.filter(contact_id__in=known, state="pending").count() == 3


@pytest.mark.django_db(transaction=True)
def test_done_when_add_connection_api_style_create_and_worker(sandbox):
    """The issue's acceptance path: add_connection, create a contact, db_worker --batch."""
    run(
        "add_connection",
        "sandbox",
        "--provider",
        "getraze",
        "--api-key",
        SANDBOX_KEY,
        "--base-url",
        sandbox.base_url,
        "--auto-push",
        "--rate-limit",
        "0",
    )
    contact = contact_upsert(data={"first_name": "Grace", "email": "grace@example.com"})
    drain()
    [remote] = sandbox.contacts()
    assert RemoteLink.objects.get(contact=contact).remote_id == remote["id"]
    assert (remote["name"], remote["email"]) == ("Grace", "grace@example.com")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_sandbox_serves_getraze_on_the_given_port():
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "run_sandbox", "--port", str(port), "--api-key", "k-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}/getraze/external/v1"
        # Django's start-up in a fresh process: a second here, far more on a busy machine.
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(base + "/", headers={"X-API-Key": "k-1"}, timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        assert response.json()["version"] == "v1"
        created = requests.post(
            base + "/contacts",
            json={"name": "A", "email": "a@example.com"},
            headers={"X-API-Key": "k-1"},
            timeout=2,
        )
        assert created.status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=5)
