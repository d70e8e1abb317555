"""The push engine's semantics, one by one, against the sandbox over real HTTP."""

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.services import contact_upsert
from integrations import connections, links
from integrations.adapters import payload_hash
from integrations.models import Connection, PushAttempt, RemoteLink
from integrations.providers.getraze import GetRazeAdapter
from integrations.push import Result, link_push, retry_delay
from integrations.throttle import Throttled, rate_reserve, slot_acquire, slot_release
from tests.integrations_helpers import SANDBOX_KEY

BASE = {
    "first_name": "Jane",
    "last_name": "Smith",
    "email": "jane@company.com",
    "company": "Tech Corp",
    "title": "CTO",
}
EXPECTED = {
    "name": "Jane Smith",
    "email": "jane@company.com",
    "phone": "+5511988888888",
    "company": "Tech Corp",
    "position": "CTO",
    "title": "CTO",
    "linkedin_url": None,
    "linkedin_profile_url": None,
    "source": "other",
    "tags": ["hot-lead", "tech"],
    "custom_fields": {},
}
# What a create sends: the same without the empty (null) fields.
EXPECTED_CREATE = {k: v for k, v in EXPECTED.items() if v is not None}


@pytest.fixture
def jane(getraze_connection):
    return contact_upsert(
        data=BASE, phone_numbers=[{"number": "+5511988888888"}], tags=["tech", "hot-lead"]
    )


def link_of(contact, connection) -> RemoteLink:
    return RemoteLink.objects.get(contact=contact, connection=connection)


def push(contact, connection) -> Result:
    return link_push(link_id=link_of(contact, connection).pk)


def calls(sandbox) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in sandbox.requests()]


def test_saving_a_contact_marks_its_link_pending(jane, getraze_connection):
    link = link_of(jane, getraze_connection)
    assert (link.state, link.remote_id, link.generation) == ("pending", "", 1)


def test_it_creates_the_contact_once_and_stores_the_remote_id(jane, getraze_connection, sandbox):
    assert push(jane, getraze_connection) == Result.SYNCED

    [remote] = sandbox.contacts()
    link = link_of(jane, getraze_connection)
    assert (link.state, link.remote_id, link.attempts) == ("synced", remote["id"], 0)
    assert link.payload_hash == payload_hash(EXPECTED)
    assert link.last_pushed_at is not None
    assert calls(sandbox) == [("GET", "/contacts"), ("POST", "/contacts")]
    assert sandbox.writes()[0]["body"] == EXPECTED_CREATE


def test_it_records_an_attempt_per_http_call(jane, getraze_connection, sandbox):
    push(jane, getraze_connection)
    rows = list(
        PushAttempt.objects.order_by("id").values_list(
            "operation", "method", "path", "http_status", "outcome"
        )
    )
    assert rows == [
        ("lookup", "GET", "/contacts", 200, "success"),
        ("create", "POST", "/contacts", 201, "success"),
    ]
    assert all(a.duration_ms is not None for a in PushAttempt.objects.all())


def test_an_unchanged_payload_sends_nothing(jane, getraze_connection, sandbox):
    push(jane, getraze_connection)
    sent = len(sandbox.requests())
    contact_upsert(contact=jane, data={"status": "contacted"})  # not a field GetRaze gets

    assert push(jane, getraze_connection) == Result.UNCHANGED
    assert len(sandbox.requests()) == sent
    assert link_of(jane, getraze_connection).state == "synced"


def test_an_unchanged_payload_is_settled_without_a_concurrency_slot(
    jane, getraze_connection, sandbox, django_assert_max_num_queries
):
    push(jane, getraze_connection)
    contact_upsert(contact=jane, data={"status": "contacted"})
    for n in range(max(1, getraze_connection.concurrency)):  # every slot busy with other pushes
        assert slot_acquire(connection=getraze_connection, holder=f"other-{n}")

    # Nothing is sent, so nothing waits for a slot: a re-push of a large unchanged backlog
    # is bound by the database, not by the connection's concurrency.
    with django_assert_max_num_queries(10):  # 14 when it also leased and freed a slot
        assert push(jane, getraze_connection) == Result.UNCHANGED
    assert link_of(jane, getraze_connection).state == "synced"


