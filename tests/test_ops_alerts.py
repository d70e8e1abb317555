"""Alert emails: raised, not repeated within the hour, a recovery when each clears."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from crm.models import Contact
from integrations.models import Connection, PushAttempt, RemoteLink
from ops import alerts
from ops.alerts import alerts_evaluate
from ops.models import Alert
from ops.tasks import retry_sweep

NOW = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def alert_emails(settings):
    settings.ALERT_EMAILS = ["ops@example.com", "oncall@example.com"]


@pytest.fixture
def provider(db) -> Connection:
    connection = Connection(name="GetRaze", provider="getraze", auto_push=False)
    connection.api_key = "a-key"
    connection.save()
    return connection


def pause(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        paused_at=timezone.now(), paused_reason="401 Unauthorized: invalid API key"
    )


def resume(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(paused_at=None, paused_reason="")


def pushes(connection: Connection, *, failed: int, succeeded: int = 0) -> None:
    contact = Contact.objects.create(first_name="Ada", email=f"ada{Contact.objects.count()}@x.io")
    link = RemoteLink.objects.create(contact=contact, connection=connection)
    outcomes = [PushAttempt.Outcome.RETRY] * failed + [PushAttempt.Outcome.SUCCESS] * succeeded
    PushAttempt.objects.bulk_create(
        PushAttempt(link=link, operation="create", method="POST", path="/contacts", outcome=o)
        for o in outcomes
    )


def test_a_paused_connection_is_emailed_once_then_its_recovery(provider, clock):
    pause(provider)

    active = alerts_evaluate()

    assert [alert.summary for alert in active] == ["Connection GetRaze is paused"]
    [email] = mail.outbox
    assert email.subject == "[Relay CRM] Alert: Connection GetRaze is paused"
    assert email.to == ["ops@example.com", "oncall@example.com"]
    assert "401 Unauthorized: invalid API key" in email.body

    for _ in range(5):  # still paused, evaluated every minute: no second email
        clock.shift(MINUTE)
        alerts_evaluate()
    assert len(mail.outbox) == 1

    resume(provider)
    clock.shift(MINUTE)
    assert alerts_evaluate() == []
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "[Relay CRM] Resolved: Connection GetRaze is paused"
    alert = Alert.objects.get()
    assert (alert.active, alert.raised_at, alert.cleared_at) == (
        False,
        NOW,
        NOW + 6 * MINUTE,
    )

    clock.shift(MINUTE)
    alerts_evaluate()
    assert len(mail.outbox) == 2


def test_a_flapping_condition_sends_at_most_one_alert_an_hour(provider, clock):
    pause(provider)
    alerts_evaluate()  # 09:00 alert
    clock.shift(5 * MINUTE)
    resume(provider)
    alerts_evaluate()  # 09:05 recovery
    assert len(mail.outbox) == 2

    clock.shift(5 * MINUTE)
    pause(provider)
    alerts_evaluate()  # 09:10 raised again: an email about it went out 5 minutes ago
    assert len(mail.outbox) == 2
    assert Alert.objects.get().active

    clock.shift(54 * MINUTE)
    alerts_evaluate()  # 10:04: still within the hour
    assert len(mail.outbox) == 2
    clock.shift(MINUTE)
    alerts_evaluate()  # 10:05: an hour since the last email, and still paused
    assert len(mail.outbox) == 3
    assert mail.outbox[2].subject == "[Relay CRM] Alert: Connection GetRaze is paused"


def test_a_raise_never_emailed_clears_without_a_recovery_email(provider, clock):
    pause(provider)
    alerts_evaluate()
    resume(provider)
    clock.shift(MINUTE)
    alerts_evaluate()
    pause(provider)
    clock.shift(MINUTE)
    alerts_evaluate()  # raised, not emailed (an email went out a minute ago)
    resume(provider)
    clock.shift(MINUTE)
    alerts_evaluate()

    assert [email.subject.split(":")[0] for email in mail.outbox] == [
        "[Relay CRM] Alert",
        "[Relay CRM] Resolved",
    ]


@pytest.mark.parametrize(
    ("failed", "succeeded", "alerted"),
    [
        (20, 500, True),  # 20 failed pushes in the hour
        (19, 500, False),
        (5, 5, True),  # half of its pushes, once it made 10
        (5, 6, False),
        (4, 4, False),  # half, but too few pushes to tell
    ],
)
def test_a_connection_failing_past_a_threshold_is_alerted(
    provider, clock, failed, succeeded, alerted
):
    pushes(provider, failed=failed, succeeded=succeeded)

    active = alerts_evaluate()

    assert [alert.key for alert in active] == ([f"connection-failing:{provider.pk}"] * alerted)
    assert len(mail.outbox) == alerted
    if alerted:
        assert mail.outbox[0].subject == "[Relay CRM] Alert: Pushes to GetRaze are failing"
        assert f"{failed} of {failed + succeeded} pushes" in mail.outbox[0].body


def test_failures_older_than_an_hour_no_longer_count(provider, clock):
    pushes(provider, failed=20)
    alerts_evaluate()
    clock.shift(60 * MINUTE)
    assert alerts_evaluate() != []

    clock.shift(MINUTE)
    assert alerts_evaluate() == []
    assert mail.outbox[-1].subject == "[Relay CRM] Resolved: Pushes to GetRaze are failing"


def test_a_lagging_queue_is_alerted_and_its_recovery_sent(db, clock, settings):
    settings.OPS = {**settings.OPS, "ALERT_QUEUE_LAG_SECONDS": 600}
    result = retry_sweep.enqueue()
    clock.shift(10 * MINUTE)
    assert alerts_evaluate() == []

    clock.shift(MINUTE)
    [alert] = alerts_evaluate()
    assert alert.key == "queue-lag"
    assert "waited 11 minutes" in mail.outbox[0].body

    DBTaskResult.objects.filter(pk=result.id).delete()
    assert alerts_evaluate() == []
    assert mail.outbox[1].subject == "[Relay CRM] Resolved: The task queue lags"


def test_without_alert_emails_alerts_are_kept_but_not_sent(provider, clock, settings):
    settings.ALERT_EMAILS = []
    pause(provider)

    assert len(alerts_evaluate()) == 1
    resume(provider)
    assert alerts_evaluate() == []
    assert mail.outbox == []


def test_an_alert_email_that_fails_is_sent_at_the_next_evaluation(provider, clock, monkeypatch):
    def mail_server_down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    pause(provider)
    with monkeypatch.context() as patch:
        patch.setattr(alerts, "send_mail", mail_server_down)
        alerts_evaluate()
    assert mail.outbox == []
    assert Alert.objects.get().last_sent_at is None

    clock.shift(MINUTE)
    alerts_evaluate()
    assert len(mail.outbox) == 1


def test_the_admin_index_shows_the_active_alerts(staff_client, provider, clock):
    assert "Connection GetRaze is paused" not in staff_client.get("/admin/").content.decode()

    pause(provider)
    alerts_evaluate()
    html = staff_client.get("/admin/").content.decode()

    assert "Connection GetRaze is paused" in html
    assert "401 Unauthorized: invalid API key" in html
