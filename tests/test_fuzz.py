"""The API against inputs generated from its own OpenAPI schema (schemathesis), in process.

Valid and invalid bodies, parameters and headers for every operation, checked by every check
schemathesis has: no server error; every answer documented, in the documented shape, with the
documented headers; data the schema allows is accepted and data it forbids is refused; the
key is not ignored; an unsupported method is a 405 with `Allow`; a created contact can be read
and a deleted one cannot. Then stateful sequences following the schema's links (create, then
read, change, push or delete what was created).

Bounded on purpose (a few examples per operation, derandomized, no deadline): a regression net,
not a long-running fuzzer. `FUZZ_EXAMPLES=200 .venv/bin/pytest tests/test_fuzz.py` searches
deeper.
"""

import os
import uuid

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks, negative_data_rejection
from schemathesis.config import CheckConfig, GenerationConfig

from apikeys.models import Scope
from apikeys.services import api_key_create
from config.wsgi import application
from crm.services import contact_upsert

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
# The same examples on every run, so the suite never fails at random; FUZZ_EXAMPLES (or
# schemathesis's CLI against a server) searches further.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,  # no .hypothesis/ folder in the project
    suppress_health_check=list(HealthCheck),
)

load_all_checks()
ALL_CHECKS = CHECKS.get_all()

BATCH = "POST /api/v1/contacts/batch/"


def batch_items_refused(ctx, response, case) -> None:
    """The batch answers 200 and refuses an invalid item in that item's result (`status`
    `error`, with the envelope a single write would have answered), so schemathesis's
    "invalid data is refused with a 4xx" is, for it: a 4xx, or an item refused."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative or response.status_code != 200:
        return
    if response.request.method != "POST":  # OPTIONS, which the coverage phase sends too
        return
    statuses = [result["status"] for result in response.json()["results"]]
    assert "error" in statuses, f"Every item of an invalid batch was written: {statuses}"


def checks_for(case) -> dict:
    if case.operation.label == BATCH:
        return {
            "checks": [check for check in ALL_CHECKS if check is not negative_data_rejection],
            "additional_checks": [batch_items_refused],
        }
    return {"checks": ALL_CHECKS}


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# Text with a NUL character is refused everywhere (`null_characters_not_allowed`: PostgreSQL
# cannot store it), which docs/api.md states once rather than the schema on every string.
schema.config.generation = GenerationConfig(allow_x00=False)
# A write with a stale If-Match is answered 412 before its body is read (RFC 9110, 13.2.1: the
# preconditions come before the content is processed), so an invalid body may be refused so.
schema.config.checks.negative_data_rejection = CheckConfig(
    expected_statuses=[*schema.config.checks.negative_data_rejection.expected_statuses, 412]
)

# Values that name another record, or a state, are valid only when that record exists or the
# state is the one named, which no schema can state: a staff user (`owner`), a connection
# (`connections`), a custom field (the keys of `custom_fields`), a page (`cursor`, opaque, made
# by the API), a version of the contact (`If-Match`), a request not yet made with another body
# (`Idempotency-Key`). Nor can it state which phone numbers exist (numbering plans), that a
# contact's numbers differ, or that at most one is primary. A valid request generated with
# made-up ones is refused with their codes (`does_not_exist`, `unknown_connection`,
# `unknown_custom_field`, `invalid_cursor`, `precondition_failed`, `idempotency_key_reused`,
# `invalid_phone`, `duplicate_phone`, `multiple_primary`); so that "valid data is accepted" is
# checked for everything else, a valid request gets real values for these before it is sent.
REFERENCES_IN_BODIES = {"owner": None, "connections": ..., "custom_fields": {}}


def with_real_references(case) -> None:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if case.query:
        case.query.pop("cursor", None)
    if case.headers:
        if "If-Match" in case.headers:
            case.headers["If-Match"] = "*"
        if "Idempotency-Key" in case.headers:
            case.headers["Idempotency-Key"] = str(uuid.uuid4())
    bodies = case.body if isinstance(case.body, list) else [case.body]
    for body in bodies:
        if not isinstance(body, dict):
            continue
        for name, value in REFERENCES_IN_BODIES.items():
            if name in body and value is ...:
                del body[name]
            elif name in body:
                body[name] = value
        for index, phone in enumerate(body.get("phone_numbers") or []):
            phone["number"] = f"+1 415 555 {100 + index:04d}"
            phone["is_primary"] = index == 0


@pytest.fixture
def keep_the_test_connection():
    """Calls into the WSGI app end in request_finished, which may close the database connection
    (and with it the test's transaction); Django's own test client prevents that the same way."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_key(db, keep_the_test_connection) -> str:
    cache.clear()  # the per-key rate counts of earlier tests
    _, secret = api_key_create(name="fuzz", scopes=list(Scope.values))
    # Something to find, change and delete at the IDs the fuzzer tries first.
    for n in range(3):
        contact_upsert(data={"first_name": f"Fuzz{n}", "email": f"fuzz{n}@example.com"})
    return secret


def test_every_check_schemathesis_has_is_run():
    names = {check.__name__ for check in ALL_CHECKS}

    assert {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
    } <= names


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_never_answers_5xx_and_always_as_its_schema_says(case, api_key):
    with_real_references(case)
    case.call_and_validate(headers={"X-API-Key": api_key}, **checks_for(case))


def test_the_stateful_sequences_follow_the_schemas_links_from_a_create():
    steps = [name for name in dir(schema.as_state_machine()) if name.startswith("POST_")]

    # One step per link of the create's 201 (api.schema_fidelity.created_contact_links).
    for target in ("GET", "PUT", "PATCH", "DELETE"):
        assert f"POST_api_v1_contacts___201_{target}_api_v1_contacts_id__{target}" in " ".join(
            steps
        )
    assert any("201_POST_api_v1_contacts_id_push" in name for name in steps)


class APIWorkflow(schema.as_state_machine()):
    """Each scenario starts from the same database (a savepoint rolled back at its end), so
    that Hypothesis, which generates from earlier answers, sees the same answers on a replay."""

    api_key: str = ""

    def setup(self):
        super().setup()
        cache.clear()  # the key's rate counts
        self.scenario = transaction.atomic()
        self.scenario.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self.scenario.__exit__(None, None, None)
        super().teardown()

    def before_call(self, case):
        with_real_references(case)
        super().before_call(case)

    def get_call_kwargs(self, case):
        return {"headers": {"X-API-Key": self.api_key}}

    def validate_response(self, response, case, additional_checks=None, **kwargs):
        case.validate_response(
            response,
            **checks_for(case),
            headers={"X-API-Key": self.api_key},
            transport_kwargs=kwargs or None,
            recorder=self.recorder,
        )


def test_stateful_sequences_follow_the_links_without_a_failure(api_key):
    APIWorkflow.api_key = api_key
    test_case = APIWorkflow.TestCase
    test_case.settings = settings(
        FUZZ_SETTINGS, max_examples=max(EXAMPLES // 2, 3), stateful_step_count=6
    )
    test_case().runTest()
