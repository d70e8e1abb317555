"""A large "Delete selected contacts" runs in the worker (crm.bulk_delete): queued at the
confirmation, its selection resolved again by the worker through the contact list's own code,
deleted by chunks with its progress on a page that staff who may delete contacts can see."""

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm import admin_delete, deletion
from crm.bulk_delete_run import contact_deletion_run as deletion_run
from crm.models import Contact, ContactDeletion
from crm.signals import contacts_deleting
from tests.integrations_helpers import drain

from .test_selection_delete import confirm, delete_action, summary
from .test_selection_size import contacts_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def small_limits(monkeypatch):
    """Every selection goes to the worker, deleted 10 contacts a chunk: a few dozen contacts
    then stand for a large delete."""
    monkeypatch.setattr(admin_delete, "SYNC_LIMIT", 0)
    monkeypatch.setattr(deletion, "BULK_CHUNK", 10)


def progress_url(row) -> str:
    return reverse("admin:crm_contact_deletion_progress", args=[row.pk])


def test_the_progress_page_shows_queued_then_done(staff_client, small_limits):
    contacts_create(25)
    page = delete_action(staff_client)
    response = confirm(staff_client, page)
    row = ContactDeletion.objects.get()
    assert response["Location"] == progress_url(row)

    html = staff_client.get(progress_url(row)).content.decode()
    assert 'data-status="queued"' in html and "crm/job_progress.js" in html
    assert "<script>" not in html  # the CSP allows no inline script
    assert staff_client.get(progress_url(row), {"format": "json"}).json() == {
        "id": row.pk,
        "status": "queued",
        "total": 25,
        "deleted": 0,
        "error": "",
        "finished": False,
    }
    drain()
    progress = staff_client.get(progress_url(row), {"format": "json"}).json()
    assert (progress["status"], progress["deleted"], progress["finished"]) == ("done", 25, True)
    assert "Delete finished" in staff_client.get(progress_url(row)).content.decode()
    assert Contact.objects.count() == 0
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 25


def test_the_count_moves_as_each_chunk_commits(staff_client, small_limits):
    contacts_create(25)
    confirm(staff_client, delete_action(staff_client))
    seen = []

    # Before each chunk, the row's count of the chunks before it, already committed.
    def watch(sender, contact_ids, **kwargs):
        seen.append(ContactDeletion.objects.get().deleted)

    contacts_deleting.connect(watch)
    try:
        drain()
    finally:
        contacts_deleting.disconnect(watch)
    assert seen == [0, 10, 20]


def test_select_all_across_a_filter_and_a_search(staff_client, small_limits):
    contacts_create(30, prefix="lead", stage="lead")
    contacts_create(5, prefix="other", stage="lead")
    contacts_create(5, prefix="lead-customer", stage="customer")
    query = "?stage__exact=lead&q=lead"
    page = delete_action(staff_client, query)
    assert summary(page)["Contacts"] == "30"
    confirm(staff_client, page, query)
    assert ContactDeletion.objects.get().query == "stage__exact=lead&q=lead"
    drain()
    assert ContactDeletion.objects.get().deleted == 30
    assert Contact.objects.filter(stage="lead", email__startswith="lead").count() == 0
    assert Contact.objects.count() == 10


def test_ticked_contacts_are_the_ones_the_worker_deletes(staff_client, small_limits):
    contacts_create(20)
    ticked = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[3:15])
    page = delete_action(staff_client, selected=ticked)
    assert summary(page) == {"Contacts": "12"}
    confirm(staff_client, page)
    row = ContactDeletion.objects.get()
    assert (row.select_across, sorted(row.selected)) == (False, ticked)
    drain()
    assert not Contact.objects.filter(pk__in=ticked).exists()
    assert Contact.objects.count() == 8


def test_a_delete_while_the_list_changes_deletes_what_was_counted_or_fewer(
    staff_client, small_limits
):
    contacts_create(30, stage="lead")
    contacts_create(5, prefix="kept", stage="customer")
    page = delete_action(staff_client, "?stage__exact=lead")
    confirm(staff_client, page, "?stage__exact=lead")
    # Meanwhile: five of them deleted by someone else, and new leads added.
    gone = list(
        Contact.objects.filter(stage="lead").order_by("pk")[:5].values_list("pk", flat=True)
    )
    Contact.objects.filter(pk__in=gone).delete()
    contacts_create(4, prefix="new", stage="lead")
    drain()
    row = ContactDeletion.objects.get()
    assert (row.status, row.total, row.deleted) == ("done", 30, 25)
    assert set(Contact.objects.values_list("email", flat=True)) == {
        *(f"new{n}@example.com" for n in range(4)),
        *(f"kept{n}@example.com" for n in range(5)),
    }


def test_a_failure_stops_the_delete_and_the_page_says_why(staff_client, small_limits):
    contacts_create(25)
    confirm(staff_client, delete_action(staff_client))
    calls = []

    def fail_second_chunk(sender, contact_ids, **kwargs):
        calls.append(contact_ids)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")

    contacts_deleting.connect(fail_second_chunk)
    try:
        drain()
    finally:
        contacts_deleting.disconnect(fail_second_chunk)
    row = ContactDeletion.objects.get()
    assert (row.status, row.deleted) == ("failed", 10)
    assert row.error == "The delete stopped: the disk is full"
    assert Contact.objects.count() == 15  # the failed chunk rolled back, the rest kept
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 10
    html = staff_client.get(progress_url(row)).content.decode()
    assert "The delete failed after" in html and "the disk is full" in html


def test_staff_who_may_not_delete_contacts_see_no_progress_page(
    django_user_model, staff_client, small_limits
):
    contacts_create(3)
    confirm(staff_client, delete_action(staff_client))
    row = ContactDeletion.objects.get()
    missing = reverse("admin:crm_contact_deletion_progress", args=[row.pk + 1])
    assert staff_client.get(missing).status_code == 404
    client = staff_client  # the same test client, logged in as another user
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_contact"))
    client.force_login(viewer)
    assert client.get(progress_url(row)).status_code == 403
    assert client.get(progress_url(row), {"format": "json"}).status_code == 403


def test_a_user_who_lost_the_permission_meanwhile_deletes_nothing(
    client, django_user_model, small_limits
):
    contacts_create(12)
    clerk = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    perms = Permission.objects.filter(
        content_type__app_label="crm", codename__in=["view_contact", "delete_contact"]
    )
    clerk.user_permissions.set(perms)
    client.force_login(clerk)
    confirm(client, delete_action(client))
    clerk.user_permissions.set(perms.filter(codename="view_contact"))
    drain()
    row = ContactDeletion.objects.get()
    assert row.status == "failed" and "may no longer delete" in row.error
    assert Contact.objects.count() == 12


@pytest.mark.django_db
def test_a_job_is_started_once_when_two_workers_take_its_task():
    """The worker runs a task at least once: the second start of a queued job finds it taken
    and its run does nothing (the check and the mark are one statement)."""
    row = ContactDeletion.objects.create(select_across=True, total=0)

    assert ContactDeletion.job_start(row.pk) is True
    assert ContactDeletion.job_start(row.pk) is False
    assert deletion_run(deletion_id=row.pk) == ContactDeletion.Status.RUNNING
