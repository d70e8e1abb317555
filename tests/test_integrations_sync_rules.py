"""Sync rules per connection (issue 17): the sync mode and the audience, over real HTTP against
the sandbox through the real worker."""

import pytest
import requests

from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
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
