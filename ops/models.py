"""What operations keep: the alert conditions and when each was raised, cleared and emailed;
the workers' heartbeats; the progress last seen of each running contact import."""

from django.db import models

from crm.models import ContactImport


class Alert(models.Model):
    """One condition worth telling operators about (a paused connection, a failing one, a
    queue that lags), identified by its key, raised and cleared as it comes and goes."""

    key = models.CharField(max_length=200, unique=True)
    active = models.BooleanField(default=False)
    summary = models.CharField(max_length=500, blank=True)
    detail = models.TextField(blank=True)
    raised_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    # The last email about this condition (alert or recovery): at most one alert email an
    # hour per condition, however often it flaps.
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # Whether the current (or last) raise was emailed: its recovery is emailed only if so.
    notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["-active", "-raised_at", "key"]

    def __str__(self) -> str:
        return self.summary or self.key


class WorkerHeartbeat(models.Model):
    """The last time a worker ran the scheduled heartbeat task: the health check's proof that
    at least one worker takes tasks."""

    worker_id = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.worker_id} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


class ImportWatch(models.Model):
    """A running contact import's progress as last seen by the stale-import check, and when it
    last moved: an import that has not moved for STALE_IMPORT_MINUTES lost its worker."""

    contact_import = models.OneToOneField(ContactImport, on_delete=models.CASCADE, related_name="+")
    processed = models.PositiveIntegerField(default=0)
    moved_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Import {self.contact_import_id}: {self.processed} rows at {self.moved_at}"
