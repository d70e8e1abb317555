"""Webhook connections (issue 19): every change of a contact POSTed to a local receiver over
real HTTP, through the real worker, signed as Standard Webhooks defines; verified here from
the specification, independently of the adapter's code."""

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from crm.deletion import contact_delete
from crm.services import contact_upsert
from integrations.admin.display import connection_status
from integrations.connections import connection_check, connection_upsert
from integrations.models import Connection, PushAttempt, RemoteLink
from tests.api_helpers import detail_url
from tests.integrations_helpers import drain, settle

pytestmark = pytest.mark.django_db(transaction=True)

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def receiver_verify():
    """The receiver docs/integrations.md shows, run as it is written there."""
    text = (Path(settings.BASE_DIR) / "docs" / "integrations.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", text.partition("## Webhooks")[2], re.S)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102  (our own documentation's example)
    return namespace["verify"]


verify = receiver_verify()


class Receiver:
    """A local application receiving webhooks; `answers` are the statuses it gives, in turn,
    then 204."""

    def __init__(self):
        self.deliveries: list[tuple[dict, bytes, str]] = []
        self.answers: list[int] = []
        self.refused: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append((dict(self.headers), body, self.path))
                try:  # at once, as a receiver does (its age too)
                    verify(SECRET, self.headers, body)
                except ValueError as refused:
                    receiver.refused.append(str(refused))
                status = receiver.answers.pop(0) if receiver.answers else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/relay/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(body)["type"] for _, body, _ in self.deliveries]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    assert receiver.refused == []  # every delivery verified as docs/integrations.md does
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def hook(receiver) -> Connection:
    connection, _ = connection_upsert(
        name="crm-listener",
        provider="webhook",
        api_key=SECRET,
        base_url=receiver.url,
        auto_push=True,
        rate_limit=0,
    )
    return connection


def test_created_updated_deleted_are_delivered_once_each_signed_with_the_api_body(
    api_client, receiver, hook, time_machine
):
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    settle(hook, time_machine)
    contact_upsert(contact=contact, data={"first_name": "Ada", "title": "Countess"})
    settle(hook, time_machine)
    contact_upsert(contact=contact, data={"first_name": "Ada", "title": "Countess"})  # no change
    settle(hook, time_machine)
    shown = api_client.get(detail_url(contact.pk)).json()
    contact_delete(contact=contact)
    drain()

    assert receiver.events() == ["contact.created", "contact.updated", "contact.deleted"]
    bodies = [verify(SECRET, headers, body) for headers, body, _ in receiver.deliveries]
    assert {path for _, _, path in receiver.deliveries} == {"/hooks/relay/"}  # URL as given
    shown.pop("remote_links")
    assert bodies[1]["data"] == shown  # the contact as the API shows it
    assert bodies[1]["timestamp"] == shown["updated_at"]
    assert bodies[0]["data"]["title"] == ""
    assert bodies[2]["data"] == {"id": contact.pk}
    ids = [headers["webhook-id"] for headers, _, _ in receiver.deliveries]
    assert len(set(ids)) == 3
    assert all(h["Content-Type"] == "application/json" for h, _, _ in receiver.deliveries)
    link = RemoteLink.objects.get(connection=hook)
    assert (link.state, link.contact_id) == ("deleted", None)  # the default on_delete: keep
    assert hook.on_delete == Connection.OnDelete.KEEP


def test_a_500_is_retried_with_the_same_webhook_id_and_a_wrong_secret_fails_verification(
    receiver, hook, time_machine
):
    receiver.answers = [500, 503]
    contact_upsert(data={"first_name": "Grace"})
    settle(hook, time_machine)

    assert receiver.events() == ["contact.created"] * 3
    ids = {headers["webhook-id"] for headers, _, _ in receiver.deliveries}
    assert len(ids) == 1
    for headers, body, _ in receiver.deliveries:
        verify(SECRET, headers, body)
        with pytest.raises(ValueError, match="bad signature"):
            verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
    link = RemoteLink.objects.get(connection=hook)
    assert link.state == "synced"
    statuses = list(PushAttempt.objects.order_by("pk").values_list("http_status", flat=True))
    assert statuses == [500, 503, 204]


def test_a_410_disables_the_connection_with_the_reason_and_nothing_more_is_sent(
    receiver, hook, time_machine
):
    receiver.answers = [410]
    contact = contact_upsert(data={"first_name": "Alan"})
    drain()
    hook.refresh_from_db()
    assert not hook.enabled
    assert hook.paused_reason == (
        "webhook (410) gone: The receiver answered 410 Gone: it wants no more deliveries."
    )
    link = RemoteLink.objects.get(connection=hook)
    assert (link.state, link.last_error_code) == ("pending", "gone")

    contact_upsert(contact=contact, data={"first_name": "Alan", "title": "Dr"})
    drain()
    assert len(receiver.deliveries) == 1

    # Turned on again (as add_connection --enabled does), the waiting change is delivered.
    call_command("add_connection", "crm-listener", provider="webhook", disabled=False)
    hook.refresh_from_db()
    assert (hook.enabled, hook.paused_reason) == (True, "")
    drain()
    assert receiver.events() == ["contact.created", "contact.created"]
    assert receiver.deliveries[1][0]["webhook-id"] != receiver.deliveries[0][0]["webhook-id"]


