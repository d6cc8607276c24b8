"""Escalation policies (who to page, in what order, how often) and severity triggers."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import Team, User
from app.database import UTCDateTime
from app.extensions import db

TARGET_KINDS = ("user", "schedule", "team")


class EscalationPolicy(db.Model):
    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # After the last step, start again from the first this many more times.
    repeat: Mapped[int] = mapped_column(default=0)
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    team: Mapped[Team | None] = relationship()
    steps: Mapped[list["EscalationStep"]] = relationship(
        back_populates="policy", cascade="all, delete-orphan", order_by="EscalationStep.position")


class EscalationStep(db.Model):
    """'Page these targets; if nobody acknowledges within `delay_minutes`, go on.'"""

    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(sa.ForeignKey("escalation_policies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    delay_minutes: Mapped[int] = mapped_column(default=10)
    mode: Mapped[str] = mapped_column(sa.String(12), default="all")  # all or round_robin
    # Round robin: who is next, across incidents.
    rr_cursor: Mapped[int] = mapped_column(default=0)

    policy: Mapped[EscalationPolicy] = relationship(back_populates="steps")
    targets: Mapped[list["EscalationTarget"]] = relationship(
        back_populates="step", cascade="all, delete-orphan", order_by="EscalationTarget.id")


class EscalationTarget(db.Model):
    __tablename__ = "escalation_targets"
    __table_args__ = (sa.CheckConstraint(
        "(kind = 'user' AND user_id IS NOT NULL) OR (kind = 'schedule' AND schedule_id IS NOT NULL) "
        "OR (kind = 'team' AND team_id IS NOT NULL)", name="target_has_its_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(sa.ForeignKey("escalation_steps.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    schedule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))

    step: Mapped[EscalationStep] = relationship(back_populates="targets")
    user: Mapped[User | None] = relationship()
    team: Mapped[Team | None] = relationship()

    @property
    def ref(self) -> int:
        return {"user": self.user_id, "schedule": self.schedule_id, "team": self.team_id}[self.kind]


class SeverityTrigger(db.Model):
    """Who else is paged at once for an incident of this severity, beside the policy.

    kind: user, schedule, team (every member), or managers (the managers of the
    service's owning team: no id).
    """

    __tablename__ = "severity_triggers"

    id: Mapped[int] = mapped_column(primary_key=True)
    severity: Mapped[int] = mapped_column(index=True)
    # When it pages: as the incident opens (or is raised to this severity), or when
    # its response objective is breached.
    on: Mapped[str] = mapped_column(sa.String(8), default="open")
    kind: Mapped[str] = mapped_column(sa.String(10))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    schedule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
