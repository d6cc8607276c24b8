"""Putting messages in the outbox. Rows only: the engine sends them (see dispatch)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.engine import memo
from app.extensions import db
from app.notify.models import Channel, Notification, Status


@dataclass(frozen=True)
class OutboxOf(memo.Key):
    """An incident's outbox rows by key (`remember_incidents`)."""

    incident_id: int


def enqueue(*, key: str, purpose: str, channel: Channel, to_address: str, body: str, due: datetime,
            subject: str = "", html_body: str | None = None, user_id: int | None = None, contact_method_id: int | None = None,
            incident_id: int | None = None, rule_id: int | None = None,
            fallback_for_id: int | None = None, now: datetime | None = None, flush: bool = True) -> Notification:
    """Add a message to the outbox, once: a second call with the same key returns the first row.
    (`flush=False`: the caller flushes before it needs the new row's id.)

    The subject becomes an email header: it is made one line here (titles people type
    may hold line breaks), so no message is refused by the mailer or adds a header."""
    current = memo.current()
    known = current.get(OutboxOf(incident_id)) if current is not None else None  # see remember_incidents
    if known is not None:
        existing = known.get(key)
    else:
        existing = db.session.scalar(sa.select(Notification).where(Notification.key == key))
    if existing is not None:
        return existing
    row = Notification(key=key[:200], purpose=purpose, channel=channel, to_address=to_address, body=body,
                       subject=" ".join(subject.split())[:255], html_body=html_body, user_id=user_id, contact_method_id=contact_method_id,
                       incident_id=incident_id, rule_id=rule_id, fallback_for_id=fallback_for_id,
                       status=Status.QUEUED, attempts=0, next_attempt_at=due, created_at=now or due)
    db.session.add(row)
    if flush:
        db.session.flush()
    if known is not None:
        known[key] = row
    return row


def remember_incidents(incident_ids) -> None:
    """Within a `memo.sharing` block: every outbox row of these incidents in one
    query, so `enqueue` knows without asking whether a key of theirs is taken.
    (Keys are unique across incidents, and a key names the incident it pages
    about, so an incident's rows are all there is to know for its keys.)"""
    wanted = memo.missing(incident_ids, OutboxOf)
    if not wanted:
        return
    current = memo.current()
    found: dict[int, dict[str, Notification]] = {i: {} for i in wanted}
    for row in db.session.scalars(sa.select(Notification).where(Notification.incident_id.in_(wanted))):
        found[row.incident_id][row.key] = row
    for incident_id, rows in found.items():
        current.put(OutboxOf(incident_id), rows)


def to_person(user, *, key: str, purpose: str, subject: str, body: str, due: datetime, now: datetime,
              channels: tuple[Channel, ...] = (Channel.EMAIL,), incident_id: int | None = None) -> Notification | None:
    """A message for a person on the first of `channels` they can be reached on;
    email falls back to their sign-in address. None when nothing fits."""
    for channel in channels:
        method = next((m for m in user.contact_methods if m.usable and m.channel == channel), None)
        if method is not None:
            return enqueue(key=key, purpose=purpose, channel=channel, to_address=method.address, body=body,
                           subject=subject, due=due, now=now, user_id=user.id, contact_method_id=method.id,
                           incident_id=incident_id)
    if Channel.EMAIL in channels and user.email:
        return enqueue(key=key, purpose=purpose, channel=Channel.EMAIL, to_address=user.email, body=body,
                       subject=subject, due=due, now=now, user_id=user.id, incident_id=incident_id)
    return None
