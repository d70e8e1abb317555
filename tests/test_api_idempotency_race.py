"""Simultaneous retries of one create with one `Idempotency-Key` all get the first result.

Each request runs in its own thread with its own database connection, as under a server with
several workers: the first claims the key, the others wait on it and replay its answer.
It runs on PostgreSQL: SQLite's in-memory test database cannot serve concurrent connections
(a file database takes its write lock at BEGIN IMMEDIATE, so there the retries run one after
another, the path test_api_contacts covers with a retry that looks before the first commits).
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apikeys.idempotency import REPLAYED_HEADER
from apikeys.services import api_key_create
from crm.models import Contact

CONCURRENT = 8


def concurrent_posts(raw_key: str, body: dict, idempotency_key: str) -> list:
    start = threading.Barrier(CONCURRENT)
    responses = [None] * CONCURRENT

    def send(index: int) -> None:
        from django.db import connections

        client = APIClient(HTTP_X_API_KEY=raw_key)
        start.wait()
        try:
            responses[index] = client.post(
                "/api/v1/contacts/", body, format="json", HTTP_IDEMPOTENCY_KEY=idempotency_key
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


@pytest.mark.django_db(transaction=True)
def test_simultaneous_retries_of_a_create_all_get_the_first_result():
    if connection.vendor != "postgresql":
        pytest.skip("needs a database that serves concurrent connections (PostgreSQL)")
    _, raw_key = api_key_create(name="race", scopes=["contacts:read", "contacts:write"])
    body = {"first_name": "Zoë", "email": "zoe.race@example.com"}

    responses = concurrent_posts(raw_key, body, "race-1")

    assert [r.status_code for r in responses] == [201] * CONCURRENT
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get(REPLAYED_HEADER) == "true" for r in responses) == CONCURRENT - 1
    assert Contact.objects.count() == 1
