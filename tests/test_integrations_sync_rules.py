"""Sync rules per connection (issue 17): the sync mode and the audience, over real HTTP against
the sandbox through the real worker."""

import io

import pytest
import requests
from django.core.management import call_command
from django.db import transaction as django_transaction
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact
from crm.services import contact_upsert
from integrations.audience import AudienceInvalid, audience_validate
from integrations.links import links_mark_pending
from integrations.models import Connection, RemoteLink
from integrations.selectors import push_batch_progress
from tests.integrations_helpers import SANDBOX_KEY, drain, settle

pytestmark = pytest.mark.django_db(transaction=True)


def make_connection(sandbox, **fields) -> Connection:
    connection = Connection(
        name="GetRaze", provider="getraze", base_url=sandbox.base_url, rate_limit=0, **fields
    )
    connection.api_key = SANDBOX_KEY
    connection.save()
    return connection


def calls(sandbox) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in sandbox.requests()]


def at_getraze(sandbox, **fields) -> str:
    """A record made at GetRaze by someone else; returns its id."""
    response = requests.post(
        sandbox.base_url + "/contacts",
        json={"source": "other", **fields},
        headers={"X-API-Key": SANDBOX_KEY},
        timeout=5,
    )
    response.raise_for_status()
    return response.json()["data"]["id"]


# --- the sync mode ------------------------------------------------------------------------------


def test_create_only_creates_once_and_sends_no_update(sandbox, time_machine):
    connection = make_connection(sandbox, mode="create_only")
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    settle(connection, time_machine)
    [record] = sandbox.contacts()

    contact_upsert(contact=contact, data={"title": "Countess"})
    drain()

    assert [c for c in calls(sandbox) if c[0] in ("POST", "PUT")] == [("POST", "/contacts")]
    assert sandbox.contacts()[0]["title"] is None
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.remote_id, link.last_error_code) == (
        "skipped",
        record["id"],
        "create_only",
    )
    assert link.last_error_message == "Create only: changes are not sent to GetRaze."


def test_create_only_links_a_record_already_there_without_changing_it(sandbox, time_machine):
    connection = make_connection(sandbox, mode="create_only")
    remote_id = at_getraze(sandbox, name="Ada Old", email="ada@example.com")
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    settle(connection, time_machine)

    assert [c for c in calls(sandbox) if c[0] in ("POST", "PUT")] == [("POST", "/contacts")]
    assert RemoteLink.objects.get(contact=contact).remote_id == remote_id
    assert sandbox.contacts()[0]["name"] == "Ada Old"


def test_update_only_skips_a_contact_the_provider_does_not_know(sandbox, time_machine):
    connection = make_connection(sandbox, mode="update_only")
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    settle(connection, time_machine)

    assert sandbox.contacts() == []
    assert [m for m, _ in calls(sandbox)] == ["GET"]  # the lookup only
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.remote_id, link.last_error_code) == ("skipped", "", "not_at_provider")
    assert link.last_error_message == (
        "Update only: GetRaze has no record of this contact, so none is created."
    )


def test_update_only_links_and_updates_a_known_contact_without_a_create(sandbox, time_machine):
    connection = make_connection(sandbox, mode="update_only")
    remote_id = at_getraze(sandbox, name="Grace Old", email="grace@example.com")
    contact = contact_upsert(data={"first_name": "Grace", "email": "grace@example.com"})
    settle(connection, time_machine)
    contact_upsert(contact=contact, data={"title": "Rear Admiral"})
    settle(connection, time_machine)

    writes = [c for c in calls(sandbox) if c[0] in ("POST", "PUT")]
    # Someone else's create, then our two updates.
    assert writes == [("POST", "/contacts"), *[("PUT", f"/contacts/{remote_id}")] * 2]
    [record] = sandbox.contacts()
    assert (record["name"], record["title"]) == ("Grace", "Rear Admiral")
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.remote_id) == ("synced", remote_id)


# --- the audience -------------------------------------------------------------------------------


DELETE_KEY = "sandbox-audience-key-1a2b3c4d"


