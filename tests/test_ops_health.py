"""/health/: 200 when every check passes, 503 naming the failing checks."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from ops import health
from ops.models import WorkerHeartbeat
from ops.tasks import retry_sweep, worker_heartbeat

NOW = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def migrations_checked_afresh():
    health.migrations_verified.clear()
    yield
    health.migrations_verified.clear()


def run_worker() -> None:
    """The real worker (tests that run it need transactional_db: it manages connections)."""
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)


def test_a_healthy_stack_answers_200_with_every_check(client, transactional_db, clock):
    worker_heartbeat.enqueue()
    run_worker()  # the real worker runs the heartbeat the scheduler queues

    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert list(body["checks"]) == ["database", "cache", "migrations", "worker", "queue_lag"]
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["worker"]["last_seen_seconds_ago"] == 0
    assert body["checks"]["queue_lag"]["seconds"] == 0
    assert response["Cache-Control"].startswith("max-age=0")


def test_no_worker_seen_in_the_last_minute_is_a_503_naming_the_worker(client, db, clock):
    response = client.get("/health/")
    assert (response.status_code, response.json()["failing"]) == (503, ["worker"])

    WorkerHeartbeat.objects.create(worker_id="w1", seen_at=timezone.now())
    clock.shift(datetime.timedelta(seconds=60))
    assert client.get("/health/").status_code == 200
    clock.shift(datetime.timedelta(seconds=1))
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {
        "ok": False,
        "last_seen_seconds_ago": 61.0,
        "limit_seconds": 60,
    }


def test_the_queue_lag_is_the_age_of_the_oldest_task_due(client, transactional_db, clock, settings):
    settings.OPS = {**settings.OPS, "QUEUE_LAG_SECONDS": 300}
    retry_sweep.enqueue()  # due now
    retry_sweep.using(run_after=NOW + datetime.timedelta(minutes=4)).enqueue()  # due later

    clock.shift(datetime.timedelta(minutes=5))
    WorkerHeartbeat.objects.create(worker_id="w1", seen_at=timezone.now())
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["checks"]["queue_lag"]["seconds"] == 300

    clock.shift(datetime.timedelta(seconds=30))
    WorkerHeartbeat.objects.update(seen_at=timezone.now())
    response = client.get("/health/")
    assert (response.status_code, response.json()["failing"]) == (503, ["queue_lag"])
    assert response.json()["checks"]["queue_lag"]["seconds"] == 330

    run_worker()  # the worker drains the queue: nothing waits any more
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["checks"]["queue_lag"]["seconds"] == 0


def test_unapplied_migrations_are_a_503(client, db, clock):
    WorkerHeartbeat.objects.create(worker_id="w1", seen_at=timezone.now())
    MigrationRecorder(db_connection).record_unapplied("ops", "0001_initial")

    response = client.get("/health/")

    assert (response.status_code, response.json()["failing"]) == (503, ["migrations"])
    assert response.json()["checks"]["migrations"] == {"ok": False, "unapplied": 1}


def test_a_cache_that_does_not_keep_values_is_a_503(client, db, clock, settings):
    WorkerHeartbeat.objects.create(worker_id="w1", seen_at=timezone.now())
    settings.CACHES = {
        **settings.CACHES,
        "import_progress": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }

    response = client.get("/health/")

    assert (response.status_code, response.json()["failing"]) == (503, ["cache"])
    assert response.json()["checks"]["cache"] == {"ok": False, "failing": ["import_progress"]}


def test_a_check_that_raises_fails_without_telling_why(client, db, clock, monkeypatch):
    def database_down():
        raise RuntimeError("connection refused at 10.0.0.5")

    monkeypatch.setitem(health.CHECKS, "database", database_down)
    WorkerHeartbeat.objects.create(worker_id="w1", seen_at=timezone.now())

    response = client.get("/health/")

    assert (response.status_code, response.json()["failing"]) == (503, ["database"])
    assert "10.0.0.5" not in response.content.decode()


def test_health_is_not_redirected_to_https(client, db, clock, settings):
    settings.SECURE_SSL_REDIRECT = True
    WorkerHeartbeat.objects.create(worker_id="w1", seen_at=timezone.now())

    assert client.get("/health/").status_code == 200
    assert client.get("/admin/login/").status_code == 301
