"""Writes and checks for API keys and idempotency records."""

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import IdempotencyRecord, ScopedAPIKey, validate_scopes

# Longer than any key the library generates (8 + 1 + 32); anything longer is not a key.
MAX_KEY_LENGTH = 100


class InvalidAPIKey(Exception):
    """The key is unknown, revoked or expired. The message is safe to show to the client."""


def api_key_create(
    *, name: str, scopes: Iterable[str], expiry_date: datetime.datetime | None = None
) -> tuple[ScopedAPIKey, str]:
    """Create a key and return it with its secret, which is not stored and cannot be shown again."""
    api_key = ScopedAPIKey(name=name, scopes=list(scopes), expiry_date=expiry_date)
    api_key.full_clean(exclude=["id", "prefix", "hashed_key"])
    secret = ScopedAPIKey.objects.assign_key(api_key)
    api_key.save()
    return api_key, secret


def api_key_authenticate(*, key: str) -> ScopedAPIKey:
    """The usable key matching the secret `key`; raises InvalidAPIKey otherwise.

    Why a key is refused (revoked, expired) is only said to a caller who holds the real
    secret; anyone else learns only that the key is invalid.
    """
    key = key.strip()
    prefix, dot, _ = key.partition(".")
    if not dot or len(key) > MAX_KEY_LENGTH:
        raise InvalidAPIKey("Invalid API key.")
    api_key = ScopedAPIKey.objects.filter(prefix=prefix).first()
    if api_key is None or not api_key.is_valid(key):
        raise InvalidAPIKey("Invalid API key.")
    if api_key.revoked:
        raise InvalidAPIKey("This API key has been revoked.")
    if api_key.has_expired:
        raise InvalidAPIKey("This API key has expired.")
    return api_key


def api_key_revoke(*, api_key: ScopedAPIKey) -> None:
    if not api_key.revoked:
        api_key.revoked = True
        api_key.save(update_fields=["revoked"])


def idempotency_retention() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.IDEMPOTENCY_KEY_RETENTION_HOURS)


def idempotency_records_prune(*, older_than: datetime.timedelta | None = None) -> int:
    """Delete idempotency records past their retention; returns how many were deleted."""
    cutoff = timezone.now() - (older_than if older_than is not None else idempotency_retention())
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def scopes_parse(text: str) -> list[str]:
    """Scopes from a comma-separated list, validated."""
    scopes = [part.strip() for part in text.split(",") if part.strip()]
    try:
        validate_scopes(scopes)
    except ValidationError as exc:
        raise ValueError(exc.messages[0]) from None
    return scopes