@pytest.mark.parametrize(
    ("query", "stored"),
    [("tag=vip", "tag=vip"), (" ?tag=vip&stage=customer ", "tag=vip&stage=customer"), ("", "")],
)
def test_an_audience_is_the_api_query_syntax(query, stored):
    assert audience_validate(query) == stored


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("colour=red", "Unknown filter “colour”"),
        ("ordering=email", "Unknown filter “ordering”"),
        ("stage=nonsense", "stage: Select a valid choice."),
        ("tag=", "tag: give it a value or leave it out."),
        ("has_phone=maybe", "has_phone: Enter true or false."),
        ("sync=GetRaze:lost", "sync: Use a state"),
    ],
)
def test_an_audience_the_filter_set_refuses_names_the_problem(query, error):
    with pytest.raises(AudienceInvalid) as invalid:
        audience_validate(query)
    assert error in str(invalid.value)


def audience_connection(sandbox, **fields) -> Connection:
    sandbox.add_key(DELETE_KEY, ["contacts:read", "contacts:write", "contacts:delete"])
    connection = Connection(
        name="VIPs", provider="getraze", base_url=sandbox.base_url, rate_limit=0, **fields
    )
    connection.api_key = DELETE_KEY
    connection.save()
    return connection


def test_a_contact_is_pushed_once_in_the_audience_and_deleted_there_when_it_leaves(
    sandbox, time_machine
):
    connection = audience_connection(sandbox, audience="tag=vip", on_leave="delete")
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    drain()
    assert sandbox.requests() == []
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.last_error_message) == ("skipped", "Outside the audience of VIPs")

    contact_upsert(contact=contact, tags=["VIP"])  # enters the audience (tags match any case)
    settle(connection, time_machine)
    [record] = sandbox.contacts()
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.remote_id) == ("synced", record["id"])

    contact_upsert(contact=contact, tags=[])  # leaves it
    settle(connection, time_machine)
    assert sandbox.contacts() == []
    assert [c for c in calls(sandbox) if c[0] == "DELETE"] == [
        ("DELETE", f"/contacts/{record['id']}")
    ]
    link.refresh_from_db()
    assert (link.state, link.remote_id, link.last_error_code) == ("deleted", "", "outside_audience")
    assert link.last_error_message == "Outside the audience of VIPs: its record there was deleted."
    [attempt] = link.push_attempts.filter(operation="delete")
    assert attempt.outcome == "success"

    contact_upsert(contact=contact, data={"title": "Countess"})  # still outside: nothing sent
    drain()
    assert len(calls(sandbox)) == 3  # lookup, create, the delete… and no more

    contact_upsert(contact=contact, tags=["vip"])  # back in: a record again
    settle(connection, time_machine)
    [again] = sandbox.contacts()
    link.refresh_from_db()
    assert (link.state, link.remote_id) == ("synced", again["id"])


def test_with_keep_a_contact_that_leaves_keeps_its_record_and_its_link_says_why(
    sandbox, time_machine
):
    connection = audience_connection(sandbox, audience="tag=vip")
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"}, tags=["vip"])
    settle(connection, time_machine)
    sent = len(calls(sandbox))

    contact_upsert(contact=contact, tags=[])
    settle(connection, time_machine)
    contact_upsert(contact=contact, data={"title": "Countess"})
    drain()

    assert len(calls(sandbox)) == sent and len(sandbox.contacts()) == 1
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.last_error_code, link.last_error_message) == (
        "skipped",
        "outside_audience",
        "Outside the audience of VIPs",
    )
    assert link.remote_id  # kept


def test_a_manual_push_of_a_contact_outside_the_audience_is_skipped_with_the_reason(
    sandbox, time_machine
):
    connection = audience_connection(sandbox, audience="tag=vip", auto_push=False)
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})

    links_mark_pending(contacts=[contact.pk], connections=[connection])
    drain()

    assert sandbox.requests() == []
    link = RemoteLink.objects.get(contact=contact)
    assert (link.state, link.last_error_message) == ("skipped", "Outside the audience of VIPs")


