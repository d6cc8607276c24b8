"""Passkeys (WebAuthn, through py_webauthn): registering them, and signing in with one,
either as the second step after the password or on its own.

The relying party is PUBLIC_BASE_URL: its host is the rp id and its origin the only
origin an answer may come from, so a passkey made for one deployment is useless to a
page on another host. Every ceremony starts with a challenge (`_issue`) kept in the
browser's session for CHALLENGE_SECONDS and, as its SHA-256, in passkey_challenges;
the answer takes both (`_take`), so each challenge is good once, for the purpose it
was made for, even against an old session cookie sent again.

Someone accepting an invitation may make a passkey instead of setting a password
(`joining_options`, `take_joining`): it must be discoverable and verify the person,
since it is then their only way in.

A passkey sign-in on its own (no password) needs the authenticator to have verified
the person (a PIN or biometrics): possession and that check are the two factors, so
no code is asked after it. As a second step it needs only presence, like a security
key. Failed answers for a known person count toward the second step's hold
(app.auth.twofactor.note_failure), whichever way they came.

Like the other app.auth modules, every function records its audit entry and leaves the
commit to the caller; a refused answer still has its failure to commit.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
import webauthn
from flask import current_app
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria, AuthenticatorTransport, PublicKeyCredentialDescriptor, ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.audit import service as audit
from app.audit.service import Actor
from app.auth import security_mail, twofactor
from app.auth.models import Passkey, PasskeyChallenge, User
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db

RP_NAME = "Firebreak"
CHALLENGE_SECONDS = 300
NAME_LENGTH = 64
_SESSION = "passkey_challenge"
REGISTER, SIGN_IN, SECOND_STEP, JOIN = "register", "sign_in", "second_step", "join"


class PasskeyRefused(DomainError):
    status = 401


# --- the relying party ------------------------------------------------------------------

def origin() -> str:
    parts = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    return f"{parts.scheme}://{parts.netloc}"


def rp_id() -> str:
    return urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname


# --- challenges, each good once -----------------------------------------------------------

def _hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _issue(session: MutableMapping, purpose: str, now: datetime, **keep: str) -> bytes:
    """A new challenge for `purpose`, replacing any this browser had waiting; `keep`
    is kept beside it until it is answered (`_take`)."""
    db.session.execute(sa.delete(PasskeyChallenge).where(PasskeyChallenge.expires_at <= now))
    challenge = secrets.token_bytes(32)
    db.session.add(PasskeyChallenge(challenge_hash=_hash(challenge),
                                    expires_at=now + timedelta(seconds=CHALLENGE_SECONDS)))
    session[_SESSION] = {**keep, "purpose": purpose, "challenge": bytes_to_base64url(challenge),
                         "at": int(now.timestamp())}
    return challenge


def _take(session: MutableMapping, purpose: str, now: datetime) -> tuple[bytes, dict]:
    """The challenge this browser was given for `purpose`, used up, and what was kept
    beside it; PasskeyRefused when there is none, it was for something else, it is too
    old, or it was answered already."""
    waiting = session.pop(_SESSION, None)
    if not isinstance(waiting, dict) or waiting.get("purpose") != purpose or not isinstance(waiting.get("at"), int):
        raise PasskeyRefused("Start again: this page asked for no passkey.")
    challenge = webauthn.base64url_to_bytes(waiting.get("challenge") or "")
    taken = db.session.execute(sa.delete(PasskeyChallenge).where(
        PasskeyChallenge.challenge_hash == _hash(challenge), PasskeyChallenge.expires_at > now))
    if now.timestamp() - waiting["at"] >= CHALLENGE_SECONDS or taken.rowcount != 1:
        raise PasskeyRefused("That passkey request expired or was answered already. Try again.")
    return challenge, waiting


# --- one's own passkeys ----------------------------------------------------------------------

def passkeys_of(user: User) -> list[Passkey]:
    return list(db.session.scalars(sa.select(Passkey).where(Passkey.user_id == user.id)
                                   .order_by(Passkey.created_at, Passkey.id)))


def has_passkey(user: User) -> bool:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Passkey)
                             .where(Passkey.user_id == user.id)) > 0


def get(actor: Actor, passkey_id: int) -> Passkey:
    """One of the actor's own passkeys: another person's is as good as missing."""
    passkey = db.session.get(Passkey, passkey_id)
    if passkey is None or actor.user is None or passkey.user_id != actor.user.id:
        raise NotFound("No such passkey.")
    return passkey


def _handle(user: User) -> str:
    """The person's user handle: the one their passkeys have, or a new random one."""
    existing = db.session.scalar(sa.select(Passkey.user_handle).where(Passkey.user_id == user.id).limit(1))
    return existing or bytes_to_base64url(secrets.token_bytes(32))


