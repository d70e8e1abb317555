"""Connections to providers, each contact's link to its remote record, and the audit trail."""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from crm.models import Contact

from . import crypto
from .providers import default_base_url, provider_choices, url_kept_exact


class Connection(models.Model):
    """One account at one provider that contacts are pushed to."""

    class Mode(models.TextChoices):
        UPSERT = "upsert", "Update or create"
        CREATE_ONLY = "create_only", "Create only"
        UPDATE_ONLY = "update_only", "Update only"

    class OnDelete(models.TextChoices):
        KEEP = "keep", "Keep the remote record"
        DELETE = "delete", "Delete the remote record"

    class OnLeave(models.TextChoices):
        KEEP = "keep", "Keep the remote record"
        DELETE = "delete", "Delete the remote record"

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=20, choices=provider_choices)
    base_url = models.URLField(
        "base URL",
        max_length=500,
        blank=True,
        help_text="Leave empty for the provider's official URL; set it for the sandbox or a proxy.",
    )
    # Fernet token; read and written through the `api_key` property, never shown.
    api_key_encrypted = models.TextField(editable=False, blank=True)
    enabled = models.BooleanField(default=True)
    auto_push = models.BooleanField(
        default=True, help_text="Push every contact when it is created or changed."
    )
    options = models.JSONField(
        default=dict, blank=True, help_text="Provider-specific settings, as a JSON object."
    )
    # Which of our values go to which provider field: [{"target": …, "source": …}] (see
    # integrations/mapping.py). Empty: the provider's default mapping.
    field_map = models.JSONField(
        "field mapping",
        default=list,
        blank=True,
        help_text="Entries TARGET=SOURCE; none: what the provider is sent by default.",
    )
    # The provider's own field definitions (Close's contact custom fields: id, name, type,
    # accepts_multiple_values, choices) as last fetched; None: never fetched.
    provider_fields = models.JSONField(null=True, blank=True, default=None, editable=False)
    provider_fields_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    concurrency = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        default=None,
        help_text=(
            "Pushes to this connection running at once, across all workers. Leave empty for "
            "as many as its pace needs (2 to 8)."
        ),
    )
    audience = models.TextField(
        blank=True,
        help_text=(
            "Which contacts go there, in the API's query syntax: tag=vip&stage=customer (every "
            "filter of GET /api/v1/contacts/). Empty: every contact."
        ),
    )
    on_leave = models.CharField(
        "when a contact leaves the audience",
        max_length=10,
        choices=OnLeave.choices,
        default=OnLeave.KEEP,
        help_text=(
            "Keep: its link stays, marked as outside the audience. Delete: its record at the "
            "provider is deleted, as for a deleted contact."
        ),
    )
    mode = models.CharField(
        "sync mode",
        max_length=20,
        choices=Mode.choices,
        default=Mode.UPSERT,
        help_text=(
            "Update or create: every contact is kept up to date there. Create only: a contact "
            "is created once and never updated. Update only: only contacts the provider "
            "already has (found by its lookup) are linked and updated; the others are skipped."
        ),
    )
    on_delete = models.CharField(
        "when a contact is deleted",
        max_length=10,
        choices=OnDelete.choices,
        default=OnDelete.KEEP,
        help_text=(
            "Delete: a contact deleted here (admin, API, bulk delete) has its record deleted at "
            "the provider too, through the worker like a push; its link stays until that is "
            "settled. Keep: the remote record stays."
        ),
    )
    rate_limit = models.FloatField(
        "rate ceiling (requests per second)",
        null=True,
        blank=True,
        default=None,
        help_text=(
            "Leave empty to follow the provider: its documented limit at first, then what its "
            "answers say. A number caps that pace; 0 turns our pacing off (a provider's 429 "
            "is still waited out). Counted across all workers."
        ),
    )
    # The pace the provider's last rate headers allowed (requests a second), and the end of
    # the window they described.
    learned_rate = models.FloatField(null=True, blank=True, editable=False)
    learned_rate_until = models.DateTimeField(null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_reason = models.CharField(max_length=500, blank=True, editable=False)
    # The rate limiter's schedule: the earliest time the next request may start.
    next_request_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The inventory of the provider's records (integrations.inventory): when its last complete
    # read started, and how many pages it took; a read under way ({"started_at", "cursor",
    # "pages"}), which any worker continues; and the claim of the worker reading it now.
    inventory_read_at = models.DateTimeField(null=True, blank=True, editable=False)
    inventory_pages = models.PositiveIntegerField(default=0, editable=False)
    inventory_progress = models.JSONField(null=True, blank=True, editable=False)
    inventory_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.base_url:
            self.base_url = default_base_url(self.provider)
        if not url_kept_exact(self.provider):
            self.base_url = self.base_url.rstrip("/")
        super().save(*args, **kwargs)

    @property
    def api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted)

    @api_key.setter
    def api_key(self, value: str) -> None:
        self.api_key_encrypted = crypto.encrypt(value)

    @property
    def api_key_masked(self) -> str:
        try:
            return crypto.mask(self.api_key)
        except crypto.SecretUnreadable:
            return "unreadable: enter the key again"

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    @property
    def is_active(self) -> bool:
        return self.enabled and not self.is_paused


