"""Any selection size: "select all" of every contact, for the push action, its progress page,
the export and a retry, never binds more parameters than the database allows.

SQLite's limit is lowered to 999 a statement (its default before 3.32), so a few thousand
contacts stand for a selection past PostgreSQL's 65,535; the 100,000-contact run through the
admin is PostgreSQL's own (it needs no lowered limit there).
"""

import re
import sqlite3

import pytest
from django.contrib.admin import helpers
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from crm import admin_delete
from crm.models import Contact
from integrations.links import CHUNK, ids_per_statement, links_retry
from integrations.models import Connection, PushBatch, RemoteLink

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:crm_contact_changelist")
LIMIT = 999


@pytest.fixture
def few_parameters():
    """On SQLite, at most LIMIT parameters a statement: a larger IN list fails, as it does past
    65,535 on PostgreSQL. Elsewhere the database's own limit applies."""
    if db_connection.vendor != "sqlite":
        yield db_connection.features.max_query_params
        return
    db_connection.ensure_connection()
    raw = db_connection.connection
    before = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, LIMIT)
    yield LIMIT
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


@pytest.fixture
def target(db) -> Connection:
    """A connection pushed to only on request (no auto-push), never reached in these tests."""
    conn = Connection(name="target", provider="getraze", base_url="http://127.0.0.1:9")
    conn.auto_push = False
    conn.api_key = "k"
    conn.save()
    return conn


def contacts_create(number: int, prefix: str = "c", **fields) -> None:
    Contact.objects.bulk_create(
        Contact(first_name=f"C{n}", email=f"{prefix}{n}@example.com", **fields)
        for n in range(number)
    )


def push_all(client, target, query: str = "", *, selected=None):
    """The "Push to provider…" action on every contact the list shows with `query`."""
    data = {
        "action": "push_to_provider",
        "index": "0",
        "apply": "1",
        "connections": [target.pk],
    }
    if selected is None:
        data["select_across"] = "1"
        data[helpers.ACTION_CHECKBOX_NAME] = [Contact.objects.values_list("pk", flat=True)[0]]
    else:
        data[helpers.ACTION_CHECKBOX_NAME] = selected
    response = client.post(CONTACTS + query, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def test_ids_per_statement_keeps_below_the_database_limit(few_parameters):
    size = ids_per_statement(using="default", reserved=30)
    assert size <= CHUNK
    if few_parameters is not None:
        assert size + 30 <= few_parameters


def test_select_all_pushes_every_contact_and_the_progress_page_counts_them(
    staff_client, target, few_parameters
):
    contacts_create(2500)
    progress_url = push_all(staff_client, target)

    assert RemoteLink.objects.filter(connection=target, state="pending").count() == 2500
    # Every link is in one queued batch task (100 links each): 25 tasks.
    queued = DBTaskResult.objects.filter(task_path__endswith="push_links")
    assert sum(len(task.args_kwargs["kwargs"]["link_ids"]) for task in queued) == 2500

    batch = PushBatch.objects.get()
    assert (batch.select_across, batch.contact_ids, batch.contact_count) == (True, [], 2500)
    assert batch.created_by == staff_client.user

    with CaptureQueriesContext(db_connection) as page_queries:
        page = staff_client.get(progress_url)
    assert page.status_code == 200
    assert 'data-count="queued">2500<' in page.content.decode()
    progress = staff_client.get(progress_url, {"format": "json"}).json()
    assert (progress["queued"], progress["total"]) == (2500, 2500)

    contacts_create(10, prefix="later")  # the page reads as many queries for more contacts
    with CaptureQueriesContext(db_connection) as again:
        staff_client.get(progress_url)
    assert len(again) == len(page_queries) <= 12


def test_the_push_form_as_rendered_queues_a_select_all(staff_client, target, few_parameters):
    """The form posts the selection back as the list posted it: select_across with the page's
    ticks, without which the list answers "Items must be selected" and queues nothing."""
    contacts_create(1200)
    page_ticks = list(Contact.objects.order_by("-updated_at", "-id").values_list("pk", flat=True))
    data = {"action": "push_to_provider", "index": "0", "select_across": "1"}
    form = staff_client.post(CONTACTS, {**data, helpers.ACTION_CHECKBOX_NAME: page_ticks[:100]})
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text)
    posted: dict[str, list[str]] = {"connections": [str(target.pk)]}
    for name, value in fields:
        posted.setdefault(name, []).append(value)
    assert len(posted[helpers.ACTION_CHECKBOX_NAME]) == 100
    response = staff_client.post(CONTACTS, posted)
    assert response.status_code == 302
    assert RemoteLink.objects.filter(connection=target, state="pending").count() == 1200
    assert PushBatch.objects.get().contact_ids == []


