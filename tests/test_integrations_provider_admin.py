"""Admin, four providers: push one contact to all four sandbox connections and see four remote
IDs; preview the exact payloads without sending; list a Close account's fields."""

import json

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from crm.models import Contact, CustomField
from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
from integrations.push import link_push
from tests.integrations_helpers import SANDBOX_KEY, drain
from tests.integrations_providers import API_ROOTS, provider_sandbox

OPTIONS = {"klen": {"team_id": 1}, "close": {"custom_field_map": {"tags": "cf_sandboxTags"}}}


@pytest.fixture
def boxes(sandbox_server):
    return {provider: provider_sandbox(sandbox_server, provider) for provider in API_ROOTS}


@pytest.fixture
def sandbox_connections(db, boxes) -> dict[str, Connection]:
    made = {}
    for provider, box in boxes.items():
        connection = Connection(
            name=f"{provider} sandbox",
            provider=provider,
            base_url=box.base_url,
            options=OPTIONS.get(provider, {}),
            rate_limit=0,
            auto_push=False,
        )
        connection.api_key = SANDBOX_KEY
        connection.save()
        made[provider] = connection
    return made


def ada() -> Contact:
    return contact_upsert(
        data={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
        phone_numbers=[{"number": "+14155552671"}],
        tags=["vip"],
    )


@pytest.mark.django_db(transaction=True)
def test_staff_push_one_contact_to_all_four_and_see_four_remote_ids(
    staff_client, sandbox_connections, boxes
):
    contact = ada()
    data = {
        "action": "push_to_provider",
        helpers.ACTION_CHECKBOX_NAME: [contact.pk],
        "apply": "1",
        "connections": [c.pk for c in sandbox_connections.values()],
    }
    assert staff_client.post(reverse("admin:crm_contact_changelist"), data).status_code == 302

    drain()

    links = RemoteLink.objects.filter(contact=contact)
    assert sorted(links.values_list("state", flat=True)) == ["synced"] * 4
    html = staff_client.get(reverse("admin:crm_contact_change", args=[contact.pk])).content
    for provider, box in boxes.items():
        [record] = box.contacts()
        link = links.get(connection=sandbox_connections[provider])
        assert link.remote_id == str(record["id"])
        assert link.remote_id in html.decode()


def preview_url(contact) -> str:
    return reverse("admin:crm_contact_preview_payload", args=[contact.pk])


def test_the_contact_page_links_to_the_preview(staff_client, sandbox_connections):
    contact = ada()
    html = staff_client.get(reverse("admin:crm_contact_change", args=[contact.pk])).content
    assert preview_url(contact) in html.decode()


def test_preview_shows_each_connections_requests_masked_and_sends_nothing(
    staff_client, sandbox_connections, boxes
):
    contact = ada()
    response = staff_client.get(preview_url(contact))

    assert response.status_code == 200
    previews = {p.connection.provider: p for p in response.context["previews"]}
    assert {p: previews[p].operation for p in previews} == dict.fromkeys(API_ROOTS, "create")
    writes = {p: previews[p].requests[-1] for p in previews}
    assert {p: (w["method"], w["url"]) for p, w in writes.items()} == {
        p: ("POST", boxes[p].base_url + path)
        for p, path in {
            "getraze": "/contacts",
            "contactship": "/v1/contacts",
            "klen": "/contacts/create",
            "close": "/contact/",
        }.items()
    }
    assert json.loads(writes["contactship"]["body"])["full_name"] == "Ada Lovelace"
    assert json.loads(writes["klen"]["body"])["team_id"] == 1
    assert json.loads(writes["close"]["body"])["custom.cf_sandboxTags"] == ["vip"]
    assert writes["close"]["headers"]["Authorization"] == "Basic ••••6789"
    assert writes["klen"]["headers"]["Authorization"] == "Bearer ••••6789"
    html = response.content.decode()
    assert SANDBOX_KEY not in html and "••••6789" in html
    assert all(box.requests() == [] for box in boxes.values())


def test_preview_of_a_synced_contact_is_an_update_that_would_send_nothing(
    staff_client, sandbox_connections, boxes
):
    contact = ada()
    link = RemoteLink.objects.create(contact=contact, connection=sandbox_connections["klen"])
    link_push(link_id=link.pk)
    link.refresh_from_db()
    sent = len(boxes["klen"].requests())

    [preview] = [
        p
        for p in staff_client.get(preview_url(contact)).context["previews"]
        if p.connection.provider == "klen"
    ]
    assert (preview.operation, preview.unchanged) == ("update", True)
    assert [(r["method"], r["url"]) for r in preview.requests] == [
        ("PATCH", f"{boxes['klen'].base_url}/contacts/{link.remote_id}/update")
    ]
    assert len(boxes["klen"].requests()) == sent


def test_preview_says_why_contactship_would_skip(staff_client, sandbox_connections):
    contact = contact_upsert(data={"first_name": "Ana", "email": "ana@example.com"})
    html = staff_client.get(preview_url(contact)).content.decode()
    assert "Not sent: Contactship requires a phone number" in html


def close_fields_url(connection) -> str:
    return reverse("admin:integrations_connection_close_fields", args=[connection.pk])


def test_only_a_close_connection_offers_fetch_fields(staff_client, sandbox_connections):
    for provider, connection in sandbox_connections.items():
        url = reverse("admin:integrations_connection_change", args=[connection.pk])
        html = staff_client.get(url).content.decode()
        assert (close_fields_url(connection) in html) == (provider == "close")
    assert staff_client.get(close_fields_url(sandbox_connections["klen"])).status_code == 404


def test_fetch_fields_lists_close_ids_keeps_them_and_suggests_a_mapping(
    staff_client, sandbox_connections
):
    CustomField.objects.create(key="industry", label="Industry", type="text")
    CustomField.objects.create(key="seats", label="Seats", type="number")

    response = staff_client.get(close_fields_url(sandbox_connections["close"]))

    assert response.status_code == 200
    assert [f["id"] for f in response.context["fields"]] == [
        "cf_sandboxIndustry",
        "cf_sandboxDealSize",
        "cf_sandboxLastMeeting",
        "cf_sandboxTags",
    ]
    assert response.context["suggestion"] == [
        "custom.cf_sandboxTags=field:tags",
        "custom.cf_sandboxIndustry=cf:industry",
    ]
    assert "cf_sandboxLastMeeting" in response.content.decode()
    # Kept on the connection, with each field's type and choices: the mapping's targets and
    # what each push checks its values against.
    close = Connection.objects.get(pk=sandbox_connections["close"].pk)
    assert close.provider_fields[0]["id"] == "cf_sandboxIndustry"
    assert close.provider_fields[0]["type"] == "choices"
    assert "Software" in close.provider_fields[0]["choices"]
    assert close.provider_fields_fetched_at is not None


def test_fetch_fields_shows_closes_refusal(staff_client, sandbox_connections):
    close = sandbox_connections["close"]
    close.api_key = "api_wrong_key_0000000000"
    close.save()
    html = staff_client.get(close_fields_url(close)).content.decode()
    assert "Close answered: The API key is missing or invalid." in html


def test_the_connection_page_lists_what_the_engine_remembers_apart_from_the_options(
    staff_client, sandbox_connections
):
    close = sandbox_connections["close"]
    close.remote_references.create(kind="lead", key="acme", remote_id="lead_acme123")
    url = reverse("admin:integrations_connection_change", args=[close.pk])
    response = staff_client.get(url)
    html = response.content.decode()
    assert "<li>lead acme: lead_acme123</li>" in html
    assert "lead_acme123" not in str(response.context["adminform"].form["options"].value())


def test_the_connection_page_says_what_delete_reaches_at_each_provider(
    staff_client, sandbox_connections
):
    pages = {
        provider: staff_client.get(
            reverse("admin:integrations_connection_change", args=[connection.pk])
        ).content.decode()
        for provider, connection in sandbox_connections.items()
    }
    assert all('name="on_delete"' in html for html in pages.values())
    assert "DELETE /contacts/{id}" in pages["getraze"]
    assert "contacts:delete permission" in pages["getraze"]
    assert "DELETE /v1/contacts/{id}" in pages["contactship"]
    assert "DELETE /contact/{id}/" in pages["close"]
    assert "Klen AI documents no delete endpoint" in pages["klen"]
    assert staff_client.get(reverse("admin:integrations_connection_add")).status_code == 200


def test_staff_set_a_connection_to_delete_remote_records(staff_client, sandbox_connections):
    connection = sandbox_connections["close"]
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    form = staff_client.get(url).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None}
    data.update(options=json.dumps(connection.options), on_delete="delete", api_key="")
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    assert connection.on_delete == "delete"
