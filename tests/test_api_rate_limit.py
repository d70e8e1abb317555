"""The per-key rate limit: its headers, its windows, its exactness across processes, its checks."""

import datetime
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import checks
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apikeys.checks import check_api_key_rate, check_rate_limit_cache, server_workers
from apikeys.ratelimit import Rate, rate_limit_consume, rate_parse
from apikeys.services import api_key_create

CONTACTS_URL = "/api/v1/contacts/"
RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
PROJECT_DIR = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
A_MOMENT = datetime.datetime(2026, 3, 2, 9, 0, 30, tzinfo=datetime.UTC)


def redis_reachable() -> bool:
    url = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((url.hostname, url.port or 6379), timeout=0.5):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason=f"no Redis at {REDIS_URL}")


def redis_caches() -> dict:
    # A prefix of its own: the server may be shared, and its keys expire by themselves.
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-ratelimit-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def key_client(db):
    def make(*scopes: str) -> APIClient:
        _, secret = api_key_create(name="rate test", scopes=scopes or ["contacts:read"])
        client = APIClient(HTTP_X_API_KEY=secret)
        client.raise_request_exception = False
        return client

    return make


def rate_headers(response) -> dict[str, str]:
    return {name: response[name] for name in RATE_HEADERS if name in response}


def codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


# --- the headers ---------------------------------------------------------------------------


@override_settings(API_KEY_RATE="5/min")
def test_an_answer_tells_the_limit_what_is_left_and_when_the_window_closes(key_client):
    client = key_client()

    with time_machine.travel(A_MOMENT, tick=False) as clock:
        first = client.get(CONTACTS_URL)
        clock.shift(20)
        second = client.get(CONTACTS_URL)

    assert first.status_code == second.status_code == 200
    assert rate_headers(first) == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "4",
        "RateLimit-Reset": "60",
        "RateLimit-Policy": "5;w=60",
    }
    assert (second["RateLimit-Remaining"], second["RateLimit-Reset"]) == ("3", "40")


@override_settings(API_KEY_RATE="2/min")
def test_past_the_limit_it_answers_429_with_retry_after_equal_to_the_reset(key_client):
    client = key_client()

    with time_machine.travel(A_MOMENT, tick=False) as clock:
        client.get(CONTACTS_URL)
        clock.shift(15)
        client.get(CONTACTS_URL)
        clock.shift(10)
        refused = client.get(CONTACTS_URL)

    assert (refused.status_code, codes(refused)) == (429, ["rate_limited"])
    assert refused["RateLimit-Remaining"] == "0"
    assert refused["Retry-After"] == refused["RateLimit-Reset"] == "35"


@override_settings(API_KEY_RATE="2/min")
def test_a_client_that_waits_retry_after_is_served_in_a_new_window(key_client):
    client = key_client()

    with time_machine.travel(A_MOMENT, tick=False) as clock:
        client.get(CONTACTS_URL)
        clock.shift(59)
        client.get(CONTACTS_URL)
        refused = client.get(CONTACTS_URL)
        clock.shift(int(refused["Retry-After"]))
        retried = client.get(CONTACTS_URL)

    assert (refused.status_code, refused["Retry-After"]) == (429, "1")
    assert retried.status_code == 200
    assert (retried["RateLimit-Remaining"], retried["RateLimit-Reset"]) == ("1", "60")


@override_settings(API_KEY_RATE="3/min")
def test_error_answers_for_a_key_carry_the_headers_and_count(key_client):
    client = key_client("contacts:read", "contacts:write")

    not_found = client.get(f"{CONTACTS_URL}999999/")
    invalid = client.post(CONTACTS_URL, {"first_name": ""}, format="json")
    not_allowed = client.delete(CONTACTS_URL)

    assert [not_found.status_code, invalid.status_code, not_allowed.status_code] == [404, 400, 405]
    assert [r["RateLimit-Remaining"] for r in (not_found, invalid, not_allowed)] == ["2", "1", "0"]


