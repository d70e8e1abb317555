"""What the adapter base does for every provider, over real HTTP against the sandbox: the
registry built from the adapter classes, empty values left out of a create, tags in a stable
order, ids quoted in paths, an answer without an id, a body that is not an object, the
paginated exact-match lookup, and what the error flags mean."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from crm.services import contact_upsert
from integrations.models import Connection
from integrations.providers import (
    ADAPTERS,
    Adapter,
    OptionField,
    adapter_class,
    default_base_url,
    provider_choices,
)
from integrations.providers import base as adapter_base
from integrations.providers.close import CloseAdapter
from integrations.providers.getraze import GetRazeAdapter
from integrations.providers.klen import KlenAdapter
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import expect_error, provider_sandbox

PROVIDERS = ["getraze", "contactship", "klen", "close"]


def make(box, **options) -> Adapter:
    return adapter_class(box.provider)(base_url=box.base_url, api_key=SANDBOX_KEY, options=options)


@pytest.fixture
def ann(db):
    return contact_upsert(
        data={"first_name": "Ann", "email": "ann@example.com"},
        phone_numbers=[{"number": "+1 212 555 0101", "type": "mobile"}],
        tags=["vip", "tech", "partner", "hot-lead"],  # Close's sandbox knows these
    )


# --- the registry ---------------------------------------------------------------------------


def test_the_choices_come_from_the_adapter_classes_with_the_stored_values_and_labels():
    expected = [
        ("getraze", "GetRaze"),
        ("contactship", "Contactship"),
        ("klen", "Klen AI"),
        ("close", "Close"),
        ("webhook", "Webhook"),
    ]
    assert provider_choices() == expected
    assert [(a.provider, a.label) for a in ADAPTERS] == expected
    assert list(Connection.provider.field.choices) == expected


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_each_adapter_declares_what_the_registry_and_the_admin_need(adapter):
    assert adapter_class(adapter.provider) is adapter
    # A webhook's URL is the receiver's own, and its secret signs bodies rather than travels.
    assert adapter.default_base_url.startswith("https://") or adapter.provider == "webhook"
    assert adapter.auth_scheme.headers("k")
    assert all(isinstance(option, OptionField) for option in adapter.option_fields)


def test_an_unknown_provider_has_no_adapter_and_no_default_url():
    with pytest.raises(ValueError, match="No adapter for provider 'nope'"):
        adapter_class("nope")
    assert default_base_url("nope") == ""


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_connection_without_a_base_url_gets_the_class_default(db, adapter):
    connection = Connection(name=adapter.provider, provider=adapter.provider)
    connection.api_key = SANDBOX_KEY
    connection.save()
    assert connection.base_url == adapter.default_base_url


def test_add_connection_offers_the_registered_providers(db, capsys):
    call_command("add_connection", "klen", provider="klen", api_key=SANDBOX_KEY)
    assert "Klen AI at https://api.klen.ai/api/v1" in capsys.readouterr().out
    with pytest.raises(CommandError, match="invalid choice: 'nope'"):
        call_command("add_connection", "other", provider="nope", api_key=SANDBOX_KEY)


def test_a_connection_keeps_its_own_base_url_without_the_trailing_slash(db):
    connection = Connection(name="proxy", provider="klen", base_url="https://proxy.test/klen/")
    connection.api_key = SANDBOX_KEY
    connection.save()
    assert connection.base_url == "https://proxy.test/klen"


# --- the chores -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_create_leaves_empty_values_out_and_an_update_sends_them_as_null(
    sandbox_server, provider, ann
):
    box = provider_sandbox(sandbox_server, provider)
    adapter = make(box)
    payload = adapter.build_payload(ann)
    empty = {key for key, value in payload.items() if value is None}
    assert empty  # every provider has a field Ann leaves empty

    remote_id = adapter.create(payload, context=adapter.build_context(ann))
    created = box.requests()[-1]["body"]
    assert created == {key: value for key, value in payload.items() if value is not None}

    adapter.update(remote_id, payload)
    updated = box.requests()[-1]["body"]
    assert {key for key, value in updated.items() if value is None} == empty


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tags_go_out_in_case_insensitive_order(sandbox_server, provider, ann):
    box = provider_sandbox(sandbox_server, provider)
    adapter = make(box, custom_field_map={"tags": "cf_sandboxTags"})

    adapter.create(adapter.build_payload(ann), context=adapter.build_context(ann))

    body = box.requests()[-1]["body"]
    sent = {
        "getraze": lambda: body["tags"],
        "klen": lambda: body["tags"],
        "close": lambda: body["custom.cf_sandboxTags"],
        "contactship": lambda: [
            item["value"] for item in body["additional_data"] if item["field"] == "tags"
        ],
    }[provider]()
    assert sent in (["hot-lead", "partner", "tech", "vip"], ["hot-lead, partner, tech, vip"])


def test_tag_names_ignore_case_when_sorting(db):
    contact = contact_upsert(data={"first_name": "T"}, tags=["beta", "Alpha", "gamma", "ALPHA2"])
    assert Adapter.tag_names(contact) == ["Alpha", "ALPHA2", "beta", "gamma"]


def test_ids_are_quoted_whole_in_paths(sandbox_server):
    box = provider_sandbox(sandbox_server, "contactship")
    assert Adapter.path("/contacts/{}/update", "a/b+c d") == "/contacts/a%2Fb%2Bc%20d/update"

    error = expect_error(lambda: make(box).update("a/b+c", {"full_name": "X"}))

    # One id the server reads whole (and refuses: not a UUID), not a longer path.
    assert (error.status, error.message) == (400, "Validation failed (uuid is expected)")
    assert box.requests()[-1]["path"] == "/v1/contacts/a%2Fb%2Bc"


def test_an_answer_without_the_id_is_an_ambiguous_invalid_response(sandbox):
    adapter = GetRazeAdapter(base_url=sandbox.base_url, api_key=SANDBOX_KEY)
    answer = adapter.request(
        "create", "POST", "/contacts", json_body={"name": "A", "email": "a@b.co"}
    )
    assert adapter.answer_id(answer, "data.id") == sandbox.contacts()[0]["id"]

    error = expect_error(lambda: adapter.answer_id(answer, "id", "contact.id"))

    assert (error.code, error.status, error.ambiguous) == ("invalid_response", answer.status, True)
    assert error.message == "The answer has no id or contact.id."


def test_a_body_that_is_not_an_object_reads_as_nothing_found(sandbox):
    # The sandbox's control API answers a JSON list where a provider answers an object.
    control = f"{sandbox.url}/__sandbox__/getraze"
    GetRazeAdapter(base_url=sandbox.base_url, api_key=SANDBOX_KEY).create(
        {"name": "A", "email": "a@example.com"}
    )
    getraze = GetRazeAdapter(base_url=control, api_key=SANDBOX_KEY)
    klen = KlenAdapter(base_url=control, api_key=SANDBOX_KEY)

    answer = getraze.request("lookup", "GET", "/contacts")
    assert isinstance(answer.body, list) and answer.json_object == {}
    assert getraze.lookup({"email": "a@example.com", "phone": None}) is None
    assert klen.lookup({"email": "a@example.com"}) is None
    error = expect_error(lambda: getraze.answer_id(answer, "data.id"))
    assert error.code == "invalid_response"


@pytest.fixture
def text_server():
    """A local server answering every request 200 with a plain-text body (an edge page)."""

    class Text(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>maintenance</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_PUT = do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Text)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_a_success_without_a_json_body_is_an_ambiguous_invalid_response(text_server, method):
    adapter = GetRazeAdapter(base_url=text_server, api_key=SANDBOX_KEY)
    error = expect_error(lambda: adapter.request("update", method, "/contacts/1"))
    assert (error.status, error.code, error.ambiguous) == (200, "invalid_response", True)


def test_a_delete_answered_204_without_a_body_succeeds(sandbox_server, ann):
    box = provider_sandbox(sandbox_server, "contactship")
    adapter = make(box)
    path = adapter.path("/v1/contacts/{}", adapter.create(adapter.build_payload(ann)))
    assert adapter.request("delete", "DELETE", path).status == 204


# --- the paginated exact-match lookup --------------------------------------------------------


@pytest.fixture
def crowded(sandbox):
    """105 contacts whose email contains x@example.com, then the one that is exactly it."""
    adapter = GetRazeAdapter(base_url=sandbox.base_url, api_key=SANDBOX_KEY)
    for n in range(105):
        adapter.create({"name": f"N{n}", "email": f"{n}x@example.com"})
    wanted = adapter.create({"name": "Last", "email": "x@example.com"})
    return adapter, wanted


def lookup_pages(sandbox) -> list[str]:
    return [r["query"]["page"] for r in sandbox.requests() if r["method"] == "GET"]


def test_the_exact_match_is_found_on_a_later_page(crowded, sandbox):
    adapter, wanted = crowded
    assert adapter.lookup({"email": "X@example.com", "phone": None}) == wanted
    assert lookup_pages(sandbox) == ["1", "2"]
    assert sandbox.requests()[-1]["query"] == {
        "email": "x@example.com",
        "limit": "100",
        "page": "2",
    }


def test_substring_matches_alone_are_not_found(crowded, sandbox):
    adapter, _ = crowded
    assert adapter.lookup({"email": "x@example.co", "phone": None}) is None
    assert lookup_pages(sandbox) == ["1", "2"]  # every page read, then no next one


def test_the_lookup_gives_up_after_its_page_limit(crowded, sandbox, monkeypatch):
    adapter, _ = crowded
    monkeypatch.setattr(adapter_base, "MAX_LOOKUP_PAGES", 1)
    assert adapter.lookup({"email": "x@example.com", "phone": None}) is None
    assert lookup_pages(sandbox) == ["1"]


# --- what the error flags mean -------------------------------------------------------------


def test_refused_credentials_are_auth_and_misconfigured(sandbox_server):
    box = provider_sandbox(sandbox_server, "close")
    error = expect_error(lambda: CloseAdapter(base_url=box.base_url, api_key="wrong").check())
    assert (error.status, error.auth, error.misconfigured, error.retryable) == (
        401,
        True,
        True,
        False,
    )


def test_a_connection_option_staff_must_fix_is_misconfigured_not_auth(sandbox_server, ann):
    box = provider_sandbox(sandbox_server, "close")
    adapter = make(box, lead_strategy="by_name")
    context = adapter.build_context(ann)
    error = expect_error(lambda: adapter.create(adapter.build_payload(ann), context=context))
    assert (error.code, error.auth, error.misconfigured, error.retryable) == (
        "invalid_lead_strategy",
        False,
        True,
        False,
    )
    assert box.requests() == []  # refused before anything was sent


def test_the_lead_choice_is_context_not_payload(sandbox_server, ann):
    box = provider_sandbox(sandbox_server, "close")
    adapter = make(box, lead_strategy="by_company")
    company = contact_upsert(contact=ann, data={"company": "  Acme   Corp "})
    payload = adapter.build_payload(company)

    assert not [key for key in payload if key.startswith("_")]
    assert adapter.build_context(company) == {"company": "Acme Corp"}
    assert make(box, lead_strategy="fixed", lead_id="lead_1").build_context(ann) == {"id": "lead_1"}
