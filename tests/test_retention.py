"""Retention: push attempts (the audit trail) are pruned by age; links are never touched."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from crm.services import contact_upsert
from integrations.models import Connection, PushAttempt, RemoteLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def link():
    connection = Connection(
        name="audit", provider="getraze", base_url="http://127.0.0.1:9/x", auto_push=False
    )
    connection.api_key = "retention-test-key-123"
    connection.save()
    contact = contact_upsert(data={"first_name": "Ada", "email": "ada@example.com"})
    link = RemoteLink.objects.create(
        contact=contact, connection=connection, remote_id="r-1", state="synced"
    )
    now = timezone.now()
    for age_days in (400, 40, 31, 29, 1, 0):
        PushAttempt.objects.create(
            link=link,
            operation="update",
            method="PUT",
            path="/contacts/r-1",
            started_at=now - datetime.timedelta(days=age_days, minutes=1),
        )
    return link


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("push_contacts", "--prune", *args, stdout=out)
    return out.getvalue()


def ages() -> list[int]:
    now = timezone.now()
    return sorted((now - a.started_at).days for a in PushAttempt.objects.all())


def link_row(link: RemoteLink) -> dict:
    return RemoteLink.objects.filter(pk=link.pk).values().get()


def test_pruning_deletes_attempts_older_than_the_retention_and_keeps_links(link):
    before = link_row(link)

    assert prune() == "3 push attempts deleted.\n"  # default: 30 days

    assert ages() == [0, 1, 29]
    assert link_row(link) == before


def test_the_retention_is_a_setting_and_an_option(link, settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "ATTEMPT_RETENTION_DAYS": 35}
    assert prune() == "2 push attempts deleted.\n"
    assert ages() == [0, 1, 29, 31]

    assert prune("--days", "7") == "2 push attempts deleted.\n"
    assert ages() == [0, 1]
    assert RemoteLink.objects.filter(pk=link.pk, remote_id="r-1", state="synced").exists()


def test_days_goes_with_prune_and_is_not_negative(link):
    with pytest.raises(CommandError, match="--days goes with --prune"):
        call_command("push_contacts", "--pending", "--days", "3", stdout=io.StringIO())
    with pytest.raises(CommandError, match="negative"):
        prune("--days", "-1")
    assert len(ages()) == 6