def test_add_connection_sets_up_a_webhook_and_refuses_a_bad_url_or_secret(db, capsys):
    call_command(
        "add_connection",
        "listener",
        provider="webhook",
        base_url="https://example.com/hooks/",
        api_key=SECRET,
    )
    assert "Webhook at https://example.com/hooks/" in capsys.readouterr().out
    with pytest.raises(CommandError, match="HTTPS URL"):
        call_command(
            "add_connection",
            "plain",
            provider="webhook",
            base_url="http://example.com/h",
            api_key=SECRET,
        )
    with pytest.raises(CommandError, match="HTTPS URL"):
        call_command("add_connection", "nourl", provider="webhook", api_key=SECRET)
    with pytest.raises(CommandError, match="whsec_"):
        call_command(
            "add_connection",
            "badkey",
            provider="webhook",
            base_url="https://example.com/h",
            api_key="not-a-secret",
        )
    assert list(Connection.objects.values_list("name", flat=True)) == ["listener"]


def test_a_404_pauses_the_connection_rather_than_delivering_contact_created_again(
    receiver, hook, time_machine
):
    contact = contact_upsert(data={"first_name": "Edsger"})
    settle(hook, time_machine)
    receiver.answers = [404]
    contact_upsert(contact=contact, data={"first_name": "Edsger", "title": "Prof"})
    drain()
    hook.refresh_from_db()
    assert hook.is_paused and "404" in hook.paused_reason
    assert receiver.events() == ["contact.created", "contact.updated"]


def test_test_connection_sends_a_signed_webhook_test(receiver, hook):
    ok, _ = connection_check(connection=hook)
    assert ok
    [(headers, body, _)] = receiver.deliveries
    assert verify(SECRET, headers, body)["type"] == "webhook.test"


def test_staff_cannot_save_a_webhook_without_an_https_url_or_a_whsec_secret(
    staff_client, receiver, hook
):
    url = reverse("admin:integrations_connection_change", args=[hook.pk])
    page = staff_client.get(url)
    assert "A contact.deleted delivery for every deleted contact" in page.content.decode()
    form = page.context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None}
    data.update(options="{}", api_key="", base_url="http://example.com/hook")
    response = staff_client.post(url, data)
    assert "HTTPS URL" in str(response.context["adminform"].form.errors)
    data.update(base_url="https://example.com/hook", api_key="plain-key")
    response = staff_client.post(url, data)
    assert "whsec_" in str(response.context["adminform"].form.errors)
    data.update(api_key="")
    assert staff_client.post(url, data).status_code == 302
    hook.refresh_from_db()
    assert hook.base_url == "https://example.com/hook"


def test_the_status_of_a_connection_disabled_by_a_410_says_why(receiver, hook):
    receiver.answers = [410]
    contact_upsert(data={"first_name": "Barbara"})
    drain()
    hook.refresh_from_db()
    assert "410 Gone" in connection_status(hook)


def test_a_bulk_push_to_an_audience_delivers_each_contact_in_it_once(receiver, time_machine):
    connection, _ = connection_upsert(
        name="vip-listener",
        provider="webhook",
        api_key=SECRET,
        base_url=receiver.url,
        auto_push=False,
        rate_limit=0,
        audience="tag=vip",
    )
    vips = [contact_upsert(data={"first_name": f"V{n}"}, tags=["vip"]) for n in range(3)]
    contact_upsert(data={"first_name": "Other"})
    call_command("push_contacts", "--all", connection=["vip-listener"], stdout=None)
    settle(connection, time_machine)
    call_command("push_contacts", "--all", connection=["vip-listener"], stdout=None)
    settle(connection, time_machine)  # nothing changed: nothing sent again

    delivered = sorted(json.loads(body)["data"]["id"] for _, body, _ in receiver.deliveries)
    assert delivered == sorted(contact.pk for contact in vips)
    assert set(receiver.events()) == {"contact.created"}


def test_the_payload_preview_shows_the_signed_delivery_and_sends_nothing(
    staff_client, receiver, hook
):
    hook.auto_push = False
    hook.save()
    contact = contact_upsert(data={"first_name": "Katherine", "email": "kj@example.com"})
    url = reverse("admin:crm_contact_preview_payload", args=[contact.pk])
    html = staff_client.get(url).content.decode()
    assert "contact.created" in html and "kj@example.com" in html
    assert "webhook-signature" in html and SECRET not in html
    assert receiver.deliveries == []
