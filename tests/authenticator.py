"""A software passkey authenticator for tests: what a phone or security key does for
WebAuthn, in Python, so the app's server side is tested against real signed answers.

It makes ES256 key pairs, answers navigator.credentials.create() with "none"
attestation and get() with a signed assertion, building authenticatorData by hand
(W3C WebAuthn §6.1: rpIdHash, flags, signCount, attested credential data) and
clientDataJSON as a browser would, for any origin: a test that lies about the origin
or the challenge gets a correctly signed answer the app must still refuse.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    rp_id: str
    user_handle: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})


class Authenticator:
    """Holds credentials like a platform authenticator; `verified` is whether it checks
    the person (a PIN, a fingerprint), `counting` whether it keeps a sign count."""

    def __init__(self, *, verified: bool = True, counting: bool = True):
        self.verified, self.counting = verified, counting
        self.credentials: list[Credential] = []

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.verified else 0) | extra

    def create(self, options: dict, origin: str) -> dict:
        """The answer to navigator.credentials.create(options), as the browser posts it."""
        credential = Credential(rp_id=options["rp"]["id"], user_handle=options["user"]["id"])
        self.credentials.append(credential)
        attested = bytes(16) + struct.pack(">H", len(credential.id)) + credential.id + credential.cose_key()
        auth_data = (hashlib.sha256(credential.rp_id.encode()).digest() + bytes([self._flags(AT)])
                     + struct.pack(">I", 0) + attested)
        client_data = _client_data("webauthn.create", options["challenge"], origin)
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {"id": b64url(credential.id), "rawId": b64url(credential.id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation),
                             "transports": ["internal"]},
                "clientExtensionResults": {}}

    def get(self, options: dict, origin: str, *, credential: Credential | None = None,
            sign_count: int | None = None) -> dict:
        """The answer to navigator.credentials.get(options): the named credential, or the
        first allowed one, or (discoverable) the first for the rp id."""
        allowed = {c["id"] for c in options.get("allowCredentials") or []}
        credential = credential or next(c for c in self.credentials if c.rp_id == options["rpId"]
                                        and (not allowed or b64url(c.id) in allowed))
        if sign_count is None and self.counting:
            credential.sign_count += 1
        count = sign_count if sign_count is not None else credential.sign_count
        auth_data = hashlib.sha256(options["rpId"].encode()).digest() + bytes([self._flags()]) + struct.pack(">I", count)
        client_data = _client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(credential.id), "rawId": b64url(credential.id), "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature), "userHandle": credential.user_handle},
                "clientExtensionResults": {}}


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}).encode()
