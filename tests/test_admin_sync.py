"""Sync at a glance in the admin: badges, the index panel, Test connection, push progress."""

import re

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from crm.models import Contact
from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
from integrations.push import link_push
from tests.integrations_helpers import SANDBOX_KEY, drain

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:crm_contact_changelist")


def failed_push(sandbox, contact):
    sandbox.faults(fail_next=1, error_status=400)
    link = RemoteLink.objects.get(contact=contact)
    link_push(link_id=link.pk)
    link.refresh_from_db()
    assert link.state == "failed"
    return link


def test_the_contact_list_shows_a_badge_per_connection_with_the_failure_on_hover(
    staff_client, getraze_connection, sandbox
):
    ok = contact_upsert(data={"first_name": "Ok", "email": "ok@example.com"})
    link_push(link_id=RemoteLink.objects.get(contact=ok).pk)
    bad = contact_upsert(data={"first_name": "Bad", "email": "bad@example.com"})
    failed_push(sandbox, bad)

    html = staff_client.get(CONTACTS).content.decode()
    badges = re.findall(r'<span class="sync-badge" data-state="(\w+)" title="([^"]*)"', html)
    assert sorted(state for state, _ in badges) == ["failed", "synced"]
    failed_title = next(title for state, title in badges if state == "failed")
    assert "getraze-sandbox: Failed" in failed_title and "Injected failure" in failed_title


def test_the_contact_list_with_links_costs_a_fixed_number_of_queries(
    staff_client, getraze_connection, sandbox, django_assert_max_num_queries
):
    other = Connection(name="second", provider="getraze", base_url=sandbox.base_url)
    other.api_key = "k"
    other.save()
    contacts = Contact.objects.bulk_create(
        [Contact(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(100)]
    )
    RemoteLink.objects.bulk_create(
        [
            RemoteLink(contact=c, connection=conn)
            for c in contacts
            for conn in (getraze_connection, other)
        ]
    )
    with django_assert_max_num_queries(10):
        response = staff_client.get(CONTACTS)
    assert response.content.decode().count('class="sync-badge"') == 200


def test_the_admin_index_counts_links_per_connection_failures_first(
    staff_client, getraze_connection, sandbox
):
    quiet = Connection(name="a-quiet-one", provider="getraze", base_url=sandbox.base_url)
    quiet.api_key = "k"
    quiet.save()
    bad = contact_upsert(data={"first_name": "Bad", "email": "bad@example.com"})
    contact_upsert(data={"first_name": "Waiting", "email": "w@example.com"})
    RemoteLink.objects.filter(connection=quiet).delete()
    failed_push(sandbox, bad)

    html = staff_client.get(reverse("admin:index")).content.decode()
    panel = html[html.index('id="sync-dashboard"') :]
    rows = re.findall(r'<tr data-connection="(\d+)">', panel)
    assert rows == [
        str(getraze_connection.pk),
        str(quiet.pk),
    ]  # failures first, though "a…" sorts first
    failing = f'href="{CONTACTS}?sync={getraze_connection.pk}:failed">1</a>'
    assert failing in panel
    assert f'href="{CONTACTS}?sync={getraze_connection.pk}:pending">1</a>' in panel
    listed = staff_client.get(CONTACTS, {"sync": f"{getraze_connection.pk}:failed"}).context["cl"]
    assert list(listed.result_list) == [bad]
    # Contacts never pushed to a connection are counted too, and listed from there.
    assert f'href="{CONTACTS}?sync={quiet.pk}:none">2</a>' in panel
    assert f'href="{CONTACTS}?sync={getraze_connection.pk}:none"' not in panel


def test_a_paused_connection_page_shows_why_and_test_connection_reports_the_answer(
    staff_client, getraze_connection, sandbox
):
    contact = contact_upsert(data={"first_name": "Jane", "email": "jane@example.com"})
    getraze_connection.api_key = "wrong-key-000000000"
    getraze_connection.save()
    link_push(link_id=RemoteLink.objects.get(contact=contact).pk)
    getraze_connection.refresh_from_db()
    assert getraze_connection.is_paused

    page = staff_client.get(
        reverse("admin:integrations_connection_change", args=[getraze_connection.pk])
    )
    html = page.content.decode()
    assert "Paused" in html and getraze_connection.paused_reason in html
    test_url = reverse("admin:integrations_connection_test", args=[getraze_connection.pk])
    assert f'href="{test_url}"' in html

    response = staff_client.get(test_url, follow=True)
    refused = "Test connection: GetRaze refused it (HTTP 401, INVALID_API_KEY)"
    assert refused in response.content.decode()
    assert sandbox.requests()[-1]["method"] == "GET"

    getraze_connection.api_key = SANDBOX_KEY
    getraze_connection.save()
    response = staff_client.get(test_url, follow=True)
    assert "Test connection: GetRaze accepted the API key." in response.content.decode()
    getraze_connection.refresh_from_db()
    assert getraze_connection.is_paused  # a test only reports; the new key and a resume unpause it


# The worker closes old database connections between tasks; on PostgreSQL that would close
# the connection holding a test transaction, so this test commits for real.
@pytest.mark.django_db(transaction=True)
def test_the_push_action_leads_to_a_progress_page_whose_counts_follow_the_worker(
    staff_client, getraze_connection, sandbox, django_capture_on_commit_callbacks
):
    Connection.objects.filter(pk=getraze_connection.pk).update(auto_push=False)
    contacts = [
        Contact.objects.create(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(3)
    ]
    data = {
        "action": "push_to_provider",
        helpers.ACTION_CHECKBOX_NAME: [c.pk for c in contacts],
        "apply": "1",
        "connections": [getraze_connection.pk],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(CONTACTS, data)
    assert response.status_code == 302
    progress_url = response["Location"]
    page = staff_client.get(progress_url)
    assert page.status_code == 200
    assert 'data-count="queued">3<' in page.content.decode()
    before = staff_client.get(progress_url, {"format": "json"}).json()
    assert (before["queued"], before["done"], before["failed"]) == (3, 0, 0)

    sandbox.faults(fail_next=1, error_status=400)
    drain()
    after = staff_client.get(progress_url, {"format": "json"}).json()
    assert (after["queued"], after["done"], after["failed"]) == (0, 2, 1)
    assert "Injected failure" in after["failures"][0]["error"]


def test_an_unknown_progress_token_is_a_404(staff_client):
    response = staff_client.get(reverse("admin:crm_contact_push_progress", args=["nope"]))
    assert response.status_code == 404


@pytest.mark.parametrize("provider", ["getraze", "contactship", "klen", "close"])
def test_check_makes_one_authenticated_get_each_provider_accepts_and_refuses_a_wrong_key(
    sandbox_server, provider
):
    from integrations.providers import ProviderError, adapter_class
    from tests.integrations_providers import provider_sandbox

    box = provider_sandbox(sandbox_server, provider)
    adapter_class(provider)(base_url=box.base_url, api_key=SANDBOX_KEY).check()
    assert [r["method"] for r in box.requests()] == ["GET"]
    with pytest.raises(ProviderError) as refused:
        adapter_class(provider)(base_url=box.base_url, api_key="wrong-key-0000000000").check()
    assert refused.value.auth
