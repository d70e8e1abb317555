"""The confirmed contact import runs in the worker, in batches, with visible progress."""

import io

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection as db_connection
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from crm import import_run
from crm.models import Contact, ContactImport, CustomField
from integrations.models import Connection, RemoteLink
from tests.integrations_helpers import drain

pytestmark = pytest.mark.django_db

IMPORT = reverse("admin:crm_contact_import")
PROCESS_IMPORT = reverse("admin:crm_contact_process_import")
HEADER = "first_name,last_name,email,company,cf_seats\n"


def progress_url(contact_import) -> str:
    return reverse("admin:crm_contact_import_progress", args=[contact_import.pk])


def preview_and_confirm(client, text: str):
    upload = io.BytesIO(text.encode())
    upload.name = "contacts.csv"
    response = client.post(IMPORT, {"format": "0", "import_file": upload})
    assert response.status_code == 200
    assert "Confirm import" in response.content.decode()
    confirm = response.context["confirm_form"]
    return client.post(PROCESS_IMPORT, {**confirm.initial, "confirm": "1"})


@pytest.fixture
def seats(db):
    return CustomField.objects.create(key="seats", label="Seats")


def test_confirm_queues_the_import_and_redirects_to_its_progress_page(staff_client, seats):
    response = preview_and_confirm(staff_client, HEADER + "Ann,Lee,ann@example.com,Acme,3\n")
    contact_import = ContactImport.objects.get()
    assert response.status_code == 302
    assert response.url == progress_url(contact_import)
    assert (contact_import.status, contact_import.file_name) == ("queued", "contacts.csv")
    assert contact_import.created_by == staff_client.user
    assert DBTaskResult.objects.get().task_path == "crm.tasks.contact_import"
    assert not Contact.objects.exists()

    page = staff_client.get(response.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="import-status"' in html
    assert "crm/import_progress.js" in html
    assert reverse("admin:crm_contact_changelist") in html
    assert staff_client.get(response.url + "?format=json").json()["status"] == "queued"


# The worker closes old database connections between tasks; on PostgreSQL that would close
# the connection holding a test transaction, so this test commits for real.
@pytest.mark.django_db(transaction=True)
def test_the_task_imports_every_row_in_batches_with_progress_seen_meanwhile(
    staff_client, seats, contact_factory, monkeypatch
):
    contact_factory(first_name="Jane", last_name="", email="jane@example.com", company="Old")
    contact_factory(first_name="Same", last_name="", email="same@example.com", company="")
    text = HEADER + (
        "Ann,Lee,ann@example.com,Acme,3\n"
        "Jane,,jane@example.com,New Co,\n"
        "Same,,same@example.com,,\n"
        "Bob,,bob@example.com,,\n"
    )
    response = preview_and_confirm(staff_client, text)
    url = response.url + "?format=json"

    # Progress is written each row here; what the endpoint answers meanwhile is recorded.
    seen = []
    real_write = import_run.progress_write

    def write(import_id, counts):
        real_write(import_id, counts)
        seen.append((len(db_connection.atomic_blocks), staff_client.get(url).json()))

    monkeypatch.setattr(import_run, "PROGRESS_EVERY_ROWS", 1)
    monkeypatch.setattr(import_run, "progress_write", write)
    drain()

    # The first write comes before any batch's transaction opens (the test's own transaction
    # is around everything); every row's write happens inside its batch's, visible to the
    # endpoint.
    (before, started), *rows = seen
    assert started["status"] == "running" and started["processed"] == 0
    during = [data for depth, data in rows]
    assert all(depth > before for depth, data in rows)
    assert [data["processed"] for data in during] == [1, 2, 3, 4]
    assert {(data["status"], data["total"]) for data in during} == {("running", 4)}

    final = staff_client.get(url).json()
    assert final["status"] == "done" and final["finished"]
    assert (final["total"], final["processed"]) == (4, 4)
    assert (final["new"], final["updated"], final["skipped"], final["invalid"]) == (2, 1, 1, 0)
    assert Contact.objects.count() == 4
    assert Contact.objects.get(email="jane@example.com").company == "New Co"
    assert Contact.objects.get(email="ann@example.com").owner == staff_client.user
    assert ContactImport.objects.get().finished_at is not None
    # The admin history records the added and changed contacts, as the in-request import did.
    flags = sorted(LogEntry.objects.values_list("action_flag", flat=True))
    assert flags == [ADDITION, ADDITION, CHANGE]


# The worker closes old database connections between tasks; on PostgreSQL that would close
# the connection holding a test transaction, so this test commits for real.
@pytest.mark.django_db(transaction=True)
def test_a_row_that_became_invalid_fails_the_whole_import_and_writes_nothing(staff_client, seats):
    text = HEADER + "Ann,Lee,ann@example.com,Acme,3\nBob,,bob@example.com,,many\n"
    response = preview_and_confirm(staff_client, text)
    # Between the preview and the worker, "seats" becomes a number: "many" is now invalid.
    seats.type = CustomField.Type.NUMBER
    seats.save()
    drain()

    data = staff_client.get(response.url + "?format=json").json()
    assert data["status"] == "failed" and data["finished"]
    assert "Line 3: cf_seats" in data["error"]
    assert data["invalid"] == 1
    assert not Contact.objects.exists()
    html = staff_client.get(response.url).content.decode()
    assert "nothing was imported" in html
    assert "Line 3: cf_seats" in html


def test_imported_contacts_queue_their_pushes_in_bulk_when_the_import_commits(
    staff_client, seats, django_capture_on_commit_callbacks
):
    connection = Connection(name="crm", provider="getraze", base_url="http://127.0.0.1:9")
    connection.api_key = "k"
    connection.save()
    lines = "".join(f"P{i},,p{i}@example.com,,\n" for i in range(20))
    preview_and_confirm(staff_client, HEADER + lines)
    with django_capture_on_commit_callbacks(execute=True):
        import_run.contact_import_run(import_id=ContactImport.objects.get().pk)
    assert ContactImport.objects.get().status == "done"
    assert RemoteLink.objects.filter(connection=connection, state="pending").count() == 20


def test_only_staff_who_may_add_and_change_contacts_see_or_start_imports(
    client, django_user_model, staff_client, seats
):
    preview_and_confirm(staff_client, HEADER + "Ann,Lee,ann@example.com,Acme,3\n")
    contact_import = ContactImport.objects.get()
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(viewer)
    assert client.get(progress_url(contact_import)).status_code == 403
    assert client.get(progress_url(contact_import) + "?format=json").status_code == 403
    assert client.post(PROCESS_IMPORT, {"confirm": "1"}).status_code == 403

    editor = django_user_model.objects.create_user("editor", password="pw", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_contact", "add_contact", "change_contact"])
    )
    client.force_login(editor)
    assert client.get(progress_url(contact_import)).status_code == 200

    client.logout()
    response = client.get(progress_url(contact_import))
    assert response.status_code == 302 and "/login/" in response.url
    assert DBTaskResult.objects.count() == 1  # nobody else queued anything
