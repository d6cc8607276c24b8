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

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.user.active
