"""Incident command roles: who holds which role on an incident, what each role is,
and how far each holder is through the role's checklist."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import User
from app.database import UTCDateTime
from app.extensions import db


class RoleDefinition(db.Model):
    """An admin's edit of one of the shipped roles (app.incidents.roles.DEFAULTS):
    a row here replaces the shipped name, description and checklist for its key."""

    __tablename__ = "role_definitions"

    key: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # The checklist as a list of short strings, in order.
    checklist: Mapped[list] = mapped_column(sa.JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by: Mapped[str] = mapped_column(sa.String(200), default="")


class AssignmentState:
    PROPOSED = "proposed"   # suggested (from the commander schedule, the first on call); not held yet
    ACTIVE = "active"       # holds the role now
    ENDED = "ended"         # held it until `until` (handed over or released), or a proposal not taken


class RoleAssignment(db.Model):
    """One person in one role on one incident, from `since` until `until`.

    History is kept: a handover ends one row and starts another, so the review can
    say who was commander when.
    """

    __tablename__ = "incident_roles"
    __table_args__ = (sa.Index("ix_incident_roles_incident_role_state", "incident_id", "role", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(40))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(sa.String(10), default=AssignmentState.ACTIVE)
    # Why it was proposed ("on call for Incident Commander"), or who assigned it.
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class RoleCheck(db.Model):
    """One checklist item ticked for a role on an incident (by whoever held it)."""

    __tablename__ = "incident_role_checks"
    __table_args__ = (sa.UniqueConstraint("incident_id", "role", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(300))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    done_by: Mapped[str] = mapped_column(sa.String(200), default="")
