"""Standard Webhooks signatures (https://www.standardwebhooks.com/): the secret, the
`webhook-*` headers of one delivery, and the receiver URLs a webhook may use."""

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix a secret starts with, not one)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def secret_bytes(secret: str) -> bytes:
    """The signing key: the bytes the base64 after `whsec_` encodes (ValueError if none)."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("The secret is not whsec_ then base64.") from None


def signed_headers(*, key: bytes, message_id: str, timestamp: int, body: bytes) -> dict:
    """The headers that let a receiver check `body`: v1, the base64 HMAC-SHA256 of
    "<id>.<timestamp>.<body>" keyed with the secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }


def message_id(*, key: bytes, seed: str) -> str:
    """A delivery's id, derived from what it delivers, so every retry of it carries the same."""
    return "msg_" + hmac.new(key, seed.encode(), hashlib.sha256).hexdigest()[:32]


def settings_problem(*, base_url: str, api_key: str) -> str | None:
    """What is wrong with a webhook's receiver URL or secret, or None."""
    host = base_url.partition("://")[2].split("/")[0].rsplit(":", 1)[0]
    local = base_url.startswith("http://") and host in LOCAL_HOSTS
    if not (base_url.startswith("https://") and host) and not local:
        return "A webhook needs the receiver's HTTPS URL (plain HTTP only on localhost)."
    try:
        size = len(secret_bytes(api_key))
    except ValueError:
        size = 0
    if not api_key.startswith(SECRET_PREFIX) or not 24 <= size <= 64:
        return "A webhook secret is whsec_ then the base64 of 24 to 64 random bytes."
    return None
