"""Any selection size, the delete: "Delete selected contacts" on "select all" summarises what
goes (a count per model, and the remote records the connections' rules will delete) instead of
listing every row, carries the selection back as the list does (its filters, or the ticked
contacts of one page), and deletes by chunks, each as Django deletes a queryset: in the request
up to a chunk's worth of contacts, in the worker beyond (tests/test_delete_background.py).

SQLite's limit is lowered to 999 parameters a statement (few_parameters), so a thousand
contacts stand for a selection past PostgreSQL's 65,535; the 100,000-contact runs, the delete
and the export, are PostgreSQL's own.
"""

import re
from contextlib import contextmanager

import pytest
from django.contrib.admin import helpers
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.deletion import contact_cascade
from crm.models import Contact, ContactDeletion, ContactExport, PhoneNumber, Tag
from integrations.models import Connection, PushAttempt, RemoteLink
from tests.integrations_helpers import drain

from . import test_selection_size
from .test_selection_size import contacts_create

# The fixtures of the push's tests: the lowered parameter limit, a connection not pushed to.
few_parameters = test_selection_size.few_parameters
target = test_selection_size.target

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:crm_contact_changelist")
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@contextmanager
def largest_statement():
    """Records the most parameters any statement bound, in `found["params"]`."""
    found = {"params": 0}

    def count(execute, sql, params, many, context):
        if params and not many:
            found["params"] = max(found["params"], len(params))
        return execute(sql, params, many, context)

    with db_connection.execute_wrapper(count):
        yield found


def with_rows(target) -> None:
    """A phone, a tag, a link to `target` and a push attempt on that link, for every contact
    without them yet."""
    without = Contact.objects.filter(remote_links=None)
    ids = list(without.values_list("pk", flat=True))
    tag, _created = Tag.objects.get_or_create(name="vip")
    PhoneNumber.objects.bulk_create(
        PhoneNumber(contact_id=pk, number=f"+1415555{pk % 10000:04d}") for pk in ids
    )
    Contact.tags.through.objects.bulk_create(
        Contact.tags.through(contact_id=pk, tag_id=tag.pk) for pk in ids
    )
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="synced") for pk in ids
    )
    PushAttempt.objects.bulk_create(
        PushAttempt(link_id=pk, operation="create", method="POST", path="/contacts")
        for pk in RemoteLink.objects.filter(push_attempts=None).values_list("pk", flat=True)
    )


def delete_action(client, query: str = "", *, selected=None):
    """The action's first step, as the list posts it: the confirmation page."""
    data = {"action": "delete_selected", "index": "0"}
    if selected is None:  # "select all": the page's ticked contacts and select_across
        data["select_across"] = "1"
        data[helpers.ACTION_CHECKBOX_NAME] = list(
            Contact.objects.order_by("-updated_at", "-id").values_list("pk", flat=True)[:100]
        )
    else:
        data[helpers.ACTION_CHECKBOX_NAME] = selected
    return client.post(CONTACTS + query, data)


def confirm(client, page, query: str = ""):
    """Posts the confirmation page's own form, hidden fields as it renders them."""
    fields: dict[str, list[str]] = {}
    form = page.content.decode().split('<form method="post">')[-1]
    for name, value in HIDDEN.findall(form):
        fields.setdefault(name, []).append(value)
    return client.post(CONTACTS + query, fields)


def summary(page) -> dict[str, str]:
    return dict(re.findall(r"<li>([^<:]+): (\d+)</li>", page.content.decode()))


def progress_url(deletion) -> str:
    return reverse("admin:crm_contact_deletion_progress", args=[deletion.pk])


@pytest.mark.django_db(transaction=True)
def test_select_all_confirms_with_counts_and_deletes_by_chunks_in_the_worker(
    staff_client, target, few_parameters
):
    contacts_create(1100, stage="lead")
    contacts_create(5, prefix="kept", stage="customer")
    with_rows(target)

    with CaptureQueriesContext(db_connection) as queries:
        page = delete_action(staff_client, "?stage__exact=lead")
    assert page.status_code == 200
    assert summary(page) == {
        "Contacts": "1100",
        "Contact-tag relationships": "1100",
        "Phone numbers": "1100",
        "Remote links": "1100",
        "Push attempts": "1100",
    }
    html = page.content.decode()
    assert "C17 " not in html and "c17@example.com" not in html  # no contact is listed
    assert html.count('type="hidden"') <= 110  # the page's ticks at most, never every id
    assert len(queries) <= 20, [q["sql"][:80] for q in queries.captured_queries]

    response = confirm(staff_client, page, "?stage__exact=lead")
    deletion = ContactDeletion.objects.get()
    assert response.status_code == 302 and response["Location"] == progress_url(deletion)
    assert (deletion.status, deletion.total, deletion.select_across) == ("queued", 1100, True)
    assert Contact.objects.count() == 1105  # nothing deleted in the request
    with largest_statement() as found:
        drain()
    assert found["params"] <= few_parameters
    assert set(Contact.objects.values_list("stage", flat=True)) == {"customer"}
    assert (PhoneNumber.objects.count(), RemoteLink.objects.count()) == (5, 5)
    assert (PushAttempt.objects.count(), Contact.tags.through.objects.count()) == (5, 5)
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 1100
    assert set(LogEntry.objects.values_list("user_id", flat=True)) == {staff_client.user.pk}
    html = staff_client.get(response["Location"]).content.decode()
    assert "Delete finished" in html and ">1100</strong> of" in html


