"""Alert conditions, raised and cleared each time they are evaluated (every minute by the
scheduler), and emailed to ALERT_EMAILS.

Email rules: an alert is emailed when it is raised, unless an email about the same condition
went out less than ALERT_EMAIL_INTERVAL_SECONDS ago (then it is emailed once that has passed,
if still active); its recovery is emailed when it clears, only if the alert itself was. A
flapping condition therefore sends at most one alert and its recovery an hour.
"""

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import selectors
from .models import Alert

logger = logging.getLogger(__name__)

FAILURE_WINDOW = datetime.timedelta(hours=1)


def when(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


@dataclass(frozen=True)
class Condition:
    key: str
    summary: str
    detail: str


def conditions_current(*, now: datetime.datetime) -> list[Condition]:
    """Every alert condition true now."""
    config = settings.OPS
    conditions = [
        Condition(
            key=f"connection-paused:{connection.pk}",
            summary=f"Connection {connection.name} is paused",
            detail=(
                f"Paused since {when(connection.paused_at)}: "
                f"{connection.paused_reason or 'no reason recorded'}.\n"
                "Its pushes wait until its API key is fixed or it is resumed (admin, "
                "Connections)."
            ),
        )
        for connection in selectors.connections_paused()
    ]
    for stats in selectors.connection_failures(since=now - FAILURE_WINDOW):
        if stats.failed >= config["ALERT_FAILED_PUSHES"] or (
            stats.pushes >= config["ALERT_MIN_PUSHES"]
            and stats.failed >= config["ALERT_FAILED_SHARE"] * stats.pushes
        ):
            conditions.append(
                Condition(
                    key=f"connection-failing:{stats.connection.pk}",
                    summary=f"Pushes to {stats.connection.name} are failing",
                    detail=(
                        f"{stats.failed} of {stats.pushes} pushes to {stats.connection.name} "
                        "failed in the last hour (admin, Remote links, for the errors)."
                    ),
                )
            )
    lag = selectors.queue_lag_seconds(now=now)
    if lag > config["ALERT_QUEUE_LAG_SECONDS"]:
        conditions.append(
            Condition(
                key="queue-lag",
                summary="The task queue lags",
                detail=(
                    f"The oldest task due has waited {lag / 60:.0f} minutes for a worker "
                    f"(alert above {config['ALERT_QUEUE_LAG_SECONDS'] / 60:.0f}). Are the "
                    "workers running, and enough of them?"
                ),
            )
        )
    return conditions


@dataclass(frozen=True)
class Email:
    alert: Alert
    recovery: bool
    previous_sent_at: datetime.datetime | None


def may_email(alert: Alert, now: datetime.datetime) -> bool:
    interval = datetime.timedelta(seconds=settings.OPS["ALERT_EMAIL_INTERVAL_SECONDS"])
    return bool(settings.ALERT_EMAILS) and (
        alert.last_sent_at is None or now - alert.last_sent_at >= interval
    )


def alerts_evaluate(*, now: datetime.datetime | None = None) -> list[Alert]:
    """Raise, refresh and clear alerts from the conditions true now, then send the emails
    due. Returns the alerts active now. Safe to run concurrently: the rows are locked."""
    now = now or timezone.now()
    current = {condition.key: condition for condition in conditions_current(now=now)}
    emails = []
    with transaction.atomic():
        for key in current:
            Alert.objects.get_or_create(key=key)
        rows = Alert.objects.select_for_update().filter(Q(key__in=current) | Q(active=True))
        for alert in rows.order_by("pk"):
            if email := alert_update(alert, current.get(alert.key), now=now):
                emails.append(email)
    for email in emails:
        alert_email_send(email, now=now)
    return selectors.alerts_active()


def alert_update(
    alert: Alert, condition: Condition | None, *, now: datetime.datetime
) -> Email | None:
    """Move one alert to what its condition says now; returns the email due, if any."""
    previous_sent_at = alert.last_sent_at
    email = None
    if condition is not None:
        if not alert.active:
            alert.active, alert.raised_at, alert.cleared_at = True, now, None
            alert.notified = False
        alert.summary, alert.detail = condition.summary, condition.detail
        if not alert.notified and may_email(alert, now):
            alert.notified, alert.last_sent_at = True, now
            email = Email(alert=alert, recovery=False, previous_sent_at=previous_sent_at)
    elif alert.active:
        alert.active, alert.cleared_at = False, now
        if alert.notified and settings.ALERT_EMAILS:
            alert.last_sent_at = now
            email = Email(alert=alert, recovery=True, previous_sent_at=previous_sent_at)
    alert.save()
    return email


def alert_email_send(email: Email, *, now: datetime.datetime) -> None:
    alert = email.alert
    if email.recovery:
        subject = f"[Relay CRM] Resolved: {alert.summary}"
        body = (
            f"Resolved at {when(alert.cleared_at)} "
            f"(raised at {when(alert.raised_at)}).\n\n"
            f"It was: {alert.detail}\n"
        )
    else:
        subject = f"[Relay CRM] Alert: {alert.summary}"
        body = (
            f"Raised at {when(alert.raised_at)}.\n\n{alert.detail}\n\n"
            "A recovery email follows when it clears. Active alerts are listed on the admin "
            "index.\n"
        )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, settings.ALERT_EMAILS)
    except Exception:
        logger.exception("Alert email %r not sent", subject)
        if not email.recovery:
            # Not sent, so not counted: the next evaluation tries again.
            Alert.objects.filter(pk=alert.pk, last_sent_at=now).update(
                notified=False, last_sent_at=email.previous_sent_at
            )
