"""API keys with scopes, and the stored results of idempotent requests.

Keys are hashed at rest by djangorestframework-api-key: only the prefix (the part before the
dot) is stored in clear, so a key can be identified in the admin but never recovered.
"""

from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Scope(models.TextChoices):
    CONTACTS_READ = "contacts:read", "contacts:read: list, search and retrieve contacts"
    CONTACTS_WRITE = "contacts:write", "contacts:write: create, update and delete contacts"
    PUSH = "push", "push: push contacts to providers"


def validate_scopes(value) -> None:
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise ValidationError("Scopes must be a list of texts.", code="invalid")
    unknown = sorted(set(value) - set(Scope.values))
    if unknown:
        raise ValidationError(
            "Unknown scope(s): %(unknown)s. Use %(known)s.",
            code="invalid_scope",
            params={"unknown": ", ".join(unknown), "known": ", ".join(Scope.values)},
        )
    if len(set(value)) != len(value):
        raise ValidationError("A scope is listed twice.", code="duplicate_scope")


class ScopedAPIKey(AbstractAPIKey):
    """An API key allowed to do what its scopes say, until it expires or is revoked."""

    scopes = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_scopes],
        help_text="What the key may do. A key without scopes can do nothing.",
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    @property
    def is_usable(self) -> bool:
        return not self.revoked and not self.has_expired


class IdempotencyRecord(models.Model):
    """The first response to a create sent with an `Idempotency-Key` header.

    A retry with the same key from the same client gets this response again instead of
    creating a second contact. The row is written in the same transaction as the contact, so
    a crash leaves neither, and the unique constraint makes a concurrent retry wait for the
    first request and then replay it. Rows older than IDEMPOTENCY_KEY_RETENTION are ignored
    and pruned by `manage.py prune_idempotency_records`.
    """

    # "key:<prefix>" for an API key, "user:<id>" for a staff session: keys are per client.
    principal = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path and request body: the same key with another body is an error.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["principal", "key"], name="apikeys_idempotency_unique_per_client"
            )
        ]

    def __str__(self) -> str:
        return f"{self.principal} {self.key}"
