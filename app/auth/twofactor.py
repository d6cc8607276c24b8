"""Two-factor sign-in: an authenticator app (TOTP), recovery codes, the organisation's
policy of who must have one, and the second step of sign-in that checks them.

The second step is its own stage: a correct password leaves only a "password passed"
mark in the session (`pass_password`), good for PENDING_MINUTES, and the person is
signed in when a code is taken (`check_code`). Wrong codes are counted per person in
the database, so five of them hold the step back for LOCK_MINUTES whichever browser
or process they came from. Any other second factor (passkeys) plugs into the same
stage: `pending_user` says who passed their password, `has_second_factor` whether
they need the step, and `note_failure` / `note_success` keep the same count.

Secrets: the TOTP secret is stored encrypted (Fernet, under a key derived from
SECRET_KEY with HKDF), shown only while enrolment waits for its first code, and never
after. A changed SECRET_KEY makes every stored secret unreadable: codes from the app
then fail, recovery codes still work, and an admin's reset lets the person enrol
again. Recovery codes are random and stored as SHA-256, like API tokens.

Like app.auth.service, every function records its audit entry and leaves the commit
to the caller; a refused code still has its failure to commit.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import MutableMapping
from datetime import datetime, timedelta

import pyotp
import segno
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from werkzeug.security import check_password_hash

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import AccessSettings, Passkey, RecoveryCode, Role, TotpFactor, TwoFactorPolicy, User
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db

ISSUER = "Firebreak"
PENDING_MINUTES = 5     # how long a passed password waits for its code
MAX_FAILURES = 5        # wrong codes in a row before the step is held back …
LOCK_MINUTES = 15       # … for this long
RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_PENDING = "two_factor_pending"
_ENROL = "two_factor_enrol"


class SecondStepRefused(DomainError):
    pass


# --- the secret, sealed ---------------------------------------------------------

def _box() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"firebreak totp secrets").derive(
        current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(secret: str) -> str:
    return _box().encrypt(secret.encode()).decode()


def _unseal(sealed: str) -> str | None:
    """The secret, or None when it was sealed under another SECRET_KEY."""
    try:
        return _box().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


# --- policy -------------------------------------------------------------------------

def settings() -> AccessSettings:
    """The organisation's row, made with the defaults the first time it is asked for."""
    row = db.session.get(AccessSettings, 1)
    if row is None:
        row = AccessSettings(id=1, two_factor_required=TwoFactorPolicy.NOBODY)
        db.session.add(row)
        db.session.flush()
    return row


def policy() -> TwoFactorPolicy:
    row = db.session.get(AccessSettings, 1)
    return TwoFactorPolicy(row.two_factor_required) if row else TwoFactorPolicy.NOBODY


def set_policy(actor: Actor, value: TwoFactorPolicy | str) -> AccessSettings:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change who needs two-factor sign-in.")
    try:
        value = TwoFactorPolicy(value)
    except ValueError:
        raise DomainError("Choose nobody, admins, admins and responders, or everyone.", "required") from None
    row = settings()
    before = TwoFactorPolicy(row.two_factor_required)
    if value != before:
        row.two_factor_required = value
        audit.record(actor, "two_factor.policy", row, summary=f"Two-factor sign-in required for: {value.label}",
                     before={"required": before.value}, after={"required": value.value})
    return row


def factor_of(user: User) -> TotpFactor | None:
    return db.session.scalar(sa.select(TotpFactor).where(TotpFactor.user_id == user.id))


def has_second_factor(user: User) -> bool:
    """Whether signing in takes a second step (an authenticator confirmed, or a passkey)."""
    factor = factor_of(user)
    return (factor is not None and factor.confirmed_at is not None) or db.session.scalar(
        sa.select(sa.exists().where(Passkey.user_id == user.id)))


def must_enrol(user: User) -> bool:
    """The policy covers this person and they have no second factor yet."""
    return policy().covers(user.role) and not has_second_factor(user)


# --- enrolment ----------------------------------------------------------------------

def begin(actor: Actor, user: User) -> TotpFactor:
    """A new secret waiting for its first code (replacing one that waited before)."""
    _own(actor, user)
    factor = factor_of(user)
    if factor is not None and factor.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on. Turn it off first to use another app.")
    if factor is None:
        factor = TotpFactor(user_id=user.id)
        db.session.add(factor)
    factor.secret = _seal(pyotp.random_base32())
    factor.created_at = clock.now()
    factor.last_step = None
    db.session.flush()
    return factor


