"""Rate limits: ours (the connection's schedule) and the provider's (429 with Retry-After).

Real HTTP against the sandbox, whose rate window answers 429 with a Retry-After header once a
key has sent its `rate_limit` requests in the current window.
"""

import datetime

import pytest
from django.db import connection as db
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.services import contact_upsert
from integrations import throttle
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.push import Result, link_push
from integrations.throttle import backlog_spread, rate_pause
from tests.integrations_helpers import settle


def make_contacts(n: int) -> list:
    return [
        contact_upsert(data={"first_name": f"Rate {i}", "email": f"rate{i}@example.com"})
        for i in range(n)
    ]


def push(contact, connection) -> Result:
    return link_push(link_id=RemoteLink.objects.get(contact=contact, connection=connection).pk)


@pytest.mark.django_db
def test_a_429_holds_the_whole_connection_until_its_retry_after(
    getraze_connection, sandbox, settings
):
    # One request a minute: the lookup passes, the create is refused with Retry-After.
    sandbox.faults(rate_limit=1, rate_window=60, retry_after_header=True)
    # The sandbox's minute is the clock's: in its last two seconds, its Retry-After is short
    # enough for the next push to wait for it inline and go on, so this test failed one run
    # in about thirty. With no inline wait, any hold queues the next push for later.
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "MAX_INLINE_WAIT": 0.0}
    first, second = make_contacts(2)
    before = timezone.now()

    assert push(first, getraze_connection) == Result.RETRY

    getraze_connection.refresh_from_db()
    held = (getraze_connection.next_request_at - before).total_seconds()
    assert 0 < held <= 61  # the sandbox's Retry-After: what is left of its minute
    link = RemoteLink.objects.get(contact=first, connection=getraze_connection)
    # Retried exactly when the connection may send again: no jitter, no backoff.
    assert link.next_attempt_at == getraze_connection.next_request_at
    # The other contact's push waits too: queued for later, nothing sent.
    sent = len(sandbox.requests())
    assert push(second, getraze_connection) == Result.THROTTLED
    assert len(sandbox.requests()) == sent


@pytest.mark.django_db
def test_an_honoured_retry_after_is_not_counted_as_an_attempt(
    getraze_connection, sandbox, settings
):
    # A huge backoff: any 429 that fell back on it would come back hours later.
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "BACKOFF_BASE": 3600, "BACKOFF_CAP": 86400}
    sandbox.faults(rate_limit=1, rate_window=60, retry_after_header=True)
    [contact] = make_contacts(1)
    link = RemoteLink.objects.get(contact=contact, connection=getraze_connection)

    for _ in range(3):
        Connection.objects.filter(pk=getraze_connection.pk).update(next_request_at=None)
        started = timezone.now()
        assert push(contact, getraze_connection) == Result.RETRY
        link.refresh_from_db()
        assert link.attempts == 0
        assert (link.next_attempt_at - started).total_seconds() <= 61

    # A real failure afterwards starts its backoff from the first step.
    Connection.objects.filter(pk=getraze_connection.pk).update(next_request_at=None)
    sandbox.faults(rate_limit=0, fail_next=1)
    started = timezone.now()
    assert push(contact, getraze_connection) == Result.RETRY
    link.refresh_from_db()
    assert link.attempts == 1
    assert (link.next_attempt_at - started).total_seconds() <= 3600


@pytest.mark.django_db(transaction=True)
def test_a_429_storm_pauses_every_push_and_resumes_when_retry_after_has_passed(
    getraze_connection, sandbox, time_machine
):
    # 4 requests a second, 6 new contacts needing 12, no limit configured on our side.
    sandbox.faults(rate_limit=4, rate_window=1, retry_after_header=True)
    make_contacts(6)

    settle(getraze_connection, time_machine)

    assert RemoteLink.objects.filter(connection=getraze_connection, state="synced").count() == 6
    assert len(sandbox.contacts()) == 6
    attempts = list(PushAttempt.objects.order_by("started_at", "id"))
    limited = [a for a in attempts if a.http_status == 429]
    assert limited
    for refused in limited:
        # After a 429, no link (not only the refused one) sent before Retry-After: 1 passed.
        later = [a for a in attempts if a.started_at > refused.started_at]
        assert all((a.started_at - refused.started_at).total_seconds() >= 1.0 for a in later)
    # Every refused push was retried, and none counted against its backoff.
    assert set(RemoteLink.objects.values_list("attempts", flat=True)) == {0}