def test_the_confirmation_reads_as_many_queries_for_more_contacts(staff_client, target):
    contacts_create(150)  # more than the list's page either way
    with_rows(target)
    delete_action(staff_client)  # caches filled (the content types of the admin's log)
    with CaptureQueriesContext(db_connection) as few:
        delete_action(staff_client)
    contacts_create(300, prefix="more")
    with_rows(target)
    with CaptureQueriesContext(db_connection) as more:
        page = delete_action(staff_client)
    assert summary(page)["Contacts"] == "450"
    assert len(more) == len(few)


def test_ticked_contacts_are_the_ones_deleted_in_the_request(staff_client, target):
    contacts_create(5)
    ticked = list(Contact.objects.order_by("pk").values_list("pk", flat=True)[:2])
    page = delete_action(staff_client, selected=ticked)
    assert summary(page) == {"Contacts": "2"}
    response = confirm(staff_client, page)
    assert response.status_code == 302 and response["Location"] == CONTACTS
    assert not Contact.objects.filter(pk__in=ticked).exists()
    assert Contact.objects.count() == 3
    assert not ContactDeletion.objects.exists()  # a small selection never waits for the worker
    messages = [str(m) for m in staff_client.get(response["Location"]).context["messages"]]
    assert "Successfully deleted 2 contacts." in messages


def test_staff_who_may_not_delete_the_links_cannot_delete_linked_contacts(
    client, django_user_model, target
):
    contacts_create(3)
    with_rows(target)
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="crm", codename__in=["view_contact", "delete_contact"]
        )
    )
    client.force_login(user)
    page = delete_action(client)
    assert page.status_code == 200
    assert "Cannot delete" in page.content.decode()
    assert "remote links" in page.content.decode()
    data = {"action": "delete_selected", "index": "0", "select_across": "1", "post": "yes"}
    data[helpers.ACTION_CHECKBOX_NAME] = [Contact.objects.first().pk]
    assert client.post(CONTACTS, data).status_code == 403
    assert Contact.objects.count() == 3


def test_the_cascade_is_found_through_the_relations():
    assert contact_cascade() == [
        (Contact, "pk"),
        (Contact.tags.through, "contact__pk"),
        (PhoneNumber, "contact__pk"),
        (RemoteLink, "contact__pk"),
        (PushAttempt, "link__contact__pk"),
    ]


@pytest.mark.django_db(transaction=True)
def test_links_to_a_connection_that_deletes_remote_records_are_summarised_and_kept(
    staff_client, target, few_parameters
):
    contacts_create(1050)
    with_rows(target)
    deleting = Connection(name="Mirror", provider="getraze", base_url="http://127.0.0.1:9")
    deleting.on_delete = Connection.OnDelete.DELETE
    deleting.api_key = "k"
    deleting.save()
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=deleting, state="synced", remote_id=f"r{pk}")
        for pk in Contact.objects.values_list("pk", flat=True)
    )

    page = delete_action(staff_client)
    assert summary(page) == {
        "Contacts": "1050",
        "Contact-tag relationships": "1050",
        "Phone numbers": "1050",
        "Remote links": "2100",
        "Push attempts": "1050",
        "Records to delete at Mirror (their links kept until then)": "1050",
    }
    response = confirm(staff_client, page)
    assert response.status_code == 302
    # The remote deletes the chunks queue wait while the connection is disabled (their requests
    # are tests/test_integrations_remote_delete.py's); the kept links are what matters here.
    Connection.objects.filter(pk=deleting.pk).update(enabled=False)
    with largest_statement() as found:
        drain()  # the integrations app's receivers run in the worker, chunk by chunk
    assert found["params"] <= few_parameters
    assert ContactDeletion.objects.get().status == "done"
    assert Contact.objects.count() == 0
    assert not RemoteLink.objects.filter(connection=target).exists()
    kept = RemoteLink.objects.filter(connection=deleting)
    assert kept.filter(state="deleting", contact=None).count() == 1050


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="100,000 contacts: PostgreSQL's own run"
)
@pytest.mark.django_db(transaction=True)
def test_delete_of_100000_contacts_on_postgresql(staff_client, target):
    contacts_create(100_000)
    RemoteLink.objects.bulk_create(
        RemoteLink(contact_id=pk, connection=target, state="synced")
        for pk in Contact.objects.values_list("pk", flat=True)
    )
    page = delete_action(staff_client)
    assert summary(page) == {"Contacts": "100000", "Remote links": "100000"}
    assert len(page.content) < 50_000
    with largest_statement() as found:
        response = confirm(staff_client, page)  # queued: the request deletes nothing
        assert response.status_code == 302
        assert Contact.objects.count() == 100_000
        drain()
    assert found["params"] <= 5000
    assert (Contact.objects.count(), RemoteLink.objects.count()) == (0, 0)
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 100_000
    assert ContactDeletion.objects.values_list("status", "deleted").get() == ("done", 100_000)


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="100,000 contacts: PostgreSQL's own run"
)
@pytest.mark.django_db(transaction=True)
def test_export_of_100000_contacts_on_postgresql(staff_client):
    contacts_create(100_000)
    fields = {f"contactresource_{name}": "on" for name in ("email", "phones", "tags")}
    with largest_statement() as found:
        response = staff_client.post(
            reverse("admin:crm_contact_export"), {"format": "0", "resource": "0", **fields}
        )
        assert response.status_code == 302  # queued for the worker
        drain()
    assert found["params"] <= 1000
    export = ContactExport.objects.get()
    assert (export.status, export.total) == ("done", 100_000)
    download = staff_client.get(reverse("admin:crm_contact_export_download", args=[export.pk]))
    content = b"".join(download.streaming_content).decode("utf-8-sig")
    assert len(content.splitlines()) == 100_001
