"""A large contact export runs in the worker (crm.bulk_export): queued from the export page,
written to the private "exports" storage, offered on its progress page and downloaded only by
the staff member who asked; the files go after CONTACT_EXPORT_KEEP_HOURS."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm import admin_export
from crm.bulk_export_run import contact_exports_prune
from crm.models import ContactExport
from tests.integrations_helpers import drain

from .test_selection_size import contacts_create

pytestmark = pytest.mark.django_db(transaction=True)

EXPORT = reverse("admin:crm_contact_export")
FIELDS = {f"contactresource_{name}": "on" for name in ("first_name", "email", "stage")}


@pytest.fixture
def to_the_worker(monkeypatch):
    """Every export goes to the worker: a few contacts stand for a large one."""
    monkeypatch.setattr(admin_export, "SYNC_LIMIT", 0)


def progress_url(export) -> str:
    return reverse("admin:crm_contact_export_progress", args=[export.pk])


def download_url(export) -> str:
    return reverse("admin:crm_contact_export_download", args=[export.pk])


def export(client, query: str = "", format: str = "0"):
    return client.post(EXPORT + query, {"format": format, "resource": "0", **FIELDS})


def test_a_large_export_is_queued_written_by_the_worker_and_downloaded(staff_client, to_the_worker):
    contacts_create(30, stage="lead")
    contacts_create(5, prefix="other", stage="customer")
    response = export(staff_client, "?stage__exact=lead")
    row = ContactExport.objects.get()
    assert response.status_code == 302 and response["Location"] == progress_url(row)
    assert (row.status, row.total, row.query) == ("queued", 30, "stage__exact=lead")
    html = staff_client.get(progress_url(row)).content.decode()
    assert 'data-status="queued"' in html and "crm/job_progress.js" in html
    assert "<script>" not in html
    assert staff_client.get(download_url(row)).status_code == 404  # not written yet

    drain()
    progress = staff_client.get(progress_url(row), {"format": "json"}).json()
    assert (progress["status"], progress["ready"]) == ("done", True)
    assert download_url(row) in staff_client.get(progress_url(row)).content.decode()
    download = staff_client.get(download_url(row))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="Contact-')
    lines = b"".join(download.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 31 and all("@example.com" in line for line in lines[1:])
    assert not any(line.startswith("C") and "other" in line for line in lines)
    assert storages["exports"].exists(ContactExport.objects.get().file)


def test_xlsx_is_written_too(staff_client, to_the_worker):
    contacts_create(4)
    export(staff_client, format="1")
    drain()
    row = ContactExport.objects.get()
    assert row.file_name.endswith(".xlsx")
    content = b"".join(staff_client.get(download_url(row)).streaming_content)
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.max_row == 5


def test_a_small_export_stays_in_the_request(staff_client):
    contacts_create(3)
    response = export(staff_client)
    assert response.status_code == 200 and not ContactExport.objects.exists()
    assert len(response.content.decode().splitlines()) == 4


def test_only_the_one_who_asked_downloads(staff_client, django_user_model, to_the_worker):
    contacts_create(3)
    export(staff_client)
    drain()
    row = ContactExport.objects.get()
    other = django_user_model.objects.create_user("other", password="pw", is_staff=True)
    other.user_permissions.set(Permission.objects.filter(codename="view_contact"))
    staff_client.force_login(other)  # the same test client, another staff member
    assert staff_client.get(progress_url(row)).status_code == 403
    assert staff_client.get(download_url(row)).status_code == 403
    staff_client.logout()
    assert staff_client.get(download_url(row)).status_code == 302  # to the login page


def test_files_are_removed_after_the_keep_time(staff_client, to_the_worker, settings):
    contacts_create(3)
    export(staff_client)
    drain()
    row = ContactExport.objects.get()
    now = row.finished_at + timedelta(hours=settings.CONTACT_EXPORT_KEEP_HOURS)
    assert contact_exports_prune(now=now) == 0  # not older than the keep time yet
    assert contact_exports_prune(now=now + timedelta(seconds=1)) == 1
    assert not storages["exports"].exists(row.file)
    assert staff_client.get(download_url(row)).status_code == 404
    assert "has been removed" in staff_client.get(progress_url(row)).content.decode()


def test_a_failed_export_says_why(staff_client, django_user_model, to_the_worker):
    contacts_create(3)
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    perms = Permission.objects.filter(codename__in=["view_contact"])
    clerk.user_permissions.set(perms)
    staff_client.force_login(clerk)
    export(staff_client)
    clerk.is_active = False
    clerk.save()
    drain()
    row = ContactExport.objects.get()
    assert row.status == "failed" and "gone" in row.error
    assert timezone.now() >= row.finished_at
    admin_user = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    staff_client.force_login(admin_user)
    html = staff_client.get(progress_url(row)).content.decode()
    assert "The export failed." in html and "is gone" in html