def pending_secret(user: User) -> str | None:
    """The secret to show while enrolment waits for its first code; None otherwise."""
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is not None:
        return None
    return _unseal(factor.secret)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG: no image request, no inline style, so the page keeps
    its strict Content-Security-Policy (app.security). White behind it for dark themes."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff",
                                                 title="QR code for your authenticator app")


def confirm(actor: Actor, user: User, code: str, now: datetime) -> list[str]:
    """Turn two-factor on once the app's code matches; returns the recovery codes,
    which are shown this once."""
    _own(actor, user)
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is not None:
        raise DomainError("Start again: there is no authenticator waiting to be confirmed.", "code")
    if not _take_totp(factor, code, now):
        raise DomainError("That code does not match. Check the app shows Firebreak and try the newest code.", "code")
    factor.confirmed_at = now
    audit.record(actor, "two_factor.enable", user, summary=f"{user.name} turned on two-factor sign-in")
    return _new_recovery_codes(user, now)


def regenerate_recovery_codes(actor: Actor, user: User, now: datetime) -> list[str]:
    _own(actor, user)
    if not has_second_factor(user):
        raise DomainError("Turn on two-factor sign-in first.")
    codes = _new_recovery_codes(user, now)
    audit.record(actor, "two_factor.recovery_codes", user, summary=f"{user.name} made new recovery codes")
    return codes


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))


def turn_off(actor: Actor, user: User, now: datetime, *, password: str = "", code: str = "") -> None:
    """A person turns their own second factor off, proving it with their password or
    a code (TOTP or recovery); their other sessions stay signed in."""
    _own(actor, user)
    factor = factor_of(user)
    if factor is None or factor.confirmed_at is None:
        raise DomainError("Two-factor sign-in is not on.")
    proved = (bool(password) and bool(user.password_hash) and check_password_hash(user.password_hash, password)) \
        or (bool(code) and (_take_totp(factor, code, now) or _take_recovery_code(user, code, now)))
    if not proved:
        raise DomainError("Give your current password, or a code from your app, to turn it off.", "password")
    _remove(user)
    audit.record(actor, "two_factor.disable", user, summary=f"{user.name} turned off two-factor sign-in")


def reset(actor: Actor, user: User) -> None:
    """An admin removes a person's second factors (a lost phone: its authenticator app
    and any passkeys). Their sessions end, so if the policy covers them they enrol
    again at their next sign-in."""
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may reset someone's second factor.")
    if factor_of(user) is None and not has_second_factor(user):
        raise DomainError(f"{user.name} has no second factor to reset.")
    _remove(user)
    db.session.execute(sa.delete(Passkey).where(Passkey.user_id == user.id))  # a lost device may hold them
    user.session_version += 1
    audit.record(actor, "two_factor.reset", user, summary=f"Reset the second factor of {user.name}; "
                                                         "their sessions are signed out")


def _remove(user: User) -> None:
    db.session.execute(sa.delete(TotpFactor).where(TotpFactor.user_id == user.id))
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    user.second_factor_failures = 0
    user.second_factor_locked_until = None


def _own(actor: Actor, user: User) -> None:
    if actor.user is None or actor.user.id != user.id:
        raise Forbidden("Only the person themselves may change their second factor.")


# --- codes ---------------------------------------------------------------------------

def _digits(code: str) -> str:
    return "".join((code or "").split())


def _take_totp(factor: TotpFactor, code: str, now: datetime) -> bool:
    """Whether `code` is the app's code for the step before, this one or the next (a
    phone's clock may be off by one), and newer than the last code taken: a code is
    taken once, never replayed within its window."""
    code = _digits(code)
    secret = _unseal(factor.secret)
    if secret is None or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(secret)
    step = totp.timecode(now)
    for candidate in (step - 1, step, step + 1):
        if candidate > (factor.last_step or -1) and hmac.compare_digest(totp.generate_otp(candidate), code):
            factor.last_step = candidate
            factor.last_used_at = now
            return True
    return False