class RemoteReference(models.Model):
    """A remote object the engine remembers for a connection, apart from the options staff
    edit: Close's lead of each company (kind "lead", key the company name in casefold), and
    the inventory of the provider's contacts (integrations.inventory): kind "email" or
    "phone", key the lowercased email or the phone number, remote ID the record's.

    Dropped when the provider says the object no longer exists, then found or made again.
    """

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="remote_references"
    )
    kind = models.CharField(max_length=20)
    key = models.CharField(max_length=255)
    remote_id = models.CharField("remote ID", max_length=255)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "kind", "key"], name="integrations_reference_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} → {self.remote_id}"


class ConnectionSlot(models.Model):
    """One of a connection's `concurrency` push slots, leased by a worker for one push.

    Leases expire, so a worker that dies mid-push frees its slot after LEASE_SECONDS.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="slots")
    number = models.PositiveSmallIntegerField()
    holder = models.CharField(max_length=64, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "number"], name="integrations_slot_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}#{self.number}"


class RemoteLink(models.Model):
    """A contact's record at one connection: its remote ID and whether it has our latest data."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCED = "synced", "Synced"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        # The contact was deleted and its connection deletes remote records: queued.
        DELETING = "deleting", "Deleting"
        DELETED = "deleted", "Deleted"  # the remote record was deleted (or was already gone)

    # Null once the contact is deleted, while the link waits for its remote delete (see
    # integrations.remote_delete): the remote ID and the attempts stay until it is settled.
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="remote_links",
    )
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="links")
    remote_id = models.CharField("remote ID", max_length=255, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # SHA-256 of the last payload the provider accepted: an equal payload is not sent again.
    payload_hash = models.CharField(max_length=64, blank=True)
    # Bumped by every change; a push that started before a change must not mark the link synced.
    generation = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Failed tries since the last success."
    )
    last_pushed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A create whose answer was lost and whose lookup missed (Close's search index lags behind
    # its creates): until this time no push may create again, only look the record up.
    create_unresolved_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error_code = models.CharField(max_length=100, blank=True)
    last_error_message = models.TextField(blank=True)
    # Values the last push left out because the provider can't take them (a tag outside a
    # Close field's choices), one a line; cleared by a push that left nothing out.
    warnings = models.TextField(blank=True)
    # A worker's claim while it pushes, so two workers never push the same link at once.
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    # When a task that will push this link was queued, until that task starts: a change made
    # meanwhile rides on it instead of queueing another (see integrations/queue.py).
    push_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "connection"], name="integrations_link_unique"
            )
        ]
        indexes = [
            models.Index(fields=["connection", "state"], name="integrations_link_state_idx"),
            models.Index(fields=["state", "next_attempt_at"], name="integrations_link_due_idx"),
        ]

    def __str__(self) -> str:
        contact = self.contact_id if self.contact_id is not None else "deleted contact"
        return f"{contact} → {self.connection}"

    @property
    def last_error(self) -> dict | None:
        if not (self.last_error_code or self.last_error_message):
            return None
        return {"code": self.last_error_code, "message": self.last_error_message}


class PushAttempt(models.Model):
    """One HTTP call to a provider: written before the call, completed after it."""

    class Operation(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        LOOKUP = "lookup", "Lookup"
        DELETE = "delete", "Delete"

    class Outcome(models.TextChoices):
        STARTED = "started", "Started"  # still running, or the worker died during the call
        SUCCESS = "success", "Success"
        NOT_FOUND = "not_found", "Not found"
        RETRY = "retry", "Retryable error"
        FAILED = "failed", "Permanent error"
        AUTH = "auth", "Authentication error"
        # The provider refused the connection's settings (a team the key may not use): no
        # push can succeed until staff fix them.
        MISCONFIGURED = "misconfigured", "Connection misconfigured"

    link = models.ForeignKey(RemoteLink, on_delete=models.CASCADE, related_name="push_attempts")
    operation = models.CharField(max_length=10, choices=Operation.choices)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500, help_text="Relative to the base URL, without query.")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField("HTTP status", null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.STARTED)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.operation} {self.http_status or '-'} {self.outcome}"


def push_batch_token() -> str:
    return secrets.token_urlsafe(12)


class PushBatch(models.Model):
    """A push staff queued from the contact list: which contacts, to which connections.

    The contacts are kept as the selection was made, never as a list of every id: the contact
    list's query string (its filters and search) when staff selected everything, or the
    ticked ids otherwise (one page at most). The progress page reads the contacts back from
    it, so a selection of any size is one row.
    """

    token = models.CharField(max_length=32, unique=True, default=push_batch_token, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    connections = models.ManyToManyField(Connection, related_name="+")
    select_across = models.BooleanField(
        default=False, help_text="Every contact the list's filters matched, not ticked ones."
    )
    query = models.TextField(blank=True, help_text="The contact list's query string.")
    contact_ids = models.JSONField(default=list, blank=True, help_text="The ticked contacts.")
    contact_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "push batches"

    def __str__(self) -> str:
        return f"{self.contact_count} contacts at {self.created_at:%Y-%m-%d %H:%M}"