def test_the_batch_keeps_the_lists_filters_not_its_ids(staff_client, target, few_parameters):
    contacts_create(1200, stage="customer")
    contacts_create(30, prefix="lead", stage="lead")
    progress_url = push_all(staff_client, target, "?stage__exact=lead")
    batch = PushBatch.objects.get()
    assert batch.query == "stage__exact=lead"
    assert batch.contact_count == 30
    progress = staff_client.get(progress_url, {"format": "json"}).json()
    assert progress["total"] == 30
    assert RemoteLink.objects.count() == 30


def test_a_push_of_failed_links_is_followed_though_they_leave_the_failed_filter(
    staff_client, target, few_parameters
):
    contacts_create(1100)
    contacts = Contact.objects.order_by("pk")
    failed = list(contacts.values_list("pk", flat=True)[:1050])
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="failed") for pk in failed
    )
    other = contacts.last()
    RemoteLink.objects.create(contact=other, connection=target, state="synced")

    progress_url = push_all(staff_client, target, f"?sync={target.pk}:failed")

    progress = staff_client.get(progress_url, {"format": "json"}).json()
    assert (progress["queued"], progress["failed"], progress["total"]) == (1050, 0, 1050)


def test_ticked_contacts_are_kept_as_their_ids(staff_client, target, few_parameters):
    contacts_create(5)
    ticked = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[:3])
    progress_url = push_all(staff_client, target, selected=ticked)
    batch = PushBatch.objects.get()
    assert (batch.select_across, batch.contact_ids, batch.query) == (False, ticked, "")
    assert staff_client.get(progress_url, {"format": "json"}).json()["total"] == 3


def test_a_push_is_followed_by_the_one_who_queued_it_and_the_last_five_are_kept(
    staff_client, target, client, django_user_model
):
    contacts_create(3)
    urls = [push_all(staff_client, target) for _ in range(6)]
    assert PushBatch.objects.count() == 5
    assert staff_client.get(urls[0]).status_code == 404
    assert staff_client.get(urls[-1]).status_code == 200

    other = django_user_model.objects.create_superuser("other", "o@example.com", "pw")
    client.force_login(other)
    assert client.get(urls[-1]).status_code == 404


def test_retry_of_every_link_is_chunked(staff_client, target, few_parameters):
    contacts_create(2100)
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="failed")
        for pk in Contact.objects.values_list("pk", flat=True)
    )
    assert links_retry(links=RemoteLink.objects.all()) == 2100
    assert RemoteLink.objects.filter(state="pending").count() == 2100