def _descriptors(passkeys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(
        id=webauthn.base64url_to_bytes(p.credential_id),
        transports=[AuthenticatorTransport(t) for t in p.transports.split(",") if t]) for p in passkeys]


def registration_options(actor: Actor, user: User, session: MutableMapping, now: datetime) -> str:
    """The options for navigator.credentials.create(), as JSON: the person's handle,
    their passkeys excluded (an authenticator holding one says so instead of making
    a second), a resident key and user verification preferred."""
    _own(actor, user)
    handle = _handle(user)
    options = webauthn.generate_registration_options(
        rp_id=rp_id(), rp_name=RP_NAME, user_id=webauthn.base64url_to_bytes(handle),
        user_name=user.email, user_display_name=user.name, challenge=_issue(session, REGISTER, now, handle=handle),
        timeout=CHALLENGE_SECONDS * 1000, exclude_credentials=_descriptors(passkeys_of(user)),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED))
    return webauthn.options_to_json(options)


def register(actor: Actor, user: User, session: MutableMapping, credential, name: str, now: datetime) -> Passkey:
    """Keep the passkey the browser made, once the answer to this session's challenge
    checks out; the person is emailed that a passkey was added."""
    _own(actor, user)
    name = check_name(name)
    challenge, waiting = _take(session, REGISTER, now)
    made = _verify_made(credential, challenge, waiting["handle"], require_user_verification=False)
    passkey = keep(actor, user, made, name, now)
    security_mail.send(user, "passkey_added", now, passkey=name, when=f"{now:%-d %B %Y %H:%M} UTC")
    return passkey


@dataclass(frozen=True)
class Made:
    """A passkey an authenticator made and the app verified, not yet anyone's."""

    handle: str
    credential_id: str
    public_key: bytes
    sign_count: int
    transports: str


def _verify_made(credential, challenge: bytes, handle: str, *, require_user_verification: bool) -> Made:
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id(), expected_origin=origin(),
            require_user_verification=require_user_verification)
    except (InvalidRegistrationResponse, ValueError, TypeError, KeyError) as error:
        raise PasskeyRefused(f"The passkey was not accepted: {error}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(sa.select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
        raise PasskeyRefused("That passkey is registered already.")
    return Made(handle=handle, credential_id=credential_id, public_key=verified.credential_public_key,
                sign_count=verified.sign_count, transports=_transports(credential))


def keep(actor: Actor, user: User, made: Made, name: str, now: datetime) -> Passkey:
    """`made` becomes one of `user`'s passkeys, named `name` (checked by `check_name`)."""
    passkey = Passkey(user_id=user.id, user_handle=made.handle, credential_id=made.credential_id,
                      public_key=made.public_key, sign_count=made.sign_count, transports=made.transports,
                      name=name, created_at=now)
    db.session.add(passkey)
    audit.record(actor, "passkey.add", passkey, summary=f"{user.name} added the passkey {name!r}",
                 after={"name": name})
    return passkey


# --- a passkey instead of a password, for someone joining ---------------------------------------

def joining_options(session: MutableMapping, invitation_hash: str, email: str, now: datetime) -> str:
    """The options for navigator.credentials.create() of someone accepting the
    invitation whose token hashes to `invitation_hash`: a new handle, and a passkey
    that must be discoverable and verify the person, as it will be their only way in."""
    handle = bytes_to_base64url(secrets.token_bytes(32))
    options = webauthn.generate_registration_options(
        rp_id=rp_id(), rp_name=RP_NAME, user_id=webauthn.base64url_to_bytes(handle), user_name=email,
        user_display_name=email, timeout=CHALLENGE_SECONDS * 1000,
        challenge=_issue(session, JOIN, now, handle=handle, invitation=invitation_hash),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED))
    return webauthn.options_to_json(options)


def take_joining(session: MutableMapping, invitation_hash: str, credential, now: datetime) -> Made:
    """The passkey this browser made for joining through that invitation, verified
    (user verification required), or PasskeyRefused."""
    challenge, waiting = _take(session, JOIN, now)
    if waiting.get("invitation") != invitation_hash:
        raise PasskeyRefused("Start again: that passkey was made for another invitation.")
    return _verify_made(credential, challenge, waiting["handle"], require_user_verification=True)