@override_settings(API_KEY_RATE="3/min")
def test_a_key_refused_for_its_scope_sees_its_window_without_spending_a_request(key_client):
    client = key_client("contacts:read")  # may not write

    with time_machine.travel(A_MOMENT, tick=False) as clock:
        client.get(CONTACTS_URL)
        clock.shift(10)
        refused = [client.post(CONTACTS_URL, {"first_name": "Ada"}) for _ in range(4)]
        listed = client.get(CONTACTS_URL)

    assert {r.status_code for r in refused} == {403}
    assert {rate_headers(r)["RateLimit-Remaining"] for r in refused} == {"2"}
    assert {rate_headers(r)["RateLimit-Reset"] for r in refused} == {"50"}
    assert (listed.status_code, listed["RateLimit-Remaining"]) == (200, "1")


@override_settings(API_KEY_RATE="1/min")
def test_answers_without_a_valid_key_or_to_staff_have_no_rate_headers(db, admin_client):
    no_key = APIClient()
    unknown = APIClient(HTTP_X_API_KEY="AbCdEfGh.not-a-key-we-ever-issued")

    answers = [
        no_key.get(CONTACTS_URL),
        unknown.get(CONTACTS_URL),
        *(admin_client.get(CONTACTS_URL) for _ in range(2)),
    ]

    assert [r.status_code for r in answers] == [401, 401, 200, 200]
    assert [rate_headers(r) for r in answers] == [{}, {}, {}, {}]


@override_settings(API_KEY_RATE="1/min")
def test_each_key_has_its_own_window(key_client):
    first, second = key_client(), key_client()

    assert [first.get(CONTACTS_URL).status_code for _ in range(2)] == [200, 429]
    assert second.get(CONTACTS_URL)["RateLimit-Remaining"] == "0"
    assert second.get(CONTACTS_URL).status_code == 429


@override_settings(API_KEY_RATE="")
def test_without_a_rate_there_is_no_limit_and_no_header(key_client):
    client = key_client()

    answers = [client.get(CONTACTS_URL) for _ in range(3)]

    assert [(r.status_code, rate_headers(r)) for r in answers] == [(200, {})] * 3


# --- exact across processes ----------------------------------------------------------------

# One process of the exactness test: it counts requests straight against the shared cache
# once every process is ready, and prints how many were allowed.
HAMMER = """
import sys
from django.conf import settings

url, prefix, ident, rate, attempts = sys.argv[1:]
settings.configure(CACHES={"default": {
    "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix,
}})
from apikeys.ratelimit import rate_limit_consume, rate_parse

print("ready", flush=True)
sys.stdin.readline()
states = [rate_limit_consume(ident=ident, rate=rate_parse(rate)) for _ in range(int(attempts))]
print(sum(state.allowed for state in states), flush=True)
"""


