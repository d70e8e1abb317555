"""Pacing without configuration: a connection starts at its provider's documented rate, then
follows the rate window the provider's answers describe; a rate set by staff is a ceiling."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from crm.models import Contact
from crm.services import contact_upsert
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.pace import Pace, connection_concurrency, connection_pace, rate_learn
from integrations.providers import ADAPTERS
from integrations.providers.base_rate import RateWindow, rate_window
from integrations.push import Result, link_push, retry_delay
from integrations.throttle import (
    UNLEARNED_SPREAD,
    backlog_spread,
    backlog_spreads_forget,
    slot_acquire,
)
from tests.integrations_helpers import SANDBOX_KEY
from tests.integrations_providers import provider_sandbox

NOW = 1_800_000_000.0  # a Unix time


@pytest.mark.parametrize(
    ("headers", "window"),
    [
        ({"RateLimit": "limit=100, remaining=50, reset=5"}, RateWindow(100, 50, 5.0)),
        ({"RateLimit": "limit=20, remaining=3, reset=0.25"}, RateWindow(20, 3, 0.25)),
        # Several limits: the one leaving the slowest pace.
        (
            {"RateLimit": "limit=100, remaining=90, reset=10, limit=600, remaining=10, reset=60"},
            RateWindow(600, 10, 60.0),
        ),
        # GetRaze: the reset as a Unix time.
        (
            {
                "X-RateLimit-Limit": "1000",
                "X-RateLimit-Remaining": "998",
                "X-RateLimit-Reset": str(int(NOW) + 1800),
            },
            RateWindow(1000, 998, 1800.0),
        ),
        # The same trio with the reset in seconds.
        (
            {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "12"},
            RateWindow(60, 0, 12.0),
        ),
        ({}, None),
        ({"RateLimit": "limit=abc, remaining=1, reset=1"}, None),
        ({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "x", "X-RateLimit-Reset": "1"}, None),
    ],
)
def test_the_rate_window_is_read_from_either_kind_of_header(headers, window):
    assert rate_window(headers, now=NOW) == window


def connection(provider: str = "getraze", name: str = "", **fields) -> Connection:
    made = Connection(
        name=name or f"{provider} pace", provider=provider, base_url="http://x/", **fields
    )
    made.api_key = SANDBOX_KEY
    made.save()
    return made


@pytest.mark.django_db
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_new_connection_starts_at_its_providers_documented_rate(adapter):
    made = connection(adapter.provider)
    assert made.rate_limit is None
    assert connection_pace(made) == Pace(adapter.documented_rate, "documented")
    assert adapter.label in connection_pace(made).describe(adapter.label)


@pytest.mark.django_db
def test_a_learned_pace_holds_until_the_next_answer_and_a_ceiling_caps_it():
    made = connection("close", concurrency=2)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        rate_learn(connection=made, window=RateWindow(limit=100, remaining=52, reset=5.0))
        made.refresh_from_db()
        assert connection_pace(made) == Pace(10.0, "learned")  # (52 - 2 in flight) / 5 s
        assert "learned from Close" in connection_pace(made).describe("Close")

        made.rate_limit = 4.0
        assert connection_pace(made) == Pace(4.0, "ceiling")
        made.rate_limit = 0
        assert connection_pace(made) == Pace(None, "off")

        made.rate_limit = None
        clock.shift(6)  # the window has reset: its pace holds until the next answer
        assert connection_pace(made) == Pace(10.0, "learned")
        rate_learn(connection=made, window=RateWindow(limit=100, remaining=99, reset=10.0))
        assert connection_pace(made) == Pace(9.7, "learned")


@pytest.mark.django_db
def test_a_pace_that_barely_moves_is_not_written_again(django_assert_num_queries):
    made = connection("close")
    rate_learn(connection=made, window=RateWindow(limit=100, remaining=51, reset=5.0))
    with django_assert_num_queries(0):
        rate_learn(connection=made, window=RateWindow(limit=100, remaining=50, reset=4.9))
    with django_assert_num_queries(1):
        rate_learn(connection=made, window=RateWindow(limit=100, remaining=20, reset=4.0))


@pytest.mark.django_db
def test_a_spent_window_holds_the_connection_until_it_resets():
    made = connection("getraze")
    before = timezone.now()
    rate_learn(connection=made, window=RateWindow(limit=1000, remaining=1, reset=120.0))
    made.refresh_from_db()
    assert made.next_request_at - before >= datetime.timedelta(seconds=119)
    assert made.learned_rate is None


def test_a_transient_failure_is_retried_within_seconds_then_backs_off(settings):
    cap = settings.INTEGRATIONS["BACKOFF_CAP"]
    assert max(retry_delay(attempts=1) for _ in range(50)) <= 2.0
    assert max(retry_delay(attempts=2) for _ in range(50)) <= 4.0
    assert min(retry_delay(attempts=30) for _ in range(50)) >= cap / 2


@pytest.mark.django_db
def test_a_connection_with_defaults_follows_the_providers_headers_without_a_429(sandbox_server):
    """Close's sandbox allows 12 requests per 2-second window and says so on every answer:
    the connection, left at its defaults (Close documents 20 a second), slows to the window."""
    box = provider_sandbox(sandbox_server, "close")
    box.faults(rate_limit=12, rate_window=2)
    made = Connection(name="close", provider="close", base_url=box.base_url, auto_push=True)
    made.api_key = SANDBOX_KEY
    made.save()
    contacts = [
        contact_upsert(data={"first_name": f"P{n}", "email": f"p{n}@example.com"}) for n in range(8)
    ]

    for contact in contacts:
        link = RemoteLink.objects.get(contact=contact, connection=made)
        result = link_push(link_id=link.pk)
        while result == Result.THROTTLED:  # re-queued for its turn: pushed again by hand
            result = link_push(link_id=link.pk)
        assert result == Result.SYNCED

    assert not PushAttempt.objects.filter(http_status=429).exists()
    made.refresh_from_db()
    assert connection_pace(made).source == "learned"
    assert len(box.requests()) >= 16  # a lookup and a create each, at least: 2 windows' worth


@pytest.mark.django_db
def test_a_faster_pace_learned_pulls_back_what_the_slower_one_booked():
    made = connection("getraze")
    Connection.objects.filter(pk=made.pk).update(
        next_request_at=timezone.now() + datetime.timedelta(seconds=100)
    )
    made.refresh_from_db()
    rate_learn(connection=made, window=RateWindow(limit=6000, remaining=5990, reset=100.0))
    made.refresh_from_db()
    assert made.next_request_at <= timezone.now()
    assert connection_pace(made) == Pace(59.88, "learned")


@pytest.mark.django_db
def test_until_an_advertising_provider_answers_throttled_pushes_come_back_within_a_minute():
    getraze, klen = connection("getraze"), connection("klen")
    contacts = Contact.objects.bulk_create(Contact(first_name=f"C{n}") for n in range(100))
    for made in (getraze, klen):
        RemoteLink.objects.bulk_create(RemoteLink(contact=c, connection=made) for c in contacts)
    backlog_spreads_forget()
    assert backlog_spread(connection=getraze) == UNLEARNED_SPREAD  # 100 / 0.28 a second: 360 s
    # Klen says nothing more: 1 a second, the backlog offered twice as fast (100 / 1 / 2).
    assert backlog_spread(connection=klen) == 50.0

    rate_learn(connection=getraze, window=RateWindow(limit=1000, remaining=1000, reset=3600.0))
    backlog_spreads_forget()
    assert backlog_spread(connection=getraze) > UNLEARNED_SPREAD  # now the provider's word


@pytest.mark.django_db
def test_a_connection_left_without_a_concurrency_runs_as_many_pushes_as_its_pace_needs():
    # Close documents 20 a second: six pushes at once keep that pace with 0.3 s a request.
    assert connection_concurrency(connection("close", name="a")) == 6
    assert connection_concurrency(connection("getraze", name="b")) == 2  # 1,000 an hour: the least
    assert connection_concurrency(connection("close", name="c", rate_limit=0)) == 2  # pacing off
    assert connection_concurrency(connection("close", name="d", concurrency=3)) == 3  # staff's
    fast = connection("close", name="e")
    rate_learn(connection=fast, window=RateWindow(limit=10_000, remaining=9_000, reset=10.0))
    assert connection_concurrency(fast) == 8  # the most


@pytest.mark.django_db
def test_the_slots_leased_follow_the_pace_when_no_concurrency_is_set():
    made = connection("close")
    leased = [slot_acquire(connection=made, holder=f"worker {n}") for n in range(7)]
    assert leased == [True] * 6 + [False]


@pytest.mark.django_db
def test_what_may_be_in_flight_is_one_request_a_slot_the_pace_needs():
    made = connection("close")  # six pushes at once at Close's documented 20 a second
    with time_machine.travel(timezone.now(), tick=False):
        rate_learn(connection=made, window=RateWindow(100, 56, 5.0))
        assert connection_pace(made) == Pace(10.0, "learned")  # (56 - 6) / 5 s


@pytest.mark.django_db
def test_the_migration_sizes_old_default_concurrencies_by_the_pace():
    from importlib import import_module

    from django.apps import apps

    kept, old = connection("getraze", concurrency=5), connection("close", concurrency=2)
    migration = import_module("integrations.migrations.0013_connection_concurrency_automatic")
    migration.size_by_the_pace(apps, None)
    kept.refresh_from_db()
    old.refresh_from_db()
    assert (kept.concurrency, old.concurrency) == (5, None)