def test_a_batch_marks_and_pushes_only_the_contacts_in_the_audience(sandbox, time_machine):
    connection = audience_connection(sandbox, audience="tag=vip&stage=customer")
    with django_transaction.atomic():  # an import's batch: one mark for all
        contacts = [
            contact_upsert(
                data={"first_name": f"P{i}", "email": f"p{i}@example.com", "stage": stage},
                tags=tags,
            )
            for i, (stage, tags) in enumerate(
                [("customer", ["vip"]), ("customer", []), ("lead", ["vip"]), ("customer", ["vip"])]
            )
        ]
    links_mark_pending(contacts=[c.pk for c in contacts])
    settle(connection, time_machine)

    assert sorted(r["email"] for r in sandbox.contacts()) == ["p0@example.com", "p3@example.com"]
    states = dict(RemoteLink.objects.values_list("contact_id", "last_error_code"))
    assert [states[c.pk] for c in contacts] == ["", "outside_audience", "outside_audience", ""]


def test_the_admin_shows_the_audience_with_a_live_count_and_a_link_to_its_contacts(
    staff_client, sandbox
):
    connection = audience_connection(sandbox, audience="tag=vip", auto_push=False)
    vip = contact_upsert(data={"first_name": "Vip", "email": "v@example.com"}, tags=["vip"])
    contact_upsert(data={"first_name": "Other", "email": "o@example.com"})

    page = staff_client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    html = page.content.decode()
    link = f"{reverse('admin:crm_contact_changelist')}?audience={connection.pk}"
    assert f'<a href="{link}">1 contact</a>' in html
    listed = staff_client.get(link)
    assert [c.pk for c in listed.context["cl"].result_list] == [vip.pk]


def test_the_admin_refuses_an_audience_the_filter_set_refuses(staff_client, sandbox):
    connection = audience_connection(sandbox, auto_push=False)
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    form = staff_client.get(url).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None}
    data.update(options="{}", api_key="", audience="tag=vip&colour=red")
    response = staff_client.post(url, data)
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["audience"]
    assert error.startswith("Unknown filter “colour”")


def test_the_command_line_audience_scenario_end_to_end(sandbox, time_machine):
    """Done when: a connection added with --audience "tag=vip" --on-leave delete receives a
    contact only once it is tagged vip, and deletes it there when the tag is removed."""
    sandbox.add_key(DELETE_KEY, ["contacts:read", "contacts:write", "contacts:delete"])
    call_command(
        *("add_connection", "VIP", "--provider", "getraze", "--api-key", DELETE_KEY),
        *("--base-url", sandbox.base_url, "--auto-push", "--rate-limit", "0"),
        *("--audience", "tag=vip", "--on-leave", "delete"),
        stdout=io.StringIO(),
    )
    connection = Connection.objects.get(name="VIP")
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    settle(connection, time_machine)
    assert sandbox.contacts() == []

    contact_upsert(contact=contact, tags=["vip"])
    settle(connection, time_machine)
    assert [r["email"] for r in sandbox.contacts()] == ["ada@example.com"]

    contact_upsert(contact=contact, tags=[])
    settle(connection, time_machine)
    assert sandbox.contacts() == []
    assert RemoteLink.objects.get(contact=contact).state == "deleted"


def test_a_push_batch_counts_a_record_deleted_on_leaving_the_audience_as_done(sandbox):
    connection = audience_connection(sandbox, audience="tag=vip", auto_push=False)
    since = timezone.now()
    contacts = [
        contact_upsert(data={"first_name": f"P{i}", "email": f"p{i}@example.com"}) for i in range(3)
    ]
    states = ["deleted", "deleting", "skipped"]
    for contact, state in zip(contacts, states, strict=True):
        RemoteLink.objects.create(contact=contact, connection=connection, state=state)

    progress = push_batch_progress(
        contacts=Contact.objects.all(), connection_ids=[connection.pk], since=since
    )

    assert (progress["queued"], progress["done"], progress["total"]) == (1, 2, 3)
