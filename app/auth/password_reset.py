"""Password reset by email: the rules, without HTTP.

Asking never tells whether an address has an account: the same answer, and the
same work (a token made and hashed, the email rendered) either way; only an
existing, active account gets a row and an email, through the outbox so the answer
never waits on SMTP. The link holds a random token of which only the SHA-256 is
stored; it works once, for an hour, and dies when the person signs in or asks
again. Setting the new password ends every session (`session_version`) and lifts a
sign-in hold, as an admin setting it would.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth import security_mail, service
from app.auth.models import PasswordReset, User
from app.errors import DomainError, Gone
from app.extensions import db
from app.links import external_url

LIFETIME = timedelta(hours=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(email: str, now: datetime, *, ip: str | None = None) -> None:
    """Ask for a reset of the account with this address, if there is one. Raises
    DomainError only for something that is not an email address."""
    address = service.normalise_email(email)
    token = secrets.token_urlsafe(32)
    hashed = token_hash(token)
    link = external_url("password_reset.choose", token=token)
    user = service.find_user_by_email(address)
    if user is None or not user.active:
        security_mail.render("password_reset", name="", link=link, minutes=_minutes())  # the same work
        return
    end_open(user, now)
    reset = PasswordReset(user=user, token_hash=hashed, created_at=now, expires_at=now + LIFETIME)
    db.session.add(reset)
    audit.record(Actor.integration("password reset", ip=ip), "user.password_reset_requested", user,
                 summary=f"Password reset asked for {user.email} (from {ip or 'unknown'})")
    security_mail.send(user, "password_reset", now, link=link, minutes=_minutes())


def _minutes() -> int:
    return int(LIFETIME.total_seconds() // 60)


def end_open(user: User, now: datetime) -> None:
    """End every reset link of this person still open (a sign-in, a newer reset)."""
    db.session.execute(sa.update(PasswordReset).where(
        PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None), PasswordReset.ended_at.is_(None))
        .values(ended_at=now))


def find(token: str, now: datetime) -> PasswordReset:
    """The open reset for a link's token, or Gone with a message to show."""
    reset = db.session.scalar(sa.select(PasswordReset).where(PasswordReset.token_hash == token_hash(token or "")))
    if reset is None:
        raise Gone("This password reset link is not valid. Ask for a new one.")
    if reset.used_at is not None:
        raise Gone("This password reset link was already used. Ask for a new one if you need to.")
    if reset.ended_at is not None:
        raise Gone("This password reset link was replaced by a newer one, or ended when you signed in. "
                   "Use the newest email, or ask again.")
    if now >= clock.utc(reset.expires_at) or not reset.user.active:
        raise Gone("This password reset link has expired. Ask for a new one.")
    return reset


def complete(token: str, password: str, now: datetime, *, ip: str | None = None) -> User:
    """Set the new password through an open link: the link is used, every session
    and every other open link ends, and a sign-in hold is lifted."""
    reset = find(token, now)
    user = reset.user
    service.check_password_strength(password)
    if not password.strip():
        raise DomainError("Choose a password that is not only spaces.", "password")
    user.password_hash = service.hash_password(password)
    user.session_version += 1
    user.failed_signins = 0
    user.locked_until = None
    reset.used_at = now
    end_open(user, now)
    audit.record(Actor.for_user(user, ip=ip), "user.password_reset", user,
                 summary=f"{user.name} set a new password through a reset link; every session ended")
    return user
