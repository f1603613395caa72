"""Secrets (encrypted at rest) and the signature headers of a delivery.

The signing secret must be read back to sign, so it cannot be hashed like a key: it is encrypted
with Fernet (the `cryptography` package, already in the lock) under a key derived from
`settings.WEBHOOK_SECRET_KEY` (default: SECRET_KEY). Changing that key makes the stored secrets
unreadable: rotate every subscription's secret afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from cryptography.fernet import Fernet
from django.conf import settings

SECRET_PREFIX = "whsec_"


def _fernet() -> Fernet:
    material = str(getattr(settings, "WEBHOOK_SECRET_KEY", "") or settings.SECRET_KEY)
    digest = hashlib.sha256(f"piazza-webhooks:{material}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def signature(secret: str, timestamp: int, body: str) -> str:
    """Hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def headers(*, delivery_id: str, timestamp: int, body: str, secrets_: Iterable[str]) -> dict[str, str]:
    """`Piazza-Webhook-Signature` carries one `v1=` value per valid secret (two during a rotation)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "piazza-webhooks/1",
        "Piazza-Webhook-Id": delivery_id,
        "Piazza-Webhook-Timestamp": str(timestamp),
        "Piazza-Webhook-Signature": " ".join(f"v1={signature(s, timestamp, body)}" for s in secrets_),
    }
