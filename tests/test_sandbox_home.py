"""The sandbox's home page, and its records kept across a restart when a state file is set."""

import pytest
import requests

from crm.services import contact_upsert
from integrations.models import Connection, RemoteLink
from integrations.sandbox import start_in_thread
from tests.integrations_helpers import SANDBOX_KEY, drain
from tests.integrations_providers import API_ROOTS

pytestmark = pytest.mark.django_db(transaction=True)  # the worker (drain) closes its connection

KEYS = {SANDBOX_KEY: ["contacts:read", "contacts:write"]}
OPTIONS = {"klen": {"team_id": 1}}


@pytest.fixture
def serve():
    servers = []

    def start(**options):
        server = start_in_thread(api_keys=KEYS, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def stop(server):
    server.shutdown()
    server.server_close()


def connect_all(server):
    for provider, root in API_ROOTS.items():
        connection = Connection(
            name=f"{provider} sandbox",
            provider=provider,
            base_url=server.url + root,
            rate_limit=0,
            options=OPTIONS.get(provider, {}),
        )
        connection.api_key = SANDBOX_KEY
        connection.save()


def jane(**data):
    # With a phone: Contactship requires one.
    return contact_upsert(
        data={"first_name": "Jane", "email": "jane@example.com", **data},
        phone_numbers=[{"number": "+14155550100"}],
    )


def test_the_home_page_lists_the_four_providers_with_what_each_received(serve):
    server = serve()
    connect_all(server)
    jane(company="Acme")
    drain()

    page = requests.get(server.url + "/", timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    for provider, label in [
        ("getraze", "GetRaze"),
        ("contactship", "Contactship"),
        ("klen", "Klen AI"),
        ("close", "Close"),
    ]:
        section = html[html.index(f'id="provider-{provider}"') :]
        section = section[: section.index("</section>")]
        assert f"<h2>{label}</h2>" in section
        assert server.url + API_ROOTS[provider] in section
        assert f'href="/__sandbox__/{provider}/requests"' in section
        assert f'href="/__sandbox__/{provider}/contacts"' in section
        assert '<strong data-count="contacts">1 contact' in section, provider
        assert "jane@example.com" in section  # what it received and holds
    assert "memory only" in html


def test_a_restart_with_a_state_file_keeps_every_providers_records(serve, tmp_path):
    state = tmp_path / "sandbox.json"
    server = serve(state_path=state)
    connect_all(server)
    contact = jane()
    drain()
    remote_ids = dict(RemoteLink.objects.values_list("connection__provider", "remote_id"))
    assert len(remote_ids) == 4 and all(remote_ids.values())
    stop(server)

    # The same port again, as a second `make run` has it.
    again = serve(port=server.server_address[1], state_path=state)
    for provider in API_ROOTS:
        held = requests.get(f"{again.url}/__sandbox__/{provider}/contacts", timeout=5).json()
        assert len(held) == 1, provider
    assert "jane@example.com" in requests.get(again.url + "/", timeout=5).text

    # The links still point at records that exist: an update finds them and stays linked.
    contact_upsert(contact=contact, data={"last_name": "Smith"})
    drain()
    links = RemoteLink.objects.select_related("connection")
    assert {link.connection.provider: link.state for link in links} == dict.fromkeys(
        API_ROOTS, "synced"
    )
    assert dict(links.values_list("connection__provider", "remote_id")) == remote_ids


def test_without_a_state_file_nothing_is_written(serve, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server = serve()
    connect_all(server)
    jane()
    drain()
    assert server.state_path is None
    assert list(tmp_path.iterdir()) == []