def test_a_change_is_sent_as_an_update_of_the_same_record(jane, getraze_connection, sandbox):
    push(jane, getraze_connection)
    remote_id = link_of(jane, getraze_connection).remote_id
    contact_upsert(contact=jane, data={"company": "", "title": "CEO"}, tags=["tech"])

    assert push(jane, getraze_connection) == Result.SYNCED
    update = sandbox.requests()[-1]
    assert (update["method"], update["path"]) == ("PUT", f"/contacts/{remote_id}")
    assert update["body"] == {
        **EXPECTED,
        "company": None,
        "position": "CEO",
        "title": "CEO",
        "tags": ["tech"],
    }
    [remote] = sandbox.contacts()
    assert (remote["id"], remote["company"], remote["title"]) == (remote_id, None, "CEO")


def test_a_404_on_update_creates_the_record_again(jane, getraze_connection, sandbox):
    push(jane, getraze_connection)
    old_id = link_of(jane, getraze_connection).remote_id
    sandbox.reset()  # the record is deleted on the provider's side
    contact_upsert(contact=jane, data={"title": "CEO"})

    assert push(jane, getraze_connection) == Result.SYNCED
    [remote] = sandbox.contacts()
    link = link_of(jane, getraze_connection)
    assert link.remote_id == remote["id"] != old_id
    assert calls(sandbox) == [
        ("PUT", f"/contacts/{old_id}"),
        ("GET", "/contacts"),
        ("POST", "/contacts"),
    ]
    assert remote["title"] == "CEO"


def test_an_existing_remote_record_is_found_and_linked_before_creating(
    jane, getraze_connection, sandbox
):
    from integrations.providers.getraze import GetRazeAdapter

    existing = GetRazeAdapter(base_url=sandbox.base_url, api_key=SANDBOX_KEY).create(
        {"name": "J. Smith", "email": "JANE@company.com"}
    )

    assert push(jane, getraze_connection) == Result.SYNCED
    assert link_of(jane, getraze_connection).remote_id == existing
    [remote] = sandbox.contacts()
    assert remote["name"] == "Jane Smith"  # our data, written over the old record
    assert [w["method"] for w in sandbox.writes()] == ["POST", "PUT"]  # the POST set it up


def test_a_409_is_followed_by_a_lookup_and_the_record_is_linked(jane, getraze_connection, sandbox):
    from integrations.providers.getraze import GetRazeAdapter

    existing = GetRazeAdapter(base_url=sandbox.base_url, api_key=SANDBOX_KEY).create(
        {"name": "J. Smith", "email": "jane@company.com"}
    )
    sandbox.faults(lookup_misses_next=1)  # the first lookup misses it, as a lagging index would

    assert push(jane, getraze_connection) == Result.SYNCED
    assert link_of(jane, getraze_connection).remote_id == existing
    assert calls(sandbox)[1:] == [
        ("GET", "/contacts"),
        ("POST", "/contacts"),
        ("GET", "/contacts"),
        ("PUT", f"/contacts/{existing}"),
    ]
    assert len(sandbox.contacts()) == 1
    assert PushAttempt.objects.filter(http_status=409, outcome="failed").count() == 1


def test_a_lost_create_response_is_followed_by_a_lookup_not_a_second_create(
    jane, getraze_connection, sandbox
):
    sandbox.faults(drop_after_create_next=1)

    assert push(jane, getraze_connection) == Result.SYNCED
    [remote] = sandbox.contacts()
    assert link_of(jane, getraze_connection).remote_id == remote["id"]
    assert [m for m, _ in calls(sandbox)] == ["GET", "POST", "GET", "PUT"]