@pytest.mark.django_db(transaction=True)
def test_no_429_while_the_configured_rate_is_below_the_providers(
    getraze_connection, sandbox, time_machine
):
    # The provider allows 10 requests a second; the connection is configured for 6.
    sandbox.faults(rate_limit=10, rate_window=1, retry_after_header=True)
    Connection.objects.filter(pk=getraze_connection.pk).update(rate_limit=6)
    make_contacts(8)

    settle(getraze_connection, time_machine)

    assert RemoteLink.objects.filter(connection=getraze_connection, state="synced").count() == 8
    assert not PushAttempt.objects.filter(http_status=429).exists()
    assert len(sandbox.requests()) == 16  # a lookup and a create each


@pytest.mark.django_db
def test_a_throttled_push_is_queued_for_when_the_connection_may_send(getraze_connection, sandbox):
    Connection.objects.filter(pk=getraze_connection.pk).update(
        rate_limit=10, next_request_at=timezone.now() + datetime.timedelta(seconds=30)
    )
    [contact] = make_contacts(1)
    DBTaskResult.objects.all().delete()

    assert push(contact, getraze_connection) == Result.THROTTLED

    assert sandbox.requests() == []
    [task] = DBTaskResult.objects.all()
    assert (task.run_after - timezone.now()).total_seconds() > 29


@pytest.mark.django_db
def test_a_push_while_a_retry_after_holds_the_connection_is_queued_before_any_work(
    getraze_connection, sandbox, django_assert_max_num_queries
):
    [contact] = make_contacts(1)
    rate_pause(connection=getraze_connection, seconds=30)
    link = RemoteLink.objects.get(contact=contact, connection=getraze_connection)
    DBTaskResult.objects.all().delete()

    # The queued mark cleared, the link with its connection, the backlog count for the
    # spread, the link's next attempt and its task (in a savepoint here): no claim, contact
    # read, slot or booking.
    with django_assert_max_num_queries(7) as captured:
        assert link_push(link_id=link.pk) == Result.THROTTLED

    assert not any("integrations_connectionslot" in q["sql"] for q in captured.captured_queries)
    link.refresh_from_db()
    assert (link.claimed_by, link.state) == ("", "pending")
    assert not PushAttempt.objects.exists()
    [task] = DBTaskResult.objects.all()
    assert (task.run_after - timezone.now()).total_seconds() > 29


@pytest.mark.django_db
def test_a_worker_counts_a_connections_backlog_once_in_a_while(
    getraze_connection, django_assert_num_queries, monkeypatch
):
    make_contacts(3)
    Connection.objects.filter(pk=getraze_connection.pk).update(rate_limit=0.2)
    getraze_connection.refresh_from_db()
    with django_assert_num_queries(1):
        # 3 pending at 0.2 a second, offered twice as fast (throttle.BACKLOG_OVERSUPPLY)
        assert backlog_spread(connection=getraze_connection) == 7.5

    RemoteLink.objects.filter(connection=getraze_connection).update(state="failed")
    with django_assert_num_queries(0):  # every re-queued push asks; the count is reused
        assert backlog_spread(connection=getraze_connection) == 7.5
    monkeypatch.setattr(throttle, "SPREAD_REUSE_SECONDS", 0.0)
    assert backlog_spread(connection=getraze_connection) == 0.0


@pytest.mark.django_db
def test_a_new_contacts_push_costs_a_fixed_number_of_statements(
    getraze_connection, sandbox, django_assert_max_num_queries
):
    # As if the provider had said it takes 1,000 a second for the next hour.
    Connection.objects.filter(pk=getraze_connection.pk).update(
        rate_limit=None,
        learned_rate=1000,
        learned_rate_until=timezone.now() + datetime.timedelta(hours=1),
    )
    first, second = make_contacts(2)
    push(first, getraze_connection)  # the connection's slot rows are made once, by the first push

    link = RemoteLink.objects.get(contact=second, connection=getraze_connection)

    # The queued mark cleared; link read, claim and re-read; contact, tags and phones; slot
    # lease (one update in its transaction: 3); rate booking (one statement on PostgreSQL; a
    # locked read and an update in a transaction elsewhere: 4); an attempt row written before
    # and completed after each call (lookup, create: 4); the result; slot release; claim
    # release; and, the connection's inventory being unread, the count of its backlog of
    # first creates (too small to read it: the lookup is cheaper).
    with django_assert_max_num_queries(19 if db.vendor == "postgresql" else 22):
        assert link_push(link_id=link.pk) == Result.SYNCED


@pytest.mark.django_db
def test_a_retry_after_only_ever_moves_the_schedule_forward(getraze_connection):
    booked = timezone.now() + datetime.timedelta(seconds=60)
    Connection.objects.filter(pk=getraze_connection.pk).update(next_request_at=booked)

    rate_pause(connection=getraze_connection, seconds=5)  # shorter than what is already booked
    getraze_connection.refresh_from_db()
    assert getraze_connection.next_request_at == booked

    until = rate_pause(connection=getraze_connection, seconds=120)
    getraze_connection.refresh_from_db()
    assert getraze_connection.next_request_at == until > booked
