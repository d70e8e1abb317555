"""`Idempotency-Key` for creates: a retried request returns the first result.

A client that did not get an answer (timeout, dropped connection) can send the same create
again with the same key and gets the first response instead of a second contact. Only
successful responses are remembered: a request that failed (validation, conflict) created
nothing, so sending it again simply runs it again. Keys are remembered per client (API key
or staff user) for settings.IDEMPOTENCY_KEY_RETENTION_HOURS.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from .models import IdempotencyRecord, ScopedAPIKey
from .services import idempotency_retention

HEADER = "Idempotency-Key"
MAX_LENGTH = IdempotencyRecord._meta.get_field("key").max_length
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = (
        "This Idempotency-Key was already used with a different request; "
        "use a new key for a new request."
    )


def idempotent(request, run: Callable[[], Response]) -> Response:
    """Run `run` once per Idempotency-Key; without the header, just run it."""
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is None:
        return run()
    key = _clean_key(key)
    principal = _principal(request)
    fingerprint = _fingerprint(request)

    found = _find(principal, key)
    if found is not None:
        return _replay(found, fingerprint)
    try:
        # The key is claimed before the request runs, in the request's transaction: a
        # concurrent request with the same key blocks on the unique constraint until this one
        # ends, then replays its result (or, if this one failed and rolled back, runs itself).
        # Claiming first matters: run last, the record would come after the contact's own
        # unique email, and a concurrent retry would fail on the email (409) instead.
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                principal=principal, key=key, fingerprint=fingerprint, status_code=0, body={}
            )
            response = run()
            if status.is_success(response.status_code):
                record.status_code = response.status_code
                record.body = json.loads(json.dumps(response.data, cls=JSONEncoder))
                record.location = response.headers.get("Location", "")
                record.save(update_fields=["status_code", "body", "location"])
            else:
                # A failed request created nothing and is not remembered: sending it again
                # simply runs it again.
                transaction.set_rollback(True)
    except IntegrityError:
        found = _find(principal, key)
        if found is None:
            raise
        return _replay(found, fingerprint)
    return response


def _clean_key(raw: str) -> str:
    key = raw.strip()
    if not key or len(key) > MAX_LENGTH or not (key.isascii() and key.isprintable()):
        raise ValidationError(
            {
                HEADER: [
                    ErrorDetail(
                        f"{HEADER} must be 1 to {MAX_LENGTH} printable ASCII characters, "
                        "for example a UUID.",
                        code="invalid",
                    )
                ]
            }
        )
    return key


def _principal(request) -> str:
    if isinstance(request.auth, ScopedAPIKey):
        return f"key:{request.auth.prefix}"
    return f"user:{request.user.pk}"


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _find(principal: str, key: str) -> IdempotencyRecord | None:
    cutoff = timezone.now() - idempotency_retention()
    record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
    if record is not None and record.created_at < cutoff:
        # Past retention the key is free again, as if it had been pruned.
        record.delete()
        return None
    return record


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    headers = {REPLAYED_HEADER: "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(record.body, status=record.status_code, headers=headers)