def test_a_500_after_the_create_was_stored_links_the_stored_record(
    jane, getraze_connection, sandbox
):
    sandbox.faults(fail_creates_next=1, fail_creates_applied=True)

    assert push(jane, getraze_connection) == Result.SYNCED
    [remote] = sandbox.contacts()
    assert link_of(jane, getraze_connection).remote_id == remote["id"]


def test_a_retryable_error_keeps_the_link_pending_and_queues_a_retry(
    jane, getraze_connection, sandbox, time_machine
):
    sandbox.faults(fail_creates_next=1)
    DBTaskResult.objects.all().delete()

    assert push(jane, getraze_connection) == Result.RETRY
    link = link_of(jane, getraze_connection)
    assert (link.state, link.attempts, link.last_error) == (
        "pending",
        1,
        {"code": "INTERNAL_ERROR", "message": "Injected failure."},
    )
    [task] = DBTaskResult.objects.all()
    assert task.args_kwargs == {"args": [], "kwargs": {"link_id": link.pk}}
    assert sandbox.contacts() == []
    # A 500 may follow an applied create: until the retry, a push only looks it up.
    assert link.create_unresolved_until == link.next_attempt_at
    assert push(jane, getraze_connection) == Result.RETRY
    assert sandbox.contacts() == []

    time_machine.move_to(link.next_attempt_at, tick=False)
    assert push(jane, getraze_connection) == Result.SYNCED
    assert len(sandbox.contacts()) == 1
    assert link_of(jane, getraze_connection).attempts == 0


def test_a_timeout_keeps_the_link_pending(jane, getraze_connection, sandbox):
    sandbox.faults(timeout_next=1, timeout_seconds=1.0)
    assert push(jane, getraze_connection) == Result.RETRY
    assert link_of(jane, getraze_connection).last_error["code"] == "timeout"


def test_a_429_retry_waits_as_long_as_the_provider_says(jane, getraze_connection, sandbox):
    sandbox.faults(rate_limit=1, rate_window=3600)
    DBTaskResult.objects.all().delete()
    before = timezone.now()

    assert push(jane, getraze_connection) == Result.RETRY

    link = link_of(jane, getraze_connection)
    wait = (link.next_attempt_at - before).total_seconds()
    seconds_to_hour_end = 3600 - before.timestamp() % 3600
    assert seconds_to_hour_end - 2 < wait < seconds_to_hour_end + 8  # + jitter
    assert link.last_error["code"] == "RATE_LIMIT_EXCEEDED"
    [task] = DBTaskResult.objects.all()
    assert task.run_after == link.next_attempt_at


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "BACKOFF_BASE": 10, "BACKOFF_CAP": 100}
    assert 5 <= retry_delay(attempts=1) <= 10
    assert 20 <= retry_delay(attempts=3) <= 40
    assert 50 <= retry_delay(attempts=9) <= 100
    assert 30 <= retry_delay(attempts=1, retry_after=30) <= 33


def test_a_permanent_error_fails_the_link_with_the_providers_code(getraze_connection, sandbox):
    # Django accepts user@localhost; GetRaze's documented check wants a dotted domain.
    contact = contact_upsert(data={"first_name": "Local", "email": "admin@localhost"})

    assert push(contact, getraze_connection) == Result.FAILED
    link = link_of(contact, getraze_connection)
    assert (link.state, link.remote_id) == ("failed", "")
    assert link.last_error == {
        "code": "INVALID_EMAIL",
        "message": "Email format is invalid (email: Invalid email format)",
    }
    assert push(contact, getraze_connection) == Result.NOT_PENDING  # not retried by itself…
    contact_upsert(contact=contact, data={"email": "admin@example.com"})
    assert push(contact, getraze_connection) == Result.SYNCED  # …but when the contact changes


def test_a_contact_the_provider_cannot_accept_is_skipped_with_a_reason(getraze_connection, sandbox):
    contact = contact_upsert(data={"first_name": "Nameless"})

    assert push(contact, getraze_connection) == Result.SKIPPED
    link = link_of(contact, getraze_connection)
    assert link.state == "skipped"
    assert link.last_error["message"].startswith("GetRaze needs an email or a phone")
    assert sandbox.requests() == []


