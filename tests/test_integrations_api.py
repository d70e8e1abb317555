"""The API's push endpoint and the contact's remote_links."""

import pytest
from django_tasks_db.models import DBTaskResult

from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
from integrations.push import link_push
from tests.api_helpers import CONTACTS_URL, PUSH, READ, WRITE, detail_url, error_codes
from tests.integrations_helpers import drain


def push_url(contact_id: int) -> str:
    return f"{CONTACTS_URL}{contact_id}/push/"


@pytest.fixture
def manual(getraze_connection):
    """The sandbox connection without auto-push, so only explicit pushes queue anything."""
    Connection.objects.filter(pk=getraze_connection.pk).update(auto_push=False)
    getraze_connection.refresh_from_db()
    return getraze_connection


def test_push_queues_the_contact_for_the_named_connection(
    make_client, manual, sandbox, django_capture_on_commit_callbacks
):
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    client = make_client(PUSH)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(push_url(contact.pk), {"connections": [manual.name]}, format="json")

    assert response.status_code == 202
    assert response.json() == {
        "queued": 1,
        "remote_links": [
            {
                "connection": manual.name,
                "provider": "getraze",
                "remote_id": "",
                "state": "pending",
                "last_error": None,
                "last_pushed_at": None,
            }
        ],
    }
    assert DBTaskResult.objects.count() == 1


def test_push_needs_the_push_scope(make_client, manual):
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    response = make_client(READ, WRITE).post(
        push_url(contact.pk), {"connections": [manual.name]}, format="json"
    )
    assert response.status_code == 403
    assert error_codes(response) == {None: ["permission_denied"]}
    assert not RemoteLink.objects.exists()


def test_push_rejects_unknown_and_disabled_connections(make_client, manual):
    Connection.objects.create(name="off", provider="getraze", enabled=False)
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    client = make_client(PUSH)

    response = client.post(push_url(contact.pk), {"connections": ["nope"]}, format="json")
    assert response.status_code == 400
    assert error_codes(response) == {"connections": ["unknown_connection"]}

    response = client.post(push_url(contact.pk), {"connections": ["off"]}, format="json")
    assert error_codes(response) == {"connections": ["connection_disabled"]}


def test_push_refuses_more_connection_names_than_it_looks_up(make_client, manual):
    # 70,000 names once went into one IN list: a 500 on PostgreSQL past 65,535 parameters.
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    names = [f"connection {number}" for number in range(70_000)]

    response = make_client(PUSH).post(push_url(contact.pk), {"connections": names}, format="json")

    assert response.status_code == 400
    assert error_codes(response) == {"connections": ["max_length"]}


def test_push_of_an_unknown_contact_is_404(make_client, manual):
    response = make_client(PUSH).post(push_url(999), {"connections": [manual.name]}, format="json")
    assert response.status_code == 404
    assert error_codes(response) == {None: ["not_found"]}


def test_the_contact_shows_its_remote_links(make_client, getraze_connection, sandbox):
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    link_push(link_id=RemoteLink.objects.get(contact=contact).pk)
    link = RemoteLink.objects.get(contact=contact)

    body = make_client(READ).get(detail_url(contact.pk)).json()

    assert body["remote_links"] == [
        {
            "connection": getraze_connection.name,
            "provider": "getraze",
            "remote_id": link.remote_id,
            "state": "synced",
            "last_error": None,
            "last_pushed_at": link.last_pushed_at.isoformat().replace("+00:00", "Z"),
        }
    ]


def test_a_failed_link_shows_the_providers_error(make_client, getraze_connection, sandbox):
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@localhost"})
    link_push(link_id=RemoteLink.objects.get(contact=contact).pk)
    [link] = make_client(READ).get(detail_url(contact.pk)).json()["remote_links"]
    assert link["state"] == "failed"
    assert link["last_error"] == {
        "code": "INVALID_EMAIL",
        "message": "Email format is invalid (email: Invalid email format)",
    }


def test_the_list_reads_remote_links_in_a_fixed_number_of_queries(
    make_client, getraze_connection, django_assert_max_num_queries
):
    client = make_client(READ)
    for n in range(3):
        contact_upsert(data={"first_name": f"C{n}", "email": f"c{n}@example.com"})
    with django_assert_max_num_queries(20) as few:
        client.get(CONTACTS_URL)
    for n in range(3, 30):
        contact_upsert(data={"first_name": f"C{n}", "email": f"c{n}@example.com"})
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(CONTACTS_URL).json()
    assert all(len(c["remote_links"]) == 1 for c in body["results"])


@pytest.mark.django_db(transaction=True)
def test_done_when_api_create_worker_edit_and_unchanged_save(
    make_client, getraze_connection, sandbox
):
    """The issue's acceptance path through the API: create, push, edit, save unchanged."""
    client = make_client(READ, WRITE)
    response = client.post(
        CONTACTS_URL,
        {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"},
        format="json",
    )
    assert response.status_code == 201
    contact_id = response.json()["id"]

    drain()
    [remote] = sandbox.contacts()
    assert (remote["name"], remote["email"]) == ("Grace Hopper", "grace@example.com")
    links = client.get(detail_url(contact_id)).json()["remote_links"]
    assert [(x["state"], x["remote_id"]) for x in links] == [("synced", remote["id"])]

    client.patch(detail_url(contact_id), {"company": "US Navy"}, format="json")
    drain()
    [remote] = sandbox.contacts()
    assert remote["company"] == "US Navy"

    sent = len(sandbox.requests())
    client.patch(detail_url(contact_id), {"company": "US Navy"}, format="json")
    drain()
    assert len(sandbox.requests()) == sent


def test_the_contact_list_filters_by_sync_state_for_any_or_one_connection(make_client, manual):
    other = Connection.objects.create(
        name="Other: EU", provider="getraze", api_key="k", auto_push=False
    )
    failed_here = contact_upsert(data={"first_name": "Failed here"})
    failed_there = contact_upsert(data={"first_name": "Failed there"})
    synced = contact_upsert(data={"first_name": "Synced"})
    RemoteLink.objects.create(contact=failed_here, connection=manual, state="failed")
    RemoteLink.objects.create(contact=failed_there, connection=other, state="failed")
    RemoteLink.objects.create(contact=synced, connection=manual, state="synced", remote_id="r1")
    client = make_client(READ)

    def names(query):
        response = client.get(CONTACTS_URL, {"sync": query})
        assert response.status_code == 200, response.json()
        return sorted(row["first_name"] for row in response.json()["results"])

    assert names("failed") == ["Failed here", "Failed there"]
    assert names(f"{manual.name}:failed") == ["Failed here"]
    assert names("Other: EU:failed") == ["Failed there"]
    assert names(f"{manual.name}:synced") == ["Synced"]


def test_an_unknown_sync_state_is_a_validation_error(make_client):
    response = make_client(READ).get(CONTACTS_URL, {"sync": "GetRaze:lost"})
    assert response.status_code == 400
    assert error_codes(response) == {"sync": ["invalid_choice"]}
