"""Encryption of secrets at rest (provider API keys) with Fernet.

The Fernet key is derived from settings.FIELD_ENCRYPTION_KEY when set, else from SECRET_KEY, so
no extra secret is needed to start; rotating the source key makes stored secrets unreadable
(they must be entered again), which is why a dedicated FIELD_ENCRYPTION_KEY is recommended.
"""

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the current key (the key was rotated)."""


@functools.cache
def _fernet(source: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"relay-crm", info=b"field-encryption"
    ).derive(source.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet() -> Fernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY or settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted with the current key."
        ) from None


def mask(secret: str) -> str:
    """Enough to recognise which key is stored, never enough to use it."""
    if not secret:
        return ""
    return "••••" + secret[-4:] if len(secret) >= 12 else "••••"
