"""How long the audit trail of pushes is kept."""

import datetime

from django.conf import settings
from django.utils import timezone

from .models import PushAttempt, RemoteLink

CHUNK = 1000


def attempts_prune(*, days: float | None = None) -> int:
    """Delete push attempts older than `days` (default ATTEMPT_RETENTION_DAYS); returns how
    many. Only the audit trail goes: links, and so remote IDs and sync states, stay, except
    the links of deleted contacts whose remote delete was settled that long ago."""
    if days is None:
        days = settings.INTEGRATIONS["ATTEMPT_RETENTION_DAYS"]
    cutoff = timezone.now() - datetime.timedelta(days=days)
    # Deleted by ID in chunks: one huge DELETE would hold the table (and SQLite's one write
    # lock) while the worker wants to record attempts.
    deleted = 0
    old = PushAttempt.objects.filter(started_at__lt=cutoff).order_by()
    while ids := list(old.values_list("pk", flat=True)[:CHUNK]):
        deleted += PushAttempt.objects.filter(pk__in=ids).delete()[0]
    settled = RemoteLink.objects.filter(
        contact=None, state=RemoteLink.State.DELETED, updated_at__lt=cutoff
    ).order_by()
    while ids := list(settled.values_list("pk", flat=True)[:CHUNK]):
        RemoteLink.objects.filter(pk__in=ids).delete()
    return deleted
