"""Scheduled upkeep: stale imports failed, the retry sweep, the prunes, the heartbeat."""

import datetime

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from crm import import_progress
from crm.models import Contact, ContactImport
from integrations.models import Connection, PushAttempt, RemoteLink
from ops import upkeep
from ops.models import ImportWatch, WorkerHeartbeat
from ops.tasks import worker_heartbeat

NOW = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


def run_worker() -> None:
    """The real worker (tests that run it need transactional_db: it manages connections)."""
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)


def running_import(*, processed: int) -> ContactImport:
    row = ContactImport.objects.create(
        status=ContactImport.Status.RUNNING, format="csv", content=b"", total=1000
    )
    report_progress(row, processed=processed)
    return row


def report_progress(row: ContactImport, *, processed: int) -> None:
    """What the import's worker writes to the shared progress cache while it runs."""
    counts = {"processed": processed, "new": processed // 2, "updated": 0}
    import_progress.progress_write(row.pk, {**counts, "skipped": 0, "invalid": 0})


def test_an_import_without_progress_for_ten_minutes_is_failed_with_its_reason(db, clock):
    row = running_import(processed=200)
    assert upkeep.contact_imports_fail_stale() == []

    clock.shift(5 * MINUTE)
    report_progress(row, processed=400)  # it moves: alive
    assert upkeep.contact_imports_fail_stale() == []

    clock.shift(9 * MINUTE)
    assert upkeep.contact_imports_fail_stale() == []
    clock.shift(MINUTE)  # 10 minutes since it last moved
    assert upkeep.contact_imports_fail_stale() == [row.pk]

    row.refresh_from_db()
    assert row.status == ContactImport.Status.FAILED
    assert (row.processed, row.new, row.finished_at) == (400, 200, NOW + 15 * MINUTE)
    assert row.error == (
        "The import stopped: it made no progress for 10 minutes, so its worker was stopped or "
        "killed. 400 of 1000 rows had been processed (200 contacts written). Import the file "
        "again to finish it: rows already imported are reported unchanged."
    )
    assert not ImportWatch.objects.exists()


def test_an_import_that_finishes_is_left_alone(db, clock):
    row = running_import(processed=10)
    upkeep.contact_imports_fail_stale()
    ContactImport.objects.filter(pk=row.pk).update(status=ContactImport.Status.DONE)

    clock.shift(30 * MINUTE)
    assert upkeep.contact_imports_fail_stale() == []
    assert ContactImport.objects.get(pk=row.pk).status == ContactImport.Status.DONE
    assert not ImportWatch.objects.exists()


def test_the_stale_limit_is_a_setting(db, clock, settings):
    settings.OPS = {**settings.OPS, "STALE_IMPORT_MINUTES": 3}
    row = running_import(processed=0)
    upkeep.contact_imports_fail_stale()
    clock.shift(3 * MINUTE)
    assert upkeep.contact_imports_fail_stale() == [row.pk]


def test_the_sweep_queues_only_pending_links_whose_task_is_overdue(db, clock):
    connection = Connection(name="GetRaze", provider="getraze", auto_push=False)
    connection.api_key = "a-key"
    connection.save()
    contacts = [Contact.objects.create(first_name=n, email=f"{n}@x.io") for n in ("a", "b")]
    lost = RemoteLink.objects.create(contact=contacts[0], connection=connection)
    clock.shift(11 * MINUTE)  # past SWEEP_GRACE_SECONDS (600)
    RemoteLink.objects.create(contact=contacts[1], connection=connection)  # just queued

    assert upkeep.retry_sweep() == 1
    [task] = DBTaskResult.objects.all()
    assert task.task_path.startswith("integrations.tasks.push_link")
    assert str(lost.pk) in str(task.args_kwargs)


def test_push_attempts_are_pruned_through_push_contacts(db, clock):
    connection = Connection(name="GetRaze", provider="getraze", auto_push=False)
    connection.api_key = "a-key"
    connection.save()
    contact = Contact.objects.create(first_name="a", email="a@x.io")
    link = RemoteLink.objects.create(contact=contact, connection=connection)
    PushAttempt.objects.create(link=link, operation="create", method="POST", path="/c")
    clock.shift(datetime.timedelta(days=31))
    PushAttempt.objects.create(link=link, operation="update", method="PUT", path="/c/1")

    assert upkeep.push_attempts_prune() == "1 push attempts deleted."
    assert PushAttempt.objects.get().operation == "update"


def test_idempotency_records_are_pruned_through_their_command(db):
    assert upkeep.idempotency_records_prune().startswith("Deleted 0 idempotency record(s)")


def test_the_heartbeat_task_records_the_worker_that_ran_it(transactional_db, clock):
    worker_heartbeat.enqueue()
    run_worker()

    [heartbeat] = WorkerHeartbeat.objects.all()
    assert heartbeat.seen_at == NOW
    assert heartbeat.worker_id == DBTaskResult.objects.get().worker_ids[-1]

    clock.shift(datetime.timedelta(days=2))
    upkeep.worker_heartbeat_record(worker_id="another")
    assert list(WorkerHeartbeat.objects.values_list("worker_id", flat=True)) == ["another"]


def test_finished_task_results_are_pruned_after_their_retention(transactional_db, clock, settings):
    settings.OPS = {**settings.OPS, "TASK_RESULT_RETENTION_DAYS": 7}
    worker_heartbeat.enqueue()
    run_worker()
    clock.shift(datetime.timedelta(days=6))
    worker_heartbeat.enqueue()
    run_worker()
    assert DBTaskResult.objects.count() == 2

    clock.shift(datetime.timedelta(days=1, minutes=1))
    upkeep.task_results_prune()
    assert DBTaskResult.objects.count() == 1
