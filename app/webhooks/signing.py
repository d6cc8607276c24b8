"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

Every delivery carries `webhook-id` (the same on every retry), `webhook-timestamp`
(Unix seconds of this attempt) and `webhook-signature: v1,<base64 HMAC-SHA256>`
over `<id>.<timestamp>.<body>`, keyed with the base64-decoded part of the
`whsec_…` secret.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from app.errors import DomainError

PREFIX = "whsec_"
KEY_BYTES = 32
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64  # the specification's bounds for a secret


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def from_key(key: bytes) -> str:
    """The `whsec_` form of a key: what a secret of another form becomes, so the bytes
    the HMAC is keyed with stay the same."""
    return PREFIX + base64.b64encode(key).decode()


def key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; ValueError if it is not one."""
    if not secret.startswith(PREFIX):
        raise ValueError("not a whsec_ secret")
    try:
        raw = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if not raw:
        raise ValueError("empty")
    return raw


def check_secret(secret: str | None, field: str = "secret") -> str:
    """A secret someone typed: `whsec_` and base64 of 24 to 64 bytes."""
    secret = (secret or "").strip()
    try:
        size = len(key(secret))
    except ValueError:
        size = 0
    if not MIN_KEY_BYTES <= size <= MAX_KEY_BYTES:
        raise DomainError("A signing secret is whsec_ followed by the base64 of 24 to 64 random bytes; "
                          "leave it empty and one is made.", field)
    return secret


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value."""
    mac = hmac.new(key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}
