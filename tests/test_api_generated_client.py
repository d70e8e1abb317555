"""A Python client generated from the API's schema (openapi-python-client) against the API.

The client is generated into a temporary folder, then calls the app in process (httpx's WSGI
transport): each answer must parse into the model its schema names, and every field an answer
always has must be typed as always there (not `Unset`), which is what `required` in the schema
gives a generated client.
"""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import httpx
import pytest
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from apikeys.models import Scope
from apikeys.services import api_key_create
from config.wsgi import application
from crm.services import contact_upsert
from tests.factories import CustomFieldFactory

PACKAGE = "relay_crm_client"
# Response models whose fields may be left out of an answer, and which.
SOMETIMES_ABSENT = {"PaginatedContactList": {"count"}, "ItemErrorResponse": {"existing_id"}}
RESPONSE_MODELS = [
    "Contact",
    "PhoneNumber",
    "RemoteLink",
    "LinkError",
    "PaginatedContactList",
    "ContactBatchResult",
    "ContactBatchItemResult",
    "ItemErrorResponse",
    "ItemError",
    "PushResult",
    "CustomFieldList",
    "CustomField",
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated package, imported."""
    folder = tmp_path_factory.mktemp("client")
    schema = folder / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(schema))
    config = folder / "config.yaml"
    config.write_text("post_hooks: []\n")  # no formatter run on the generated code
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator is not None, "openapi-python-client is a dev dependency (make setup)"
    subprocess.run(  # noqa: S603  (our own tool, our own arguments)
        [
            generator,
            "generate",
            "--path",
            str(schema),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(folder))
    try:
        importlib.import_module(f"{PACKAGE}.models")
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture
def keep_the_test_connection():
    """As in tests/test_fuzz.py: calls into the WSGI app must not close the test's connection."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def client_for(generated, *scopes: str):
    _, secret = api_key_create(name="generated client", scopes=list(scopes))
    return generated.AuthenticatedClient(
        base_url="http://localhost",
        token=secret,
        prefix="",
        auth_header_name="X-API-Key",
        httpx_args={"transport": httpx.WSGITransport(app=application)},
        raise_on_unexpected_status=True,
    )


def operation(generated, tag: str, name: str):
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


@pytest.mark.parametrize("name", RESPONSE_MODELS)
def test_every_field_an_answer_always_has_is_typed_as_always_there(generated, name):
    model = getattr(importlib.import_module(f"{PACKAGE}.models"), name)
    optional = {field.name for field in attrs.fields(model) if "Unset" in str(field.type)}

    assert optional == SOMETIMES_ABSENT.get(name, set())


@pytest.fixture
def contact(db):
    return contact_upsert(
        data={"first_name": "Ada", "email": "ada@example.com", "country": "BR"},
        phone_numbers=[{"number": "+14155550100"}],
        tags=["vip"],
    )


def test_the_generated_client_parses_the_list_and_a_contact(
    generated, contact, keep_the_test_connection
):
    client = client_for(generated, Scope.CONTACTS_READ)
    contacts = operation(generated, "contacts", "contacts_list")
    retrieve = operation(generated, "contacts", "contacts_retrieve")

    page = contacts.sync_detailed(client=client, search="ada", page_size=10)
    detail = retrieve.sync_detailed(client=client, id=str(contact.pk))

    assert isinstance(page.parsed, generated.models.PaginatedContactList)
    (item,) = page.parsed.results
    assert (item.first_name, item.tags, item.phone_numbers[0].number) == (
        "Ada",
        ["vip"],
        "+14155550100",
    )
    assert isinstance(detail.parsed, generated.models.Contact)
    assert detail.parsed.to_dict() == item.to_dict()
    assert detail.headers["ETag"]


def test_the_generated_client_writes_and_parses_each_answer(
    generated, contact, keep_the_test_connection
):
    models = generated.models
    other = contact_upsert(data={"first_name": "Cy", "email": "cy@example.com"})
    client = client_for(generated, Scope.CONTACTS_READ, Scope.CONTACTS_WRITE)
    create = operation(generated, "contacts", "contacts_create")
    patch = operation(generated, "contacts", "contacts_partial_update")
    batch = operation(generated, "contacts", "contacts_batch_create")

    created = create.sync_detailed(
        client=client, body=models.ContactRequest(first_name="Bo", country="br")
    )
    changed = patch.sync_detailed(
        client=client, id=str(contact.pk), body=models.PatchedContactRequest(title="CTO")
    )
    written = batch.sync_detailed(
        client=client,
        body=[
            models.ContactBatchItemRequest(id=contact.pk, city="Recife"),
            models.ContactBatchItemRequest(id=contact.pk, email="cy@example.com"),
        ],
    )

    assert created.status_code == 201
    assert isinstance(created.parsed, models.Contact)
    assert created.parsed.country == "BR"
    assert created.headers["Location"].endswith(f"/api/v1/contacts/{created.parsed.id}/")
    assert isinstance(changed.parsed, models.Contact)
    assert changed.parsed.title == "CTO"
    assert isinstance(written.parsed, models.ContactBatchResult)
    updated, refused = written.parsed.results
    assert (updated.status, updated.id) == ("updated", contact.pk)
    assert refused.status == "error"
    assert isinstance(refused.errors, models.ItemErrorResponse)
    assert refused.errors.errors[0].code == "already_exists"
    assert refused.errors.existing_id == other.pk


def test_a_write_only_keys_answer_parses_as_the_receipt(generated, db, keep_the_test_connection):
    # With every Contact field optional, this receipt was read as a Contact with no name.
    client = client_for(generated, Scope.CONTACTS_WRITE)
    create = operation(generated, "contacts", "contacts_create")

    created = create.sync_detailed(client=client, body=generated.models.ContactRequest("Bo"))

    assert type(created.parsed).__name__ == "ContactsCreateContactWriteReceipt"
    assert created.parsed.id > 0


def test_the_generated_client_parses_custom_fields_and_a_push(
    generated, contact, keep_the_test_connection
):
    CustomFieldFactory(key="plan", label="Plan", type="choice", choices=["free", "pro"])
    fields = operation(generated, "custom_fields", "custom_fields_retrieve").sync_detailed(
        client=client_for(generated, Scope.CONTACTS_READ)
    )
    push = operation(generated, "contacts", "contacts_push_create").sync_detailed(
        client=client_for(generated, Scope.PUSH),
        id=contact.pk,
        body=generated.models.PushRequestRequest(),
    )

    assert isinstance(fields.parsed, generated.models.CustomFieldList)
    (field,) = fields.parsed.results
    assert (field.key, field.choices, field.required) == ("plan", ["free", "pro"], False)
    assert isinstance(push.parsed, generated.models.PushResult)
    assert push.parsed.queued == 0


def test_the_generated_client_parses_error_answers(generated, db, keep_the_test_connection):
    models = generated.models
    client = client_for(generated, Scope.CONTACTS_READ, Scope.CONTACTS_WRITE)
    create = operation(generated, "contacts", "contacts_create")
    retrieve = operation(generated, "contacts", "contacts_retrieve")
    contacts = operation(generated, "contacts", "contacts_list")

    invalid = create.sync_detailed(
        client=client, body=models.ContactRequest(first_name="Bo", email="not-an-email")
    )
    missing = retrieve.sync_detailed(client=client, id="999999")
    bad_query = contacts.sync_detailed(client=client, page_size=1, sync="done")

    assert invalid.status_code == 400
    assert type(invalid.parsed).__name__ == "ContactsCreateValidationError"
    (error,) = invalid.parsed.errors
    assert (error.code, error.attr) == ("invalid_email", "email")
    assert isinstance(missing.parsed, models.ErrorResponse404)
    assert missing.parsed.errors[0].code == "not_found"
    assert type(bad_query.parsed).__name__ == "ContactsListValidationError"
