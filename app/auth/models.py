"""People, teams, and the API tokens people act through."""
from __future__ import annotations

import enum
from datetime import datetime, time

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.database import UTCDateTime
from app.extensions import db


class Role(enum.StrEnum):
    """What a person may do. Each role includes the ones below it."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 1, "responder": 2, "admin": 3}[self.value]

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank

    @property
    def label(self) -> str:
        return self.value.capitalize()


def enum_column(enum_cls, name: str, **kwargs):
    """A string column holding an enum's values, with a CHECK constraint on both backends."""
    return mapped_column(
        sa.Enum(enum_cls, name=name, native_enum=False, create_constraint=True, length=32,
                values_callable=lambda e: [m.value for m in e], validate_strings=True),
        **kwargs,
    )


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str | None] = mapped_column(sa.String(16))
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    role: Mapped[Role] = enum_column(Role, "role", default=Role.RESPONDER)
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    active: Mapped[bool] = mapped_column(default=True)
    failed_signins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_signin_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The person's night, in their zone: low-urgency pages never ring or buzz then.
    night_start: Mapped[time] = mapped_column(sa.Time, default=time(22, 0))
    night_end: Mapped[time] = mapped_column(sa.Time, default=time(7, 0))
    # Bumped to sign a person out everywhere (password change, deactivation).
    session_version: Mapped[int] = mapped_column(default=1)
    # Wrong codes in a row at the second step of sign-in, and how long it is held back
    # after too many (app.auth.twofactor): per person, whichever factor was tried.
    second_factor_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    second_factor_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    memberships: Mapped[list["TeamMembership"]] = relationship(
        back_populates="user", cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive people
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def can(self, needed: Role) -> bool:
        return self.active and Role(self.role).allows(needed)

    @property
    def teams(self) -> list["Team"]:
        return [m.team for m in self.memberships]

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    memberships: Mapped[list["TeamMembership"]] = relationship(
        back_populates="team", cascade="all, delete-orphan",
        order_by="TeamMembership.id")

    @property
    def members(self) -> list[User]:
        return [m.user for m in self.memberships]

    def __repr__(self) -> str:
        return f"<Team {self.name}>"


class TeamMembership(db.Model):
    __tablename__ = "team_memberships"
    __table_args__ = (sa.UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_manager: Mapped[bool] = mapped_column(default=False)

    team: Mapped[Team] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class TokenScope(enum.StrEnum):
    READ = "read"    # GET only
    WRITE = "write"  # acts with the owner's full role


class ApiToken(db.Model):
    """A bearer token. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    scope: Mapped[TokenScope] = enum_column(TokenScope, "token_scope", default=TokenScope.WRITE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None: works until revoked. From this moment on it is refused (app.auth.service).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.user.active

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= clock.utc(self.expires_at)


class BrowserSession(db.Model):
    """One signed-in browser. The cookie carries a random key; only its SHA-256 is
    kept here, and a request whose key names no row, an ended row, or a row from
    before the person's `session_version` was bumped is signed out (app.auth.sessions).
    `seen_at` moves at most once a minute, so a busy page costs no write."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    session_version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str] = mapped_column(sa.String(400), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Invitation(db.Model):
    """An address asked in, with the role and team it will have. Only the SHA-256 of
    the link's token is kept; the link works once, until `expires_at`, and never
    after it is accepted or revoked (app/auth/invitations.py)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    role: Mapped[Role] = enum_column(Role, "invitation_role")
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team | None] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def pending(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < clock.utc(self.expires_at)


class PasswordReset(db.Model):
    """A password reset asked for an account: the SHA-256 of its link's token. Used
    once, within `expires_at`; `ended_at` when a sign-in or a newer reset killed it
    (app/auth/password_reset.py)."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class KnownDevice(db.Model):
    """A browser a person signed in from: its user agent family and client network,
    hashed. A sign-in from one not known sends a security email (app/auth/security_mail.py)."""

    __tablename__ = "known_devices"
    __table_args__ = (sa.UniqueConstraint("user_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[str] = mapped_column(sa.String(120))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TwoFactorPolicy(enum.StrEnum):
    """Who must have a second factor to sign in with a password."""

    NOBODY = "nobody"
    ADMINS = "admins"
    RESPONDERS = "responders"  # admins and responders
    EVERYONE = "everyone"

    @property
    def label(self) -> str:
        return {"nobody": "Nobody", "admins": "Admins", "responders": "Admins and responders",
                "everyone": "Everyone"}[self.value]

    def covers(self, role: Role) -> bool:
        least = {"nobody": None, "admins": Role.ADMIN, "responders": Role.RESPONDER, "everyone": Role.VIEWER}[self.value]
        return least is not None and Role(role).allows(least)


class AccessSettings(db.Model):
    """The organisation's one row of sign-in rules, changed by admins on a page."""

    __tablename__ = "access_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    two_factor_required: Mapped[TwoFactorPolicy] = enum_column(
        TwoFactorPolicy, "two_factor_policy", default=TwoFactorPolicy.NOBODY)


class TotpFactor(db.Model):
    """A person's authenticator app. The shared secret is stored encrypted under a key
    derived from SECRET_KEY (app.auth.twofactor); `confirmed_at` stays empty until a
    code from the app has been typed back, and only then does it guard sign-in.
    `last_step` is the 30-second step of the last code accepted: no code of that step
    or before is taken again."""

    __tablename__ = "totp_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class RecoveryCode(db.Model):
    """One single-use recovery code; only its SHA-256 is stored, the code is shown once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OidcIdentity(db.Model):
    """A person as an OpenID provider knows them: the issuer and its `sub`, which never
    changes for them there, so a later sign-in finds them even after their email
    changed (app.auth.oidc). Made at their first single sign-on."""

    __tablename__ = "oidc_identities"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(sa.String(500))
    subject: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_signin_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class OidcGroupMapping(db.Model):
    """Members of this provider group join this team at single sign-on (app.auth.oidc)."""

    __tablename__ = "oidc_group_mappings"
    __table_args__ = (sa.UniqueConstraint("group_name", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_name: Mapped[str] = mapped_column(sa.String(255))
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    team: Mapped[Team] = relationship()


class Passkey(db.Model):
    """A person's passkey (WebAuthn credential): a second factor after the password,
    or the whole sign-in when the authenticator verified the person (app.auth.passkeys).
    The credential id is stored base64url; the public key as COSE bytes. `user_handle`
    is the random id the authenticator keeps for the person, the same on each of their
    passkeys, never their email or database id."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_handle: Mapped[str] = mapped_column(sa.String(64))
    credential_id: Mapped[str] = mapped_column(sa.String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    transports: Mapped[str] = mapped_column(sa.String(200), default="")
    name: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class PasskeyChallenge(db.Model):
    """A WebAuthn challenge handed out and not yet answered. The browser's session
    holds the challenge itself; this row (its SHA-256) makes it good once: an answer
    deletes it, so a replayed answer, even with an old session cookie, finds nothing."""

    __tablename__ = "passkey_challenges"

    challenge_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