@needs_redis
def test_processes_sharing_redis_allow_exactly_the_limit_between_them():
    prefix, ident = f"test-ratelimit-{uuid.uuid4().hex}", "concurrent"
    processes = [
        subprocess.Popen(  # noqa: S603  (this interpreter, our script)
            [sys.executable, "-c", HAMMER, REDIS_URL, prefix, ident, "37/hour", "40"],
            cwd=PROJECT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        for process in processes:  # all start together: 240 requests race for 37 slots
            process.stdin.write("go\n")
            process.stdin.flush()
        allowed = [int(process.stdout.readline()) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()

    assert sum(allowed) == 37


def locmem_caches() -> dict:
    return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.mark.parametrize(
    "caches_setting",
    [
        pytest.param(locmem_caches, id="locmem"),
        pytest.param(redis_caches, id="redis", marks=needs_redis),
    ],
)
def test_threads_allow_exactly_the_limit_between_them(caches_setting):
    rate = Rate(limit=50, period=3600)
    start = threading.Barrier(8)
    allowed = []

    def hammer():
        start.wait()
        states = [rate_limit_consume(ident="threads", rate=rate) for _ in range(20)]
        allowed.append(sum(state.allowed for state in states))

    with override_settings(CACHES=caches_setting()):
        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sum(allowed) == 50


# --- the rate, the cache and the checks ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("1200/min", Rate(limit=1200, period=60)),
        ("10/s", Rate(limit=10, period=1)),
        ("5000/hour", Rate(limit=5000, period=3600)),
        ("100000/day", Rate(limit=100000, period=86400)),
    ],
)
def test_a_rate_is_a_number_per_period(text, rate):
    assert rate_parse(text) == rate


@pytest.mark.parametrize("text", ["1200", "many/min", "1200/week", "-1/min", "/min"])
def test_a_malformed_rate_is_refused_by_a_system_check(text, settings):
    settings.API_KEY_RATE = text

    errors = check_api_key_rate(app_configs=None)

    assert [error.id for error in errors] == ["apikeys.E001"]
    assert "<number>/<s|min|hour|day>" in errors[0].msg or "negative" in errors[0].msg


@pytest.mark.parametrize(
    ("environment", "workers"),
    [
        ({}, 1),
        ({"WEB_CONCURRENCY": "4"}, 4),
        ({"WEB_CONCURRENCY": "lots"}, 1),
        ({"GUNICORN_CMD_ARGS": "--bind 0.0.0.0:8000 --workers 3"}, 3),
        ({"GUNICORN_CMD_ARGS": "-w 5"}, 5),
        ({"GUNICORN_CMD_ARGS": "--workers=2"}, 2),
        ({"GUNICORN_CMD_ARGS": "-w6 --timeout 30", "WEB_CONCURRENCY": "2"}, 6),
        ({"GUNICORN_CMD_ARGS": "--timeout 30", "WEB_CONCURRENCY": "2"}, 2),
    ],
)
def test_the_worker_count_is_read_where_the_servers_read_it(environment, workers, monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert server_workers() == workers


def test_the_deploy_check_warns_of_a_per_process_cache_with_several_workers(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "4")

    warnings = check_rate_limit_cache(app_configs=None)

    assert [(w.id, w.level) for w in warnings] == [("apikeys.W001", checks.WARNING)]
    assert "4 times its rate" in warnings[0].msg
    assert "CACHE_URL" in warnings[0].hint


def test_the_deploy_check_is_quiet_with_one_worker_or_a_shared_cache(monkeypatch):
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert check_rate_limit_cache(app_configs=None) == []

    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    with override_settings(CACHES=redis_caches()):
        assert check_rate_limit_cache(app_configs=None) == []
    with override_settings(API_KEY_RATE=""):
        assert check_rate_limit_cache(app_configs=None) == []


@pytest.mark.parametrize(
    ("cache_url", "backend"),
    [
        (None, "django.core.cache.backends.locmem.LocMemCache"),
        ("redis://127.0.0.1:6379/1", "django.core.cache.backends.redis.RedisCache"),
    ],
)
def test_cache_url_chooses_the_default_cache(cache_url, backend):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 64 + "production-like-secret-for-the-check",
    }
    environment.pop("CACHE_URL", None)
    if cache_url:
        environment["CACHE_URL"] = cache_url
    script = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"

    result = subprocess.run(  # noqa: S603  (this interpreter, our script)
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.strip() == backend


# --- the schema ----------------------------------------------------------------------------


def test_the_schema_documents_the_headers_on_the_answers_that_carry_them():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    responses = schema["paths"]["/api/v1/contacts/"]["post"]["responses"]

    assert set(schema["components"]["headers"]) >= {*RATE_HEADERS, "Retry-After"}
    for status in ("201", "400", "403", "429"):
        assert set(responses[status]["headers"]) >= set(RATE_HEADERS), status
    assert "Retry-After" in responses["429"]["headers"]
    assert "headers" not in responses["401"]
