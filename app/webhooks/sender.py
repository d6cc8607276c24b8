"""One POST of one webhook delivery: signed, to a vetted address, never redirected.

Callers (the engine's delivery jobs) claim their row and commit first: `deliver`
makes a network call and must run outside any transaction. It never raises for
what the receiver or the network does; the `Result` says whether it arrived and,
if not, whether trying again may help (5xx, 408, 429, timeouts, refused
connections, names that do not resolve) or not (other answers, redirects, refused
addresses).
"""
from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime

from app.webhooks import addresses, signing

TIMEOUT_SECONDS = 10
USER_AGENT = "Firebreak-Webhooks/1"
RETRY_STATUSES = {408, 429}
READ_LIMIT = 4096

_tls: ssl.SSLContext | None = None


@dataclass(frozen=True)
class Result:
    code: int | None    # the receiver's HTTP status, if it answered
    error: str | None   # None: delivered (a 2xx answer)
    retry: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


def _connect(target: addresses.Target, timeout: float) -> socket.socket:
    """A connection to one of the vetted addresses, in the resolver's order."""
    error: OSError | None = None
    for address in target.addresses:
        try:
            return socket.create_connection((address, target.port), timeout)
        except OSError as failed:
            error = failed
    raise error or OSError("no address")


class _PinnedHTTP(http.client.HTTPConnection):
    """Plain HTTP to the vetted address; the Host header still names the host."""

    def __init__(self, target: addresses.Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.target = target

    def connect(self):
        self.sock = _connect(self.target, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the vetted address, with SNI and the certificate checked for the host."""

    def __init__(self, target: addresses.Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=_context())
        self.target = target

    def connect(self):
        self.sock = _context().wrap_socket(_connect(self.target, self.timeout), server_hostname=self.target.host)


def _post(target: addresses.Target, body: bytes, headers: dict, timeout: float) -> tuple[int, str, str | None]:
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(READ_LIMIT)
        return response.status, response.reason or "", response.getheader("Location")
    finally:
        connection.close()


def deliver(url: str, secret: str, msg_id: str, body: bytes, now: datetime, *, event: str | None = None,
            timeout: float = TIMEOUT_SECONDS, allow: frozenset[str] | None = None) -> Result:
    """Sign `body` as message `msg_id` at `now` and POST it to `url`."""
    if not secret:
        return Result(None, "the webhook has no signing secret")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               **signing.headers(secret, msg_id, int(now.timestamp()), body)}
    if event:
        headers["X-Firebreak-Event"] = event
    try:
        target = addresses.vet(url, allow)
    except addresses.Refused as refused:
        return Result(None, f"refused: {refused}")
    except addresses.Unresolved as unresolved:
        return Result(None, str(unresolved), retry=True)
    try:
        code, reason, location = _post(target, body, headers, timeout)
    except (OSError, http.client.HTTPException) as error:  # refused, timed out, TLS, a broken answer
        return Result(None, f"could not reach {target.netloc}: {error or type(error).__name__}", retry=True)
    if 200 <= code < 300:
        return Result(code, None)
    if 300 <= code < 400:
        where = f" to {location}" if location else ""
        return Result(code, f"HTTP {code}: redirected{where}, not followed; give the webhook's final address")
    return Result(code, f"HTTP {code} {reason}".strip(), retry=code >= 500 or code in RETRY_STATUSES)
