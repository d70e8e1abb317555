"""The API against inputs generated from its own OpenAPI schema (schemathesis), in process.

Valid and invalid bodies, parameters and headers for every operation: no answer may be a
server error, and every answer must be one the schema documents, in the documented shape. Bounded
on purpose (a few dozen examples per operation, no deadline): a regression net, not a
long-running fuzzer; run schemathesis's CLI against a server for a deep search.
"""

import pytest
import schemathesis
from django.core.cache import cache
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
def api_key(db) -> str:
    cache.clear()  # the per-key rate counts of earlier tests
    _, secret = api_key_create(name="fuzz", scopes=list(Scope.values))
    # Something to find, change and delete at the IDs the fuzzer tries first.
    for n in range(3):
        contact_upsert(data={"first_name": f"Fuzz{n}", "email": f"fuzz{n}@example.com"})
    return secret


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
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