def test_retry_action_on_select_all(staff_client, target, few_parameters):
    contacts_create(1500)
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="failed")
        for pk in Contact.objects.values_list("pk", flat=True)
    )
    data = {
        "action": "retry",
        "index": "0",
        "select_across": "1",
        helpers.ACTION_CHECKBOX_NAME: [RemoteLink.objects.values_list("pk", flat=True)[0]],
    }
    response = staff_client.post(reverse("admin:integrations_remotelink_changelist"), data)
    assert response.status_code == 302
    assert RemoteLink.objects.filter(state="pending").count() == 1500


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="100,000 contacts: PostgreSQL's own run"
)
def test_select_all_of_100000_contacts_on_postgresql(staff_client, target):
    contacts_create(100_000)
    progress_url = push_all(staff_client, target)

    assert RemoteLink.objects.filter(connection=target, state="pending").count() == 100_000
    queued = DBTaskResult.objects.filter(task_path__endswith="push_links")
    assert queued.count() == 1000
    with CaptureQueriesContext(db_connection) as page_queries:
        page = staff_client.get(progress_url)
    assert page.status_code == 200
    assert 'data-count="queued">100000<' in page.content.decode()
    assert len(page_queries) <= 12
    progress = staff_client.get(progress_url, {"format": "json"}).json()
    assert (progress["queued"], progress["total"]) == (100_000, 100_000)


def test_export_of_every_contact_reads_in_chunks(staff_client, target, few_parameters):
    contacts_create(1500)
    fields = {f"contactresource_{name}": "on" for name in ("email", "phones", "tags")}
    with CaptureQueriesContext(db_connection) as queries:
        response = staff_client.post(
            reverse("admin:crm_contact_export"), {"format": "0", "resource": "0", **fields}
        )
    assert response.status_code == 200
    emails = [line.split(",")[0] for line in response.content.decode().splitlines()[1:]]
    # In the list's order; a chunk of 100 contacts is three queries (rows, phones, tags).
    listed = Contact.objects.order_by("-updated_at", "-id").values_list("email", flat=True)
    assert emails == list(listed)
    assert len(queries) <= 3 * 15 + 10, len(queries)


@pytest.fixture
def delete_in_the_request(monkeypatch):
    """1,100 contacts deleted in the request, not queued for the worker (whose path
    tests/test_selection_delete.py and tests/test_delete_background.py take): the chunks and
    the parameter limit are the same either way."""
    monkeypatch.setattr(admin_delete, "SYNC_LIMIT", 2000)


def test_delete_of_every_contact_with_links(
    staff_client, target, few_parameters, delete_in_the_request
):
    contacts_create(1100)
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="synced")
        for pk in Contact.objects.values_list("pk", flat=True)
    )
    data = {
        "action": "delete_selected",
        "index": "0",
        "select_across": "1",
        helpers.ACTION_CHECKBOX_NAME: [Contact.objects.values_list("pk", flat=True)[0]],
    }
    confirmation = staff_client.post(CONTACTS, data)
    assert confirmation.status_code == 200
    response = staff_client.post(CONTACTS, {**data, "post": "yes"})
    assert response.status_code == 302
    assert (Contact.objects.count(), RemoteLink.objects.count()) == (0, 0)


def test_delete_of_every_contact_keeps_the_links_whose_remote_records_are_deleted(
    staff_client, target, few_parameters, django_capture_on_commit_callbacks, delete_in_the_request
):
    target.on_delete = "delete"
    target.save()
    contacts_create(1100)
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="synced", remote_id=f"r{pk}")
        for pk in Contact.objects.values_list("pk", flat=True)
    )
    data = {
        "action": "delete_selected",
        "index": "0",
        "select_across": "1",
        helpers.ACTION_CHECKBOX_NAME: [Contact.objects.values_list("pk", flat=True)[0]],
        "post": "yes",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(CONTACTS, data)
    assert response.status_code == 302
    assert Contact.objects.count() == 0
    assert RemoteLink.objects.filter(contact=None, state="deleting").count() == 1100
    queued = set()  # one remote delete each, by batches of links as for pushes
    for task in DBTaskResult.objects.all():
        kwargs = task.args_kwargs["kwargs"]
        queued.update(kwargs.get("link_ids", [kwargs.get("link_id")]))
    assert queued == set(RemoteLink.objects.values_list("pk", flat=True))
