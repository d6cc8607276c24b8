"""What the insights domain keeps besides what it reads: who read what (knowledge
sharing), when each piece of configuration is next reviewed and by whom, the
culture survey (invitations apart from answers), and drill assessments.

Every metric itself is computed from the records other domains keep (incidents,
alerts, timelines, post-mortems, action items): nothing here caches a figure.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import User
from app.comms.models import CommsDue
from app.database import UTCDateTime
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent
from app.postmortems.models import ActionItem


class PageRead(db.Model):
    """A signed-in person opened a past incident's page or a post-mortem, once per
    day per thing (the day in UTC). Written after the response has gone (see
    app.insights.reads), so reading never waits for it."""

    __tablename__ = "page_reads"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "kind", "object_id", "read_on"),
        sa.Index("ix_page_reads_read_at", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))  # incident, postmortem
    object_id: Mapped[int] = mapped_column()
    # The incident read, or the post-mortem's incident: filters by service, team and severity go through it.
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    read_on: Mapped[date] = mapped_column(sa.Date)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewSchedule(db.Model):
    """Owner and next review date of one reviewable thing that keeps none itself
    (post-mortem templates, communication templates, role checklists), by kind and
    key. The severity model keeps its own (`severity_levels.owner_id`, `next_review_on`)."""

    __tablename__ = "review_schedule"
    __table_args__ = (sa.UniqueConstraint("kind", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    ref: Mapped[str] = mapped_column(sa.String(80))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    next_review_on: Mapped[date | None] = mapped_column(sa.Date)
    last_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_reviewed_by: Mapped[str] = mapped_column(sa.String(200), default="")

    owner: Mapped[User | None] = relationship()


class ReviewReminder(db.Model):
    """One reminder to one owner that a review is due (on the day) or overdue (a week
    on). Unique per thing, review date and kind, so deciding twice never makes two;
    `due_at` is cleared once handled."""

    __tablename__ = "review_reminders"
    __table_args__ = (sa.UniqueConstraint("kind", "ref", "for_review_on", "which"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    ref: Mapped[str] = mapped_column(sa.String(80))
    for_review_on: Mapped[date] = mapped_column(sa.Date)
    which: Mapped[str] = mapped_column(sa.String(10))  # due, overdue
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notification_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notifications.id", ondelete="SET NULL"))


class SurveyRound(db.Model):
    """An incident resolved: its responders are to be asked (due work for the engine)."""

    __tablename__ = "survey_rounds"

    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True,
                                             autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    invited: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(sa.String(12), default="")  # sent, missed, none


class SurveyInvitation(db.Model):
    """One person asked about one incident. The link's token is kept only as its
    SHA-256 until it is used; using it clears the hash and sets `answered`, with no
    time, so nothing here can be matched with an answer."""

    __tablename__ = "survey_invitations"
    __table_args__ = (sa.UniqueConstraint("incident_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered: Mapped[bool] = mapped_column(default=False)
    notification_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notifications.id", ondelete="SET NULL"))


class SurveyAnswer(db.Model):
    """One anonymous answer: the incident and the scores, nothing else. The key is
    random (and SQLite keeps the table in key order, without a rowid), so neither
    key nor position says when, or in which order, answers came."""

    __tablename__ = "survey_answers"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    blameless: Mapped[int] = mapped_column(sa.SmallInteger)
    safety: Mapped[int] = mapped_column(sa.SmallInteger)


class DrillAssessment(db.Model):
    """A participant's assessment in a drill or game day (an incident flagged as an
    exercise): a score from 0 to 100 and a note from whoever ran it."""

    __tablename__ = "drill_assessments"
    __table_args__ = (sa.UniqueConstraint("incident_id", "user_id"),
                      sa.CheckConstraint("score BETWEEN 0 AND 100", name="score_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    score: Mapped[int] = mapped_column()
    note: Mapped[str] = mapped_column(sa.Text, default="")
    assessed_by: Mapped[str] = mapped_column(sa.String(200), default="")
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    incident: Mapped[Incident] = relationship()
    user: Mapped[User] = relationship()


# Indexes the metric queries need on other domains' tables, declared here beside the
# queries that use them (tests/test_insights_plans.py holds the queries to them).
# The period of every incident metric is a range of detection times.
sa.Index("ix_incidents_detected_at", Incident.detected_at)
# Pages sent in a period (the interruptions heat map).
sa.Index("ix_incident_events_kind_at", IncidentEvent.kind, IncidentEvent.at)
# Action items due in a period, whatever their status.
sa.Index("ix_action_items_due_on", ActionItem.due_on)
# Updates the cadence owed that fell due in a period (communication compliance).
sa.Index("ix_comms_dues_due_at", CommsDue.due_at)