def rename(actor: Actor, passkey: Passkey, name: str) -> Passkey:
    _own(actor, passkey.user)
    before, passkey.name = passkey.name, check_name(name)
    if passkey.name != before:
        audit.record(actor, "passkey.rename", passkey, summary=f"Renamed the passkey {before!r} to {passkey.name!r}",
                     before={"name": before}, after={"name": passkey.name})
    return passkey


def remove(actor: Actor, passkey: Passkey) -> None:
    """Forget a passkey: it signs nobody in from now on. The audit entry keeps its name."""
    _own(actor, passkey.user)
    audit.record(actor, "passkey.remove", passkey, summary=f"{passkey.user.name} removed the passkey {passkey.name!r}",
                 before={"name": passkey.name})
    db.session.delete(passkey)


def check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > NAME_LENGTH:
        raise DomainError(f"Name the passkey (up to {NAME_LENGTH} characters), e.g. “Work laptop”.", "name")
    return name


def _transports(credential) -> str:
    """The transports the browser reported, those WebAuthn knows, to hint at sign-in."""
    known = {t.value for t in AuthenticatorTransport}
    reported = (credential.get("response") or {}).get("transports") if isinstance(credential, dict) else None
    return ",".join(t for t in (reported or []) if isinstance(t, str) and t in known)[:200]


def _own(actor: Actor, user: User) -> None:
    if actor.user is None or actor.user.id != user.id:
        raise Forbidden("Only the person themselves may change their passkeys.")


# --- signing in with one -------------------------------------------------------------------------

def sign_in_options(session: MutableMapping, now: datetime, user: User | None = None) -> str:
    """The options for navigator.credentials.get(), as JSON. With `user` (the second
    step after their password) their passkeys are named; without, none are, so the
    browser offers the passkeys it holds for this site (discoverable credentials)."""
    purpose = SECOND_STEP if user else SIGN_IN
    options = webauthn.generate_authentication_options(
        rp_id=rp_id(), challenge=_issue(session, purpose, now), timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=_descriptors(passkeys_of(user)) if user else [],
        user_verification=UserVerificationRequirement.REQUIRED if user is None
        else UserVerificationRequirement.PREFERRED)
    return webauthn.options_to_json(options)


def authenticate(session: MutableMapping, credential, now: datetime, *, user: User | None = None,
                 ip: str | None = None) -> Passkey:
    """Take the browser's answer: the passkey that signed this session's challenge, its
    sign count and last use moved on, or PasskeyRefused. With `user` it is the second
    step and must be one of theirs; without, it is the whole sign-in and the
    authenticator must have verified the person. The caller commits either way."""
    challenge, _ = _take(session, SECOND_STEP if user else SIGN_IN, now)
    passkey = _find(credential)
    owner = user or (passkey.user if passkey else None)
    if owner is not None:
        twofactor.refuse_while_locked(owner, now)
    if passkey is None or not passkey.user.active or (user is not None and passkey.user_id != user.id):
        return _refuse(owner, ip, now, "That passkey is not registered here. Sign in with your password.")
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id(), expected_origin=origin(),
            credential_public_key=passkey.public_key, credential_current_sign_count=passkey.sign_count,
            require_user_verification=user is None)
    except (InvalidAuthenticationResponse, ValueError, TypeError, KeyError) as error:
        return _refuse(owner, ip, now, f"The passkey was not accepted: {error}")
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = now
    twofactor.note_success(owner, Actor.for_user(owner, ip=ip), f"the passkey {passkey.name!r}"
                           + ("" if user else " (no password)"))
    return passkey


def _find(credential) -> Passkey | None:
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(credential_id, str) or not credential_id:
        return None
    return db.session.scalar(sa.select(Passkey).where(Passkey.credential_id == credential_id))


def _refuse(owner: User | None, ip: str | None, now: datetime, message: str):
    if owner is not None:
        twofactor.note_failure(owner, Actor.for_user(owner, ip=ip), now)
    else:
        audit.record(Actor.system(f"unknown passkey from {ip or 'unknown'}"), "passkey.refused",
                     summary=f"A passkey sign-in from {ip or 'an unknown address'} was refused: unknown passkey")
    raise PasskeyRefused(message)