def test_refused_credentials_pause_the_connection(jane, getraze_connection, sandbox):
    getraze_connection.api_key = "revoked-key-1234567890"
    getraze_connection.save()

    assert push(jane, getraze_connection) == Result.PAUSED
    getraze_connection.refresh_from_db()
    assert getraze_connection.is_paused
    assert "INVALID_API_KEY" in getraze_connection.paused_reason
    assert "revoked-key-1234567890" not in getraze_connection.paused_reason
    link = link_of(jane, getraze_connection)
    assert (link.state, link.last_error["code"]) == ("pending", "INVALID_API_KEY")

    sent = len(sandbox.requests())
    assert push(jane, getraze_connection) == Result.INACTIVE
    assert len(sandbox.requests()) == sent

    getraze_connection.api_key = SANDBOX_KEY
    getraze_connection.save()
    DBTaskResult.objects.all().delete()
    assert connections.connection_resume(connection=getraze_connection) == 1
    assert DBTaskResult.objects.count() == 1
    assert push(jane, getraze_connection) == Result.SYNCED


def test_the_key_never_reaches_attempt_rows(jane, getraze_connection, sandbox):
    getraze_connection.api_key = "revoked-key-1234567890"
    getraze_connection.save()
    push(jane, getraze_connection)
    for attempt in PushAttempt.objects.all():
        assert "revoked-key" not in f"{attempt.path} {attempt.error_code} {attempt.error_message}"


def test_a_disabled_connection_leaves_the_link_pending(jane, getraze_connection, sandbox):
    Connection.objects.filter(pk=getraze_connection.pk).update(enabled=False)
    assert push(jane, getraze_connection) == Result.INACTIVE
    assert link_of(jane, getraze_connection).state == "pending"


def test_a_link_claimed_by_another_worker_is_queued_again(jane, getraze_connection, sandbox):
    RemoteLink.objects.filter(contact=jane).update(
        claimed_by="other", claimed_until=timezone.now() + datetime.timedelta(minutes=1)
    )
    DBTaskResult.objects.all().delete()
    assert push(jane, getraze_connection) == Result.BUSY
    assert DBTaskResult.objects.count() == 1
    assert sandbox.requests() == []


def test_a_change_during_the_push_leaves_the_link_pending(
    jane, getraze_connection, sandbox, monkeypatch
):
    original = GetRazeAdapter.create

    def create_then_change(adapter, payload, *, context=None):
        remote_id = original(adapter, payload, context=context)
        # Another writer saves the contact while this push is in flight.
        contact_upsert(contact=jane, data={"title": "CEO"})
        return remote_id

    monkeypatch.setattr(GetRazeAdapter, "create", create_then_change)
    assert push(jane, getraze_connection) == Result.SYNCED
    monkeypatch.undo()

    link = link_of(jane, getraze_connection)
    assert (link.state, bool(link.remote_id)) == ("pending", True)
    assert push(jane, getraze_connection) == Result.SYNCED
    assert sandbox.contacts()[0]["title"] == "CEO"


def test_concurrency_slots_hold_across_holders_and_expire(getraze_connection, settings):
    Connection.objects.filter(pk=getraze_connection.pk).update(concurrency=1)
    getraze_connection.refresh_from_db()
    assert slot_acquire(connection=getraze_connection, holder="a")
    assert not slot_acquire(connection=getraze_connection, holder="b")
    slot_release(connection=getraze_connection, holder="a")
    assert slot_acquire(connection=getraze_connection, holder="b")
    getraze_connection.slots.update(leased_until=timezone.now() - datetime.timedelta(seconds=1))
    assert slot_acquire(connection=getraze_connection, holder="c")  # a dead worker's lease
    assert list(getraze_connection.slots.values_list("number", "holder")) == [(0, "c")]