def _recovery_hash(code: str) -> str:
    normal = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def _new_recovery_codes(user: User, now: datetime) -> list[str]:
    """RECOVERY_CODES new codes (xxxxx-xxxxx), replacing any the person had."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(raw), created_at=now))
    db.session.flush()
    return codes


def _take_recovery_code(user: User, code: str, now: datetime) -> bool:
    row = db.session.scalar(sa.select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _recovery_hash(code),
        RecoveryCode.used_at.is_(None)))
    if row is None:
        return False
    row.used_at = now
    return True


# --- the second step of sign-in -------------------------------------------------------

def pass_password(session: MutableMapping, user: User, now: datetime, target: str | None) -> None:
    """Mark the browser's session: this person's password was right, a code is due.
    Not a signed-in session; it names the person's session version, so signing out
    everywhere ends it too."""
    session[_PENDING] = {"user": user.id, "version": user.session_version, "at": int(now.timestamp()),
                         "next": target or ""}


def pending_user(session: MutableMapping, now: datetime) -> User | None:
    """Who passed their password in this session, while it lasts."""
    pending = session.get(_PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("at"), int):
        return None
    if now.timestamp() - pending["at"] >= PENDING_MINUTES * 60:
        session.pop(_PENDING, None)
        return None
    user = db.session.get(User, pending["user"]) if isinstance(pending.get("user"), int) else None
    if user is None or not user.active or user.session_version != pending.get("version"):
        return None
    return user


def pending_target(session: MutableMapping) -> str | None:
    pending = session.get(_PENDING)
    return (pending.get("next") or None) if isinstance(pending, dict) else None


def check_code(user: User, code: str, now: datetime, *, ip: str | None = None) -> str:
    """Take a code at the second step: "totp" or "recovery_code" for which one, or
    SecondStepRefused. The caller commits either way (the count of failures)."""
    actor = Actor.for_user(user, ip=ip)
    refuse_while_locked(user, now)
    factor = factor_of(user)
    if factor is not None and factor.confirmed_at is not None and _take_totp(factor, code, now):
        note_success(user, actor, "an authenticator code")
        return "totp"
    if _take_recovery_code(user, code, now):
        note_success(user, actor, "a recovery code")
        left = recovery_codes_left(user)
        audit.record(actor, "two_factor.recovery_code_used", user,
                     summary=f"{user.name} used a recovery code ({left} left)")
        return "recovery_code"
    note_failure(user, actor, now)
    raise SecondStepRefused("That code is not right, or was used already.", "code")


def refuse_while_locked(user: User, now: datetime) -> None:
    locked = clock.utc(user.second_factor_locked_until)
    if locked and locked > now:
        minutes = max(1, math.ceil((locked - now).total_seconds() / 60))
        raise SecondStepRefused(f"Too many wrong codes. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                                "code")


def note_success(user: User, actor: Actor, how: str) -> None:
    user.second_factor_failures = 0
    user.second_factor_locked_until = None
    audit.record(actor, "two_factor.success", user, summary=f"{user.name} passed the second step with {how}")


def note_failure(user: User, actor: Actor, now: datetime) -> None:
    """Count a wrong second factor; the MAX_FAILURES-th holds the step back."""
    user.second_factor_failures += 1
    audit.record(actor, "two_factor.failure", user, summary=f"Wrong second factor for {user.name}"
                                                            f" (from {actor.ip or 'unknown'})")
    if user.second_factor_failures >= MAX_FAILURES:
        user.second_factor_locked_until = now + timedelta(minutes=LOCK_MINUTES)
        user.second_factor_failures = 0
        audit.record(actor, "two_factor.locked", user, summary=f"Second step held back {LOCK_MINUTES} minutes "
                                                               f"for {user.name} after {MAX_FAILURES} wrong codes")


# --- the policy at sign-in --------------------------------------------------------------

def hold_for_enrolment(session: MutableMapping, user: User) -> bool:
    """At sign-in: mark the session of someone who must enrol; they reach only
    enrolment and sign-out until they have (app.auth.twofactor_views.hold)."""
    if must_enrol(user):
        session[_ENROL] = True
        return True
    return False


def held(session: MutableMapping) -> bool:
    return bool(session.get(_ENROL))


def release(session: MutableMapping) -> None:
    session.pop(_ENROL, None)
