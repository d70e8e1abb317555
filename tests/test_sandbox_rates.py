"""The sandbox's rate limits: each provider's documented limit, its documented rate headers
and its 429 answer, windows shortened on demand (run_sandbox --documented-rates --rate-scale)."""

import math
import time

import pytest
import requests
from django.core.management import CommandError

from integrations.management.commands.run_sandbox import rate_knobs
from integrations.sandbox.close import CloseEmulator
from integrations.sandbox.contactship import ContactshipEmulator
from integrations.sandbox.getraze import GetRazeEmulator
from integrations.sandbox.klen import KlenEmulator
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import provider_sandbox

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit")


def test_each_provider_has_its_documented_limit_and_a_scale_shortens_the_window():
    assert GetRazeEmulator.documented_rate_knobs() == {"rate_limit": 1000, "rate_window": 3600}
    assert GetRazeEmulator.documented_rate_knobs(60) == {"rate_limit": 1000, "rate_window": 60}
    assert CloseEmulator.documented_rate_knobs() == {"rate_limit": 100, "rate_window": 5}
    assert KlenEmulator.documented_rate_knobs() == {"rate_limit": 60, "rate_window": 60}
    # Contactship documents none: no limit.
    assert ContactshipEmulator.documented_rate_knobs(60) == {"rate_limit": 0}
    with pytest.raises(ValueError, match="above 0"):
        GetRazeEmulator.documented_rate_knobs(0)


def getraze_get(box):
    return requests.get(box.base_url + "/contacts", headers={"X-API-Key": SANDBOX_KEY}, timeout=5)


def test_getraze_sends_its_rate_trio_and_answers_429_with_the_wait_in_its_body(sandbox_server):
    box = provider_sandbox(sandbox_server, "getraze")
    box.faults(**GetRazeEmulator.documented_rate_knobs())
    first = getraze_get(box)
    hour_end = (time.time() // 3600 + 1) * 3600
    assert first.headers["X-RateLimit-Limit"] == "1000"
    assert first.headers["X-RateLimit-Remaining"] == "999"
    assert abs(int(first.headers["X-RateLimit-Reset"]) - hour_end) <= 1  # a Unix time

    box.faults(rate_limit=2, rate_window=60)
    assert getraze_get(box).headers["X-RateLimit-Remaining"] == "1"
    assert getraze_get(box).headers["X-RateLimit-Remaining"] == "0"
    refused = getraze_get(box)
    minute_left = 60 - time.time() % 60
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in refused.headers  # GetRaze's code sets none
    error = refused.json()["error"]
    assert (error["code"], error["message"]) == (
        "RATE_LIMIT_EXCEEDED",
        "Rate limit of 2 requests per minute exceeded.",
    )
    assert abs(error["retry_after"] - math.ceil(minute_left)) <= 1


def close_get(box):
    return requests.get(box.base_url + "/me/", auth=(SANDBOX_KEY, ""), timeout=5)


def test_close_sends_its_ratelimit_header_and_a_429_with_retry_after(sandbox_server):
    box = provider_sandbox(sandbox_server, "close")
    box.faults(**CloseEmulator.documented_rate_knobs())
    fields = dict(
        part.strip().split("=") for part in close_get(box).headers["RateLimit"].split(",")
    )
    assert (fields["limit"], int(fields["remaining"]) >= 98) == ("100", True)
    assert 0 <= float(fields["reset"]) <= 5  # the rest of a 5-second window, in decimals

    box.faults(rate_limit=1, rate_window=3600)
    close_get(box)
    refused = close_get(box)
    assert refused.status_code == 429
    assert refused.headers["RateLimit"].startswith("limit=1, remaining=0, reset=")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.json()["error"]["rate_window"] == 3600


def test_klen_sends_no_rate_headers_and_a_429_with_retry_after(sandbox_server):
    box = provider_sandbox(sandbox_server, "klen")
    box.faults(**KlenEmulator.documented_rate_knobs())
    url, key = box.base_url + "/contacts", {"X-API-Key": SANDBOX_KEY}
    answer = requests.get(url, headers=key, timeout=5)
    assert answer.status_code == 200
    assert not set(RATE_HEADERS) & set(answer.headers)  # the docs name none

    box.faults(rate_limit=1)
    refused = requests.get(url, headers=key, timeout=5)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.json() == {
        "error": "rate_limit_exceeded",
        "message": "Rate limit of 1 requests per minute exceeded.",
    }
    assert not set(RATE_HEADERS) & set(refused.headers)


def test_contactship_is_unlimited_unless_a_limit_is_set_and_then_sends_retry_after_only(
    sandbox_server,
):
    box = provider_sandbox(sandbox_server, "contactship")
    box.faults(**ContactshipEmulator.documented_rate_knobs())
    url, key = box.base_url + "/v1/contacts", {"x-api-key": SANDBOX_KEY}
    answers = [requests.get(url, headers=key, timeout=5) for _ in range(30)]
    assert {answer.status_code for answer in answers} == {200}
    assert not set(RATE_HEADERS) & set(answers[0].headers)

    box.faults(rate_limit=1, rate_window=60)
    requests.get(url, headers=key, timeout=5)
    refused = requests.get(url, headers=key, timeout=5)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert not set(RATE_HEADERS) & set(refused.headers)


def options(**given):
    return {"documented_rates": False, "rate_scale": [], "rate_limit": [], "rate_window": []} | (
        given
    )


def test_run_sandbox_sets_documented_limits_scaled_and_overridden_per_provider():
    knobs = rate_knobs(
        options(
            documented_rates=True,
            rate_scale=["getraze=60"],
            rate_limit=["contactship=5", "klen=30"],
            rate_window=["contactship=2"],
        )
    )
    assert knobs == {
        "getraze": {"rate_limit": 1000, "rate_window": 60},
        "contactship": {"rate_limit": 5, "rate_window": 2},
        "klen": {"rate_limit": 30, "rate_window": 60},
        "close": {"rate_limit": 100, "rate_window": 5},
    }
    # A bare number applies to every provider, as before.
    plain = rate_knobs(options(rate_limit=["600"], rate_window=["10"]))
    assert set(map(str, plain.values())) == {"{'rate_limit': 600, 'rate_window': 10.0}"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"rate_limit": ["hubspot=5"]}, "no provider 'hubspot'"),
        ({"rate_limit": ["close=many"]}, "'many' is not a number"),
        ({"rate_window": ["0"]}, "above 0 seconds"),
        ({"rate_scale": ["60"]}, "add --documented-rates"),
        ({"documented_rates": True, "rate_scale": ["close=0"]}, "above 0"),
    ],
)
def test_run_sandbox_refuses_bad_rate_options_clearly(given, message):
    with pytest.raises(CommandError, match=message):
        rate_knobs(options(**given))


def test_an_injected_failure_carries_the_rate_headers_as_any_answer_does(sandbox_server):
    box = provider_sandbox(sandbox_server, "getraze")
    box.faults(**GetRazeEmulator.documented_rate_knobs(60), fail_next=1)
    failed = getraze_get(box)
    assert failed.status_code == 500
    assert failed.headers["X-RateLimit-Remaining"] == "999"
