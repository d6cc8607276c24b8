"""The war room: where an incident is coordinated (links, summary), its tasks,
its tactical reports, and the responders asked from other teams."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import Team, User
from app.database import UTCDateTime
from app.extensions import db


class WarRoom(db.Model):
    """One per incident, made the first time someone sets a link or a summary."""

    __tablename__ = "war_rooms"

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    bridge_url: Mapped[str] = mapped_column(sa.String(500), default="")    # video call
    bridge_phone: Mapped[str] = mapped_column(sa.String(100), default="")  # dial-in number and code
    chat_url: Mapped[str] = mapped_column(sa.String(500), default="")
    # What is going on now, in a sentence or two (everyone reads this first).
    status_summary: Mapped[str] = mapped_column(sa.Text, default="")
    # Who is affected and how, in customers' words (templates use it as `impact`).
    impact: Mapped[str] = mapped_column(sa.Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by: Mapped[str] = mapped_column(sa.String(200), default="")


class Task(db.Model):
    __tablename__ = "incident_tasks"
    __table_args__ = (sa.Index("ix_incident_tasks_incident", "incident_id", "done_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(sa.String(300))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by: Mapped[str] = mapped_column(sa.String(200), default="")

    owner: Mapped[User | None] = relationship()

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def overdue(self, now: datetime) -> bool:
        return self.done_at is None and self.due_at is not None and clock.utc(self.due_at) < now


class SituationReport(db.Model):
    """A tactical report in CAN form (Conditions, Actions, Needs) with an executive
    summary. Each is kept; the page shows the latest."""

    __tablename__ = "situation_reports"
    __table_args__ = (sa.Index("ix_situation_reports_incident_at", "incident_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"))
    conditions: Mapped[str] = mapped_column(sa.Text, default="")
    actions: Mapped[str] = mapped_column(sa.Text, default="")
    needs: Mapped[str] = mapped_column(sa.Text, default="")
    executive_summary: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    author: Mapped[str] = mapped_column(sa.String(200), default="")


class TeamRequest(db.Model):
    """Responders asked from another team: paged through that team's escalation
    policy (snapshotted here), step by step until one of them joins.

    `next_step_at` is due work for the engine (app.incidents.warroom.advance_request).
    """

    __tablename__ = "responder_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("teams.id", ondelete="CASCADE"))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    # paging, joined, exhausted (every step paged, nobody joined), unreachable (no policy, nobody to page), closed
    state: Mapped[str] = mapped_column(sa.String(12), default="paging")
    policy_snapshot: Mapped[dict | None] = mapped_column(sa.JSON)
    step: Mapped[int] = mapped_column(default=0)
    paged_user_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    requested_by: Mapped[str] = mapped_column(sa.String(200), default="")
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    joined_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    team: Mapped[Team] = relationship()
    joined_user: Mapped[User | None] = relationship()
