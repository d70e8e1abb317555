"""Admin: connections with a write-only key, links, attempts, and the contact admin's sync parts."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from crm.models import Contact, Tag
from crm.services import contact_upsert
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.push import link_push
from tests.integrations_helpers import SANDBOX_KEY, drain

CONTACTS = reverse("admin:crm_contact_changelist")
SECRET = "lr_live_admin_secret_abcd1234"


def connection_form(**overrides):
    data = {
        "name": "GetRaze main",
        "provider": "getraze",
        "base_url": "",
        "api_key": SECRET,
        "enabled": "on",
        "auto_push": "on",
        "options": '{"source": "relay"}',
        "concurrency": "2",
        "rate_limit": "0.25",
    }
    data.update(overrides)
    return data


def test_adding_a_connection_encrypts_the_key_and_never_shows_it(staff_client):
    response = staff_client.post(reverse("admin:integrations_connection_add"), connection_form())
    assert response.status_code == 302
    connection = Connection.objects.get()
    assert connection.base_url == "https://app.getraze.com/external/v1"
    assert connection.options == {"source": "relay"}
    assert connection.api_key == SECRET
    assert SECRET not in connection.api_key_encrypted

    for url in (
        reverse("admin:integrations_connection_changelist"),
        reverse("admin:integrations_connection_change", args=[connection.pk]),
    ):
        html = staff_client.get(url).content.decode()
        assert SECRET not in html
        assert "••••1234" in html


def test_an_empty_key_on_change_keeps_the_stored_key(staff_client):
    staff_client.post(reverse("admin:integrations_connection_add"), connection_form())
    connection = Connection.objects.get()
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    response = staff_client.post(url, connection_form(api_key="", name="Renamed"))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert (connection.name, connection.api_key) == ("Renamed", SECRET)


def test_a_new_connection_needs_a_key(staff_client):
    response = staff_client.post(
        reverse("admin:integrations_connection_add"), connection_form(api_key="")
    )
    assert response.status_code == 200
    assert "Enter the provider" in response.content.decode()


def test_a_paused_connection_is_flagged_and_a_new_key_resumes_it(staff_client, jane_synced_paused):
    connection = jane_synced_paused
    changelist = staff_client.get(reverse("admin:integrations_connection_changelist"))
    assert "Paused" in changelist.content.decode()
    assert "INVALID_API_KEY" in changelist.content.decode()

    DBTaskResult.objects.all().delete()
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    form = connection_form(
        name=connection.name, base_url=connection.base_url, api_key=SANDBOX_KEY, rate_limit="0"
    )
    response = staff_client.post(url, form)
    assert response.status_code == 302
    connection.refresh_from_db()
    assert not connection.is_paused
    assert DBTaskResult.objects.count() == 1


@pytest.fixture
def jane_synced_paused(getraze_connection, sandbox):
    contact = contact_upsert(data={"first_name": "Jane", "email": "jane@example.com"})
    getraze_connection.api_key = "wrong-key-000000000"
    getraze_connection.save()
    link_push(link_id=RemoteLink.objects.get(contact=contact).pk)
    getraze_connection.refresh_from_db()
    assert getraze_connection.is_paused
    return getraze_connection


def test_every_integrations_admin_page_renders(staff_client, getraze_connection, sandbox):
    contact = contact_upsert(data={"first_name": "Jane", "email": "jane@example.com"})
    link = RemoteLink.objects.get(contact=contact)
    link_push(link_id=link.pk)
    attempt = PushAttempt.objects.first()
    for name, args in [
        ("integrations_connection_changelist", []),
        ("integrations_connection_add", []),
        ("integrations_connection_change", [getraze_connection.pk]),
        ("integrations_remotelink_changelist", []),
        ("integrations_remotelink_change", [link.pk]),
        ("integrations_pushattempt_changelist", []),
        ("integrations_pushattempt_change", [attempt.pk]),
    ]:
        response = staff_client.get(reverse(f"admin:{name}", args=args))
        assert response.status_code == 200, name
        assert SANDBOX_KEY not in response.content.decode()
    response = staff_client.get(
        reverse("admin:integrations_remotelink_changelist"),
        {"q": "jane", "state__exact": "synced", "connection__id__exact": getraze_connection.pk},
    )
    assert "jane@example.com" in response.content.decode()
    # The push attempts name the contact and the connection, not the link's ids.
    attempts = staff_client.get(reverse("admin:integrations_pushattempt_changelist"))
    assert f"Jane \u2192 {getraze_connection.name}" in attempts.content.decode()


def test_the_contact_page_shows_its_links_read_only_with_badges(
    staff_client, getraze_connection, sandbox
):
    contact = contact_upsert(data={"first_name": "Jane", "email": "jane@example.com"})
    link_push(link_id=RemoteLink.objects.get(contact=contact).pk)
    link = RemoteLink.objects.get(contact=contact)

    response = staff_client.get(reverse("admin:crm_contact_change", args=[contact.pk]))
    html = response.content.decode()
    assert "Provider links" in html
    assert link.remote_id in html
    assert ">Synced</span>" in html
    assert 'name="remote_links-0-remote_id"' not in html  # read-only


def test_the_contact_page_shows_a_next_attempt_and_failed_tries_only_where_they_matter(
    staff_client, getraze_connection, sandbox
):
    import re
    from datetime import timedelta

    from django.utils import timezone

    contact = contact_upsert(data={"first_name": "Jane", "email": "jane@example.com"})
    link_push(link_id=RemoteLink.objects.get(contact=contact).pk)
    past = timezone.now() - timedelta(days=3)
    RemoteLink.objects.filter(contact=contact).update(next_attempt_at=past, attempts=0)

    def cells():
        html = staff_client.get(reverse("admin:crm_contact_change", args=[contact.pk]))
        html = html.content.decode()
        found = {}
        for name in ("next_attempt", "failed_tries"):
            cell = re.search(rf'<td class="field-{name}">\s*<p>(.*?)</p>', html, re.S)
            found[name] = cell.group(1).strip()
        return found

    # Synced: no past "next attempt", no "0" tries.
    assert cells() == {"next_attempt": "-", "failed_tries": "-"}

    soon = timezone.now() + timedelta(minutes=5)
    RemoteLink.objects.filter(contact=contact).update(
        state="pending", next_attempt_at=soon, attempts=2
    )
    shown = cells()
    assert shown["failed_tries"] == "2"
    assert str(soon.year) in shown["next_attempt"]  # a date, as the admin shows one

    # Failed for good: its tries stay, but nothing is coming.
    RemoteLink.objects.filter(contact=contact).update(state="failed")
    assert cells() == {"next_attempt": "-", "failed_tries": "2"}


def test_the_contact_page_puts_the_phone_numbers_before_the_record_timestamps(staff_client):
    contact = contact_upsert(data={"first_name": "Jane", "email": "jane@example.com"})
    html = staff_client.get(reverse("admin:crm_contact_change", args=[contact.pk]))
    html = html.content.decode()
    assert html.index('id="phone_numbers-group"') < html.index(">Record</h2>")


def test_the_contact_list_filters_by_sync_state_per_connection(
    staff_client, getraze_connection, sandbox
):
    synced = contact_upsert(data={"first_name": "Synced", "email": "s@example.com"})
    link_push(link_id=RemoteLink.objects.get(contact=synced).pk)
    contact_upsert(data={"first_name": "Waiting", "email": "w@example.com"})

    def names(value):
        response = staff_client.get(CONTACTS, {"sync": value})
        return {c.first_name for c in response.context["cl"].result_list}

    assert names(f"{getraze_connection.pk}:synced") == {"Synced"}
    assert names(f"{getraze_connection.pk}:pending") == {"Waiting"}
    RemoteLink.objects.filter(contact__first_name="Waiting").delete()
    assert names(f"{getraze_connection.pk}:none") == {"Waiting"}


@pytest.mark.django_db(transaction=True)  # a push is queued once per transaction: commit
def test_retry_action_queues_the_selected_links(staff_client, getraze_connection, sandbox):
    contact = contact_upsert(data={"first_name": "Jane", "email": "admin@localhost"})
    link = RemoteLink.objects.get(contact=contact)
    link_push(link_id=link.pk)
    link.refresh_from_db()
    assert link.state == "failed"
    DBTaskResult.objects.all().delete()

    response = staff_client.post(
        reverse("admin:integrations_remotelink_changelist"),
        {"action": "retry", helpers.ACTION_CHECKBOX_NAME: [link.pk]},
    )
    assert response.status_code == 302
    link.refresh_from_db()
    assert (link.state, link.last_error) == ("pending", None)
    assert DBTaskResult.objects.count() == 1


def push_action(client, contacts, **extra):
    data = {"action": "push_to_provider", helpers.ACTION_CHECKBOX_NAME: [c.pk for c in contacts]}
    data.update(extra)
    return client.post(CONTACTS, data)


def test_push_action_page_lists_connections_and_the_count(
    staff_client, getraze_connection, sandbox
):
    Connection.objects.create(name="Switched off", provider="getraze", enabled=False)
    contacts = [
        Contact.objects.create(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(3)
    ]
    response = push_action(staff_client, contacts)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/integrations/push_to_provider.html"
    html = response.content.decode()
    assert '<strong id="push-count">3</strong>' in html
    assert getraze_connection.name in html and "Switched off" not in html


def test_push_action_requires_a_connection(staff_client, getraze_connection, sandbox):
    contact = Contact.objects.create(first_name="C", email="c@example.com")
    response = push_action(staff_client, [contact], apply="1")
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not RemoteLink.objects.exists()


def test_push_action_queues_the_selection_in_bulk(
    staff_client, getraze_connection, sandbox, django_assert_max_num_queries
):
    Connection.objects.filter(pk=getraze_connection.pk).update(auto_push=False)
    contacts = Contact.objects.bulk_create(
        [Contact(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(500)]
    )
    with django_assert_max_num_queries(25):
        response = push_action(
            staff_client, contacts, apply="1", connections=[getraze_connection.pk]
        )
    assert response.status_code == 302
    assert RemoteLink.objects.filter(state="pending").count() == 500


def test_push_action_selects_across_the_filtered_list(staff_client, getraze_connection, sandbox):
    Connection.objects.filter(pk=getraze_connection.pk).update(auto_push=False)
    Contact.objects.bulk_create(
        [Contact(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(150)]
    )
    response = push_action(
        staff_client,
        Contact.objects.all()[:1],
        select_across="1",
        apply="1",
        connections=[getraze_connection.pk],
    )
    assert response.status_code == 302
    assert RemoteLink.objects.count() == 150


@pytest.mark.django_db(transaction=True)
def test_ten_thousand_contacts_queue_in_a_few_queries_per_thousand(
    getraze_connection, sandbox, django_assert_max_num_queries
):
    # Speed is measured in bench/; here, that the work is done in bulk, never per contact.
    from integrations.links import links_mark_pending

    Contact.objects.bulk_create(
        [Contact(first_name=f"C{n}", email=f"c{n}@example.com") for n in range(10_000)]
    )
    from integrations.queue import BATCH

    # One upsert per thousand contacts, and one row per task of BATCH links: the tasks
    # framework's enqueue() writes a task at a time.
    with django_assert_max_num_queries(10 + 10_000 // BATCH + 5):
        links_mark_pending(contacts=Contact.objects.all(), connections=[getraze_connection])
    assert RemoteLink.objects.filter(state="pending").count() == 10_000
    # Every link queued once, by batches.
    tasks = DBTaskResult.objects.filter(status="READY").values_list("args_kwargs", flat=True)
    queued = [pk for arguments in tasks for pk in arguments["kwargs"]["link_ids"]]
    assert sorted(queued) == sorted(RemoteLink.objects.values_list("pk", flat=True))
    assert len(tasks) == 10_000 // BATCH


@pytest.mark.django_db(transaction=True)
def test_an_admin_save_with_inlines_pushes_the_final_state(
    staff_client, getraze_connection, sandbox
):
    tag = Tag.objects.create(name="vip")
    data = {
        "first_name": "Jane",
        "last_name": "Smith",
        "email": "jane@company.com",
        "source": "other",
        "status": "not_contacted",
        "stage": "lead",
        "tags": [tag.pk],
        "phone_numbers-TOTAL_FORMS": "1",
        "phone_numbers-INITIAL_FORMS": "0",
        "phone_numbers-MIN_NUM_FORMS": "0",
        "phone_numbers-MAX_NUM_FORMS": "1000",
        "phone_numbers-0-number": "(212) 555-0105",
        "phone_numbers-0-type": "mobile",
    }
    response = staff_client.post(reverse("admin:crm_contact_add"), data)
    assert response.status_code == 302
    assert DBTaskResult.objects.filter(status="READY").count() == 1

    drain()

    [create] = [r for r in sandbox.requests() if r["method"] == "POST"]
    assert create["body"]["phone"] == "+12125550105"
    assert create["body"]["tags"] == ["vip"]
    link = RemoteLink.objects.get()
    assert (link.state, link.remote_id) == ("synced", sandbox.contacts()[0]["id"])


def test_the_connection_page_has_one_key_field_the_pace_and_a_field_per_provider_option(
    staff_client,
):
    staff_client.post(
        reverse("admin:integrations_connection_add"),
        connection_form(
            provider="klen", rate_limit="", concurrency="", options='{"team_id": 2, "extra": "x"}'
        ),
    )
    connection = Connection.objects.get()
    assert connection.concurrency is None  # left empty: as many as the pace needs
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    page = staff_client.get(url)
    html = page.content.decode()

    assert html.count(">API key:<") == 1  # the write-only input, with the stored key's state
    assert "field-masked_key" not in html and "Stored: " in html
    assert "1 requests a second: the limit Klen AI documents." in html
    assert "2 pushes at once (as the pace needs)." in html
    form = page.context["adminform"].form
    assert form["option_team_id"].value() == "2"
    assert form["options"].value() == '{"extra": "x"}'

    data = {**connection_form(provider="klen", rate_limit=""), "api_key": ""}
    data.update({"option_team_id": "7", "options": '{"extra": "y"}'})
    assert staff_client.post(url, data).status_code == 302
    connection.refresh_from_db()
    assert connection.options == {"team_id": 7, "extra": "y"}
    assert connection.api_key == SECRET
