"""Idempotency-Key on POST: a request sent again (a retry after a timeout, a script run
twice) gets the first answer back and creates nothing.

A POST with `Idempotency-Key: <up to 255 printable characters>` is remembered, per API
token, with a digest of the request (method, path, query and body) and, once it
succeeded, its answer. Within IDEMPOTENCY_HOURS:

- the same key with the same request answers the first answer again, with
  `Idempotent-Replayed: true`, and runs nothing;
- the same key with another request is refused (422) and changes nothing;
- the same key while the first is still running is refused (409): try again shortly.

The key's row is added to the request's own transaction before the view runs, so it is
committed with what the view made and with nothing else: a refused request (rolled
back) leaves no trace and may be sent again, corrected, with the same key, and two
copies racing each other cannot both commit (the key is unique per token). Only 2xx
answers are kept; the row is written over once the answer is known.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Response, g, request
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.database import UTCDateTime
from app.errors import Conflict, DomainError
from app.extensions import db

IDEMPOTENCY_HOURS = 24
MAX_KEY = 255
KEPT_HEADERS = ("Location", "ETag", "Content-Type")


class IdempotencyKey(db.Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(sa.ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[int | None] = mapped_column(sa.Integer)      # None while the first request runs
    body: Mapped[str | None] = mapped_column(sa.Text)
    headers: Mapped[str | None] = mapped_column(sa.Text)        # JSON: the kept headers


class KeyReused(DomainError):
    status = 422


def _digest() -> str:
    sent = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        sent.update(part.encode() + b"\0")
    sent.update(request.get_data(cache=True))
    return sent.hexdigest()


def _key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= MAX_KEY or not key.isprintable():
        raise DomainError(f"Idempotency-Key must be 1 to {MAX_KEY} printable characters, e.g. a UUID.")
    return key


def before(token_id: int) -> Response | None:
    """Before a POST's view: the first answer again, a refusal, or None to go on (the
    key then waits in the session for the view's commit)."""
    key = _key()
    if key is None:
        return None
    now, digest = clock.now(), _digest()
    row = db.session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.token_id == token_id,
                                                            IdempotencyKey.key == key))
    if row is not None and row.created_at <= now - timedelta(hours=IDEMPOTENCY_HOURS):
        db.session.delete(row)  # too old to count: the key starts over
        db.session.flush()
        row = None
    if row is not None:
        if row.request_hash != digest:
            raise KeyReused("This Idempotency-Key was used with another request in the last "
                            f"{IDEMPOTENCY_HOURS} hours: use a new key for a new request.")
        if row.status is None:
            raise Conflict("A request with this Idempotency-Key is still being answered (or its answer was "
                           "lost): read what it made before sending it again with a new key.")
        replay = Response(row.body, status=row.status)
        for name, value in json.loads(row.headers or "{}").items():
            replay.headers[name] = value
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    g.idempotency = IdempotencyKey(token_id=token_id, key=key, request_hash=digest, created_at=now)
    db.session.add(g.idempotency)
    return None


def after(response: Response) -> Response:
    """After the view: a success is kept for the next copy of the request."""
    row = g.pop("idempotency", None)
    if row is None or not 200 <= response.status_code < 300:
        return response
    if sa.inspect(row).persistent:  # committed with what the view made
        row.status, row.body = response.status_code, response.get_data(as_text=True)
        row.headers = json.dumps({name: response.headers[name] for name in KEPT_HEADERS if name in response.headers})
        db.session.commit()
    return response