def test_the_rate_limit_spaces_requests_and_defers_long_waits(getraze_connection, settings):
    # A ceiling below GetRaze's documented 1,000 an hour: one request per 4 s.
    Connection.objects.filter(pk=getraze_connection.pk).update(rate_limit=0.25)
    getraze_connection.refresh_from_db()
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "MAX_INLINE_WAIT": 1.0}
    rate_reserve(connection=getraze_connection, requests=2)  # books 8 s
    with pytest.raises(Throttled) as info:
        rate_reserve(connection=getraze_connection)
    assert 7.5 < info.value.wait <= 8.0
    rate_reserve(connection=getraze_connection, wait=False)  # charged, not waited for
    getraze_connection.refresh_from_db()
    wait = (getraze_connection.next_request_at - timezone.now()).total_seconds()
    assert 11.5 < wait <= 12.0


def test_a_rate_limited_push_is_queued_for_later_without_sending(jane, getraze_connection, sandbox):
    Connection.objects.filter(pk=getraze_connection.pk).update(
        rate_limit=0.01, next_request_at=timezone.now() + datetime.timedelta(seconds=60)
    )
    DBTaskResult.objects.all().delete()
    assert push(jane, getraze_connection) == Result.THROTTLED
    assert sandbox.requests() == []
    link = link_of(jane, getraze_connection)
    assert (link.state, link.attempts) == ("pending", 0)
    [task] = DBTaskResult.objects.all()
    assert task.run_after == link.next_attempt_at
    assert (link.next_attempt_at - timezone.now()).total_seconds() > 59


def test_a_started_push_is_not_stopped_half_way_by_the_rate_limit(
    jane, getraze_connection, sandbox
):
    Connection.objects.filter(pk=getraze_connection.pk).update(rate_limit=0.2)  # one per 5 s
    getraze_connection.refresh_from_db()
    assert push(jane, getraze_connection) == Result.SYNCED  # lookup and create, booked together
    assert [m for m, _ in calls(sandbox)] == ["GET", "POST"]


def test_a_key_unreadable_after_rotation_pauses_the_connection(jane, getraze_connection, settings):
    settings.FIELD_ENCRYPTION_KEY = "a-new-key-the-stored-secret-was-not-encrypted-with"
    assert push(jane, getraze_connection) == Result.PAUSED
    getraze_connection.refresh_from_db()
    assert "cannot be decrypted" in getraze_connection.paused_reason
    assert getraze_connection.api_key_masked == "unreadable: enter the key again"


def test_the_sweep_queues_pending_links_at_their_next_attempt_time(jane, getraze_connection):
    later = timezone.now() + datetime.timedelta(minutes=5)
    other = contact_upsert(data={"first_name": "Bob", "email": "bob@example.com"})
    RemoteLink.objects.filter(contact=other).update(next_attempt_at=later)
    DBTaskResult.objects.all().delete()

    before = timezone.now()
    assert links.links_enqueue_pending() == 2
    run_after = {
        t.args_kwargs["kwargs"]["link_id"]: t.run_after for t in DBTaskResult.objects.all()
    }
    assert run_after[link_of(other, getraze_connection).pk] == later
    assert before <= run_after[link_of(jane, getraze_connection).pk] <= timezone.now()  # due now


def test_the_periodic_sweep_queues_only_overdue_unclaimed_links(jane, getraze_connection):
    late = timezone.now() - datetime.timedelta(hours=1)
    lost = contact_upsert(data={"first_name": "Lost", "email": "lost@example.com"})
    busy = contact_upsert(data={"first_name": "Busy", "email": "busy@example.com"})
    RemoteLink.objects.filter(contact__in=[lost, busy]).update(next_attempt_at=late)
    RemoteLink.objects.filter(contact=busy).update(
        claimed_by="w", claimed_until=timezone.now() + datetime.timedelta(minutes=1)
    )
    DBTaskResult.objects.all().delete()

    assert links.links_enqueue_pending(overdue_for=600) == 1
    [task] = DBTaskResult.objects.all()
    assert task.args_kwargs["kwargs"]["link_id"] == link_of(lost, getraze_connection).pk
