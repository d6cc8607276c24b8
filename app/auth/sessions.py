"""Signed-in browser sessions: how long they last, and the server's record of each.

The session is a signed cookie. It carries when the person signed in and when they
were last seen (by the one clock, so tests set the time rather than wait), and every
request checks an absolute lifetime and an idle limit against them. A session without
those stamps is not one we made and counts as ended.

It also carries a random key naming a `BrowserSession` row, so the person can see
their sessions (device, IP, when signed in and last seen) and end any of them: the
user loader finds the person through that row in one indexed query, and a key that
names no row, an ended row, or a row older than the person's `session_version` signs
the browser out. Signing out everywhere (or a password change, or deactivation)
bumps `session_version`, which every cookie and every row carries, and ends every
session at once. The row's `seen_at` moves with the cookie's stamp, at most once a
minute, so a busy page costs no write.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, request, session
from flask_login import current_user

from app.audit import service as audit
from app.audit.service import Actor
from app.auth import devices
from app.auth.models import BrowserSession, User
from app.database import write_intent
from app.errors import DomainError, NotFound
from app.extensions import db

SIGNED_IN_AT = "signed_in_at"
SEEN_AT = "seen_at"
KEY = "session_key"
SEEN_EVERY = 60  # seconds: the idle limit is counted in minutes


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# --- the rows, without HTTP -----------------------------------------------------------

def open_session(user: User, *, now: datetime, ip: str | None, user_agent: str | None) -> tuple[BrowserSession, str]:
    """A new session row for `user`, with its sign-in audited; returns the row and the
    key for the cookie (only its hash is stored). The caller commits."""
    key = secrets.token_urlsafe(32)
    agent = (user_agent or "")[:400]
    record = BrowserSession(user_id=user.id, key_hash=_hash(key), session_version=user.session_version,
                            created_at=now, seen_at=now, ip=(ip or None) and ip[:45], user_agent=agent)
    db.session.add(record)
    db.session.flush()
    device = devices.describe(agent)
    audit.record(Actor.for_user(user, ip=ip), "user.sign_in", user,
                 summary=f"{user.name} signed in: {device}, {ip or 'unknown address'}",
                 after={"session_id": record.id, "device": device, "ip": ip})
    return record, key


def active_sessions(user: User, now: datetime) -> list[BrowserSession]:
    """The person's sessions that still let a browser in, last seen first."""
    config = current_app.config
    return list(db.session.scalars(
        sa.select(BrowserSession).where(
            BrowserSession.user_id == user.id, BrowserSession.ended_at.is_(None),
            BrowserSession.session_version == user.session_version,
            BrowserSession.created_at > now - timedelta(hours=config["SESSION_LIFETIME_HOURS"]),
            BrowserSession.seen_at > now - timedelta(minutes=config["SESSION_IDLE_MINUTES"]))
        .order_by(BrowserSession.seen_at.desc(), BrowserSession.id.desc())))


def get_own(actor: Actor, session_id: int) -> BrowserSession:
    """One of the actor's own sessions: nobody sees or ends another person's this way."""
    record = db.session.get(BrowserSession, session_id)
    if record is None or actor.user is None or record.user_id != actor.user.id:
        raise NotFound("No such session.")
    return record


def end(actor: Actor, record: BrowserSession, now: datetime, *, current_id: int | None = None) -> None:
    """End one session: its browser is signed out at its next request."""
    if record.id == current_id:
        raise DomainError("That is the session you are using: sign out instead.")
    if record.ended_at is not None:
        return
    record.ended_at = now
    audit.record(actor, "session.end", record.user, summary=f"Ended a session of {record.user.name}: "
                 f"{devices.describe(record.user_agent)}, {record.ip or 'unknown address'}",
                 before={"session_id": record.id})


def end_others(actor: Actor, user: User, now: datetime, *, current_id: int | None) -> int:
    """End every session of `user` but the current one; how many were ended."""
    ended = [r for r in active_sessions(user, now) if r.id != current_id]
    for record in ended:
        record.ended_at = now
    audit.record(actor, "session.end_others", user, summary=f"Ended {len(ended)} other session(s) of {user.name}",
                 before={"session_ids": [r.id for r in ended]})
    return len(ended)


# --- this request's session -----------------------------------------------------------

def start(now: datetime) -> BrowserSession:
    """Record and stamp the session of a browser that has just signed in (call it
    right after `login_user`). Commits: the browser is signed in only once its row is."""
    user = current_user._get_current_object()
    record, key = open_session(user, now=now, ip=request.remote_addr, user_agent=request.user_agent.string)
    db.session.commit()
    session[KEY] = key
    session[SIGNED_IN_AT] = session[SEEN_AT] = int(now.timestamp())
    g.browser_session = record
    return record


def load_user(user_id: str) -> User | None:
    """Flask-Login's loader: the cookie's `id:version` and its session key must name
    a live row of that person at that version, found with the person in one query."""
    key = session.get(KEY)
    try:
        wanted, version = (int(part) for part in user_id.split(":"))
    except (ValueError, AttributeError):
        return None
    if not isinstance(key, str) or not key:
        return None
    found = db.session.execute(sa.select(User, BrowserSession).join(BrowserSession, BrowserSession.user_id == User.id)
                               .where(BrowserSession.key_hash == _hash(key))).first()
    if found is None:
        return None
    user, record = found
    if (user.id != wanted or not user.active or record.ended_at is not None
            or user.session_version != version or record.session_version != version):
        return None
    g.browser_session = record
    return user


def current() -> BrowserSession | None:
    """This request's session row (once the person is loaded)."""
    return g.get("browser_session") if current_user.is_authenticated else None


def follow_version(user: User) -> None:
    """Keep this browser's row in step when the person's `session_version` is bumped
    by their own hand (a password change) and this browser stays signed in."""
    record = current()
    if record is not None:
        record.session_version = user.session_version


def ended(now: datetime) -> str | None:
    """Why this signed-in session is over ("idle", "lifetime"), or None while it lasts."""
    signed_in, seen = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in, int) or not isinstance(seen, int):
        return "lifetime"
    config = current_app.config
    at = now.timestamp()
    if at - signed_in >= config["SESSION_LIFETIME_HOURS"] * 3600:
        return "lifetime"
    if at - seen >= config["SESSION_IDLE_MINUTES"] * 60:
        return "idle"
    return None


def seen(now: datetime) -> None:
    """Note activity, in the cookie and the row, at most once a minute.

    A read's transaction is deferred and must not become a writer (app.database), so
    on a GET the row is written in a short transaction of its own; on a change it
    goes with the request's."""
    stamp = int(now.timestamp())
    last = session.get(SEEN_AT)
    if isinstance(last, int) and 0 <= stamp - last < SEEN_EVERY:
        return
    session[SEEN_AT] = stamp
    record = current()
    if record is None or (isinstance(last, int) and stamp < last):
        return  # the clock went back (set by hand, or a test's): the row only moves on
    if request.method in ("GET", "HEAD", "OPTIONS"):
        table = BrowserSession.__table__
        with write_intent(), db.engine.begin() as connection:
            connection.execute(sa.update(table).where(table.c.id == record.id).values(seen_at=now))
    else:
        record.seen_at = now


def finish(now: datetime) -> None:
    """Mark this browser's row ended as it signs out (the caller commits)."""
    record = current()
    if record is not None and record.ended_at is None:
        record.ended_at = now
