"""The scheduler's jobs: when each runs, what each does, and `manage.py scheduler`."""

import datetime

import crontask
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from ops import schedule
from ops.models import Alert

NOW = datetime.datetime(2026, 3, 2, 9, 0, 30, tzinfo=datetime.UTC)  # a Monday


@pytest.fixture
def scheduler():
    """A scheduler that is never started: its jobs are only inspected and called."""
    return BackgroundScheduler()


def next_runs(scheduler) -> dict[str, datetime.datetime]:
    return {
        job.name: job.trigger.get_next_fire_time(None, NOW).astimezone(datetime.UTC)
        for job in scheduler.get_jobs()
        if job.name != "worker_heartbeat"  # every HEARTBEAT_SECONDS from the start
    }


def test_every_job_is_scheduled_at_its_default_time(scheduler, settings):
    settings.TIME_ZONE = "UTC"

    names = schedule.jobs_schedule(scheduler)

    assert sorted(names) == sorted([*settings.OPS_SCHEDULES, "worker_heartbeat"])
    at = datetime.datetime
    assert next_runs(scheduler) == {
        "retry_sweep": at(2026, 3, 2, 9, 1, tzinfo=datetime.UTC),
        "stale_imports": at(2026, 3, 2, 9, 1, tzinfo=datetime.UTC),
        "alerts": at(2026, 3, 2, 9, 1, tzinfo=datetime.UTC),
        "push_attempts_prune": at(2026, 3, 3, 3, 17, tzinfo=datetime.UTC),
        "idempotency_records_prune": at(2026, 3, 2, 9, 27, tzinfo=datetime.UTC),
        "task_results_prune": at(2026, 3, 3, 3, 37, tzinfo=datetime.UTC),
    }
    heartbeat = scheduler.get_job("worker_heartbeat")
    assert heartbeat.trigger.interval == datetime.timedelta(seconds=30)


def test_schedules_are_settings_and_off_turns_a_job_off(scheduler, settings):
    settings.TIME_ZONE = "UTC"
    settings.OPS_SCHEDULES = {
        **settings.OPS_SCHEDULES,
        "retry_sweep": "*/5 * * * mon-fri",
        "task_results_prune": "off",
    }

    schedule.jobs_schedule(scheduler)

    runs = next_runs(scheduler)
    assert runs["retry_sweep"] == datetime.datetime(2026, 3, 2, 9, 5, tzinfo=datetime.UTC)
    assert "task_results_prune" not in runs


def test_a_schedule_may_be_every_few_seconds(scheduler, settings):
    """Below a minute, which crontab cannot say: for a test stack, or prompt alerts."""
    settings.OPS_SCHEDULES = {**settings.OPS_SCHEDULES, "alerts": "every 5 seconds"}

    schedule.jobs_schedule(scheduler)

    assert scheduler.get_job("alerts").trigger.interval == datetime.timedelta(seconds=5)
    assert next_runs(scheduler)["retry_sweep"].second == 0  # the others keep their crontab


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("every 0 seconds", "five fields expected"),
        ("every 5 minutes", "five fields expected"),
        ("0 3 * * 1", "name the weekdays"),
        ("0 3 * *", "five fields expected"),
        ("61 3 * * *", "61 3 * * *"),
    ],
)
def test_a_wrong_schedule_is_refused_at_start(scheduler, settings, expression, problem):
    settings.OPS_SCHEDULES = {**settings.OPS_SCHEDULES, "retry_sweep": expression}

    with pytest.raises(ImproperlyConfigured, match=problem):
        schedule.jobs_schedule(scheduler)


def test_an_unknown_job_is_refused(scheduler, settings):
    settings.OPS_SCHEDULES = {**settings.OPS_SCHEDULES, "vacuum": "* * * * *"}

    with pytest.raises(ImproperlyConfigured, match="vacuum"):
        schedule.jobs_schedule(scheduler)


def test_upkeep_jobs_queue_their_task_and_alerts_run_in_the_scheduler(transactional_db, scheduler):
    # transactional_db: each job drops stale connections first, as after a request.
    schedule.jobs_schedule(scheduler)
    jobs = {job.name: job for job in scheduler.get_jobs()}

    for name in ("retry_sweep", "push_attempts_prune", "worker_heartbeat"):
        jobs[name].func()
    assert sorted(DBTaskResult.objects.values_list("task_path", flat=True)) == [
        "ops.tasks.push_attempts_prune",
        "ops.tasks.retry_sweep",
        "ops.tasks.worker_heartbeat",
    ]

    jobs["alerts"].func()  # no worker needed: the lagging queue is seen by the scheduler
    assert not Alert.objects.exists()


def test_the_scheduler_command_schedules_the_jobs_and_runs_crontask(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(
        "ops.management.commands.scheduler.call_command",
        lambda command, **options: calls.append((type(command).__module__, options)),
    )
    try:
        call_command("scheduler")
        names = {job.name for job in crontask.scheduler.get_jobs()}
    finally:
        crontask.scheduler.remove_all_jobs()

    assert calls == [
        ("crontask.management.commands.crontask", {"no_task_loading": True, "no_heartbeat": True})
    ]
    assert {"retry_sweep", "alerts", "worker_heartbeat"} <= names
    assert "Scheduled retry_sweep." in capsys.readouterr().out
