"""The API against inputs generated from its own OpenAPI schema (schemathesis), in process.

Valid and invalid bodies, parameters and headers for every operation: no answer may be a
server error, and every answer must be one the schema documents, in the documented shape. Bounded
on purpose (15 examples per operation, derandomized, no deadline): a regression net, not a
long-running fuzzer. `FUZZ_EXAMPLES=500 .venv/bin/pytest tests/test_fuzz.py` searches deeper.
"""

import os

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apikeys.models import Scope
from apikeys.services import api_key_create
from config.wsgi import application
from crm.services import contact_upsert

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


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


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "15")),
    deadline=None,
    # The same examples on every run, so the suite never fails at random; FUZZ_EXAMPLES=500
    # (or schemathesis's CLI against a server) searches further.
    derandomize=True,
    database=None,  # no .hypothesis/ folder in the project
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_answers_5xx_and_always_as_its_schema_says(case, api_key):
    case.call_and_validate(
        headers={"X-API-Key": api_key},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
