"""On-call schedules: layers and their rotation versions, overrides, swaps,
temporary schedules, holidays, handovers, reminders and calendar feeds.

Times are instants stored in UTC. A rotation's handoff is a wall-clock time in
the schedule's zone (a date and a time, not an instant), so it stays 09:00 local
across daylight-saving changes; `app.oncall.compute` turns it into instants.
"""
from __future__ import annotations

import enum
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import clock
from app.auth.models import Team, User, enum_column
from app.database import UTCDateTime
from app.extensions import db


class ShiftUnit(enum.StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class Schedule(db.Model):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    # Minutes before a shift starts that its person is reminded (0: no reminders).
    reminder_minutes: Mapped[int] = mapped_column(default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    # Bumped on every change that can move who is on call.
    version: Mapped[int] = mapped_column(default=1)
    # Archived instead of deleted: its handovers, notes and shifts stay for the load
    # figures and the record; it pages nobody and changes no more.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Due work for the engine: the next shift change and the next reminder, and
    # how far each has been done (changes up to that instant are handled).
    next_handover_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    handovers_done_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reminders_done_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    team: Mapped[Team | None] = relationship()
    layers: Mapped[list["ScheduleLayer"]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan", order_by="ScheduleLayer.position.desc()")

    def __repr__(self) -> str:
        return f"<Schedule {self.name}>"


class ScheduleLayer(db.Model):
    """A rotation layer. Layers with a higher `position` win."""

    __tablename__ = "schedule_layers"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    schedule: Mapped[Schedule] = relationship(back_populates="layers")
    versions: Mapped[list["RotationVersion"]] = relationship(
        back_populates="layer", cascade="all, delete-orphan",
        order_by=lambda: [RotationVersion.start_date, RotationVersion.handoff_time, RotationVersion.id])


class RotationVersion(db.Model):
    """One version of a layer's rotation, in force from its first handoff (the local
    wall-clock `start_date` + `handoff_time` in the schedule's zone) until the next
    version's. Editing a rotation adds a version starting at the next handoff, so
    whoever is on call now stays on call."""

    __tablename__ = "rotation_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(sa.ForeignKey("schedule_layers.id", ondelete="CASCADE"), index=True)
    start_date: Mapped[date] = mapped_column(sa.Date)
    handoff_time: Mapped[time] = mapped_column(sa.Time)
    # For weekly rotations, the weekday of the handoff (0 Monday … 6 Sunday).
    handoff_weekday: Mapped[int | None] = mapped_column()
    shift_unit: Mapped[ShiftUnit] = enum_column(ShiftUnit, "shift_unit", default=ShiftUnit.WEEKS)
    shift_length: Mapped[int] = mapped_column(default=1)
    # User ids in rotation order.
    participant_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Which participant takes the first shift of this version.
    start_index: Mapped[int] = mapped_column(default=0)
    # [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}, …]; empty: always on.
    restrictions: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    layer: Mapped[ScheduleLayer] = relationship(back_populates="versions")

    @property
    def start_local(self) -> datetime:
        return datetime.combine(self.start_date, self.handoff_time)

    @property
    def restriction_labels(self) -> list[str]:
        """["Mon–Fri 09:00–17:00", …]"""
        return [f"{days_label(r['days'])} {r['start']}–{r['end']}" for r in self.restrictions or ()]


DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def days_label(days) -> str:
    """[0, 1, 2, 3, 4] → "Mon–Fri"; [0, 2] → "Mon, Wed"; all seven → "every day"."""
    days = sorted({int(d) for d in days})
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(DAY_NAMES[r[0]] if len(r) == 1 else f"{DAY_NAMES[r[0]]}–{DAY_NAMES[r[-1]]}" for r in runs)


class Override(db.Model):
    """A person covers a window; wins over every layer."""

    __tablename__ = "schedule_overrides"
    __table_args__ = (sa.Index("ix_schedule_overrides_schedule_ends", "schedule_id", "ends_at"),
                      sa.CheckConstraint("ends_at > starts_at", name="override_order"))

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    schedule: Mapped[Schedule] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class Swap(db.Model):
    """Two people trade turns: the second takes the first's turns in the first
    window, and the first takes the second's in the second window (if any)."""

    __tablename__ = "schedule_swaps"
    __table_args__ = (sa.Index("ix_schedule_swaps_schedule_ends", "schedule_id", "ends_at"),
                      sa.CheckConstraint("first_ends_at > first_starts_at", name="swap_order"))

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    first_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    second_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    first_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    second_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    second_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The later of the two windows' ends, so old swaps are skipped by an index.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    schedule: Mapped[Schedule] = relationship()
    first_user: Mapped[User] = relationship(foreign_keys=[first_user_id])
    second_user: Mapped[User] = relationship(foreign_keys=[second_user_id])


class TemporarySchedule(db.Model):
    """Replaces the whole schedule for a window with a rotation of its own (its
    first shift starts with the window)."""

    __tablename__ = "temporary_schedules"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="temporary_order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shift_unit: Mapped[ShiftUnit] = enum_column(ShiftUnit, "temporary_shift_unit", default=ShiftUnit.DAYS)
    shift_length: Mapped[int] = mapped_column(default=1)
    participant_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    schedule: Mapped[Schedule] = relationship()


class Holiday(db.Model):
    """A person's days off: every rotation they are in skips them (the next person
    in line covers)."""

    __tablename__ = "holidays"
    __table_args__ = (sa.Index("ix_holidays_user_ends", "user_id", "ends_at"),
                      sa.CheckConstraint("ends_at > starts_at", name="holiday_order"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def last_moment(self) -> datetime:
        """Just before it ends: on the last day off."""
        return self.ends_at - timedelta(microseconds=1)


class OutboxState(enum.StrEnum):
    """Where a handover's or reminder's messages are: waiting for the notification
    outbox, handed to it, or not sent because the moment had passed."""

    PENDING = "pending"
    ENQUEUED = "enqueued"
    MISSED = "missed"


class Handover(db.Model):
    """One shift change on one schedule, with the messages for both people.

    Unique per (schedule, instant): a repeated engine cycle never makes two.
    """

    __tablename__ = "handovers"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "at"),
                      sa.Index("ix_handovers_state_at", "state", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outgoing_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    incoming_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    outgoing_subject: Mapped[str] = mapped_column(sa.String(255), default="")
    outgoing_body: Mapped[str] = mapped_column(sa.Text, default="")
    incoming_subject: Mapped[str] = mapped_column(sa.String(255), default="")
    incoming_body: Mapped[str] = mapped_column(sa.Text, default="")
    open_incidents: Mapped[int] = mapped_column(default=0)
    state: Mapped[OutboxState] = enum_column(OutboxState, "handover_state", default=OutboxState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    schedule: Mapped[Schedule] = relationship()
    outgoing: Mapped[User | None] = relationship(foreign_keys=[outgoing_user_id])
    incoming: Mapped[User | None] = relationship(foreign_keys=[incoming_user_id])
    note: Mapped["HandoverNote | None"] = relationship(back_populates="handover", uselist=False)

    def messages(self) -> list[dict]:
        """What to put in the notification outbox, each with a unique key."""
        result = []
        if self.outgoing_user_id is not None:
            result.append({"key": f"handover:{self.id}:outgoing", "purpose": "handover",
                           "user_id": self.outgoing_user_id, "subject": self.outgoing_subject,
                           "body": self.outgoing_body})
        if self.incoming_user_id is not None:
            result.append({"key": f"handover:{self.id}:incoming", "purpose": "handover",
                           "user_id": self.incoming_user_id, "subject": self.incoming_subject,
                           "body": self.incoming_body})
        return result


class HandoverNote(db.Model):
    """What the outgoing person wants the next one to know; taken into the next
    handover of that schedule (then `handover_id` is set)."""

    __tablename__ = "handover_notes"
    __table_args__ = (sa.Index("ix_handover_notes_pending", "schedule_id", "author_id", "handover_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(sa.Text)
    handover_id: Mapped[int | None] = mapped_column(sa.ForeignKey("handovers.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    author: Mapped[User] = relationship()
    handover: Mapped[Handover | None] = relationship(back_populates="note")


class ShiftReminder(db.Model):
    """"Your shift starts in an hour": one per (schedule, person, shift start)."""

    __tablename__ = "shift_reminders"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "user_id", "shift_starts_at"),
                      sa.Index("ix_shift_reminders_state_remind", "state", "remind_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    shift_starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime)
    subject: Mapped[str] = mapped_column(sa.String(255), default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[OutboxState] = enum_column(OutboxState, "reminder_state", default=OutboxState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    schedule: Mapped[Schedule] = relationship()
    user: Mapped[User] = relationship()

    def messages(self) -> list[dict]:
        return [{"key": f"reminder:{self.id}", "purpose": "reminder", "user_id": self.user_id,
                 "subject": self.subject, "body": self.body}]


class CalendarFeed(db.Model):
    """A revocable link to an iCalendar feed of one schedule or one person's shifts.

    Only the token's SHA-256 is stored; the link is shown once. It stops working
    when revoked or when its owner is deactivated.
    """

    __tablename__ = "calendar_feeds"
    __table_args__ = (sa.CheckConstraint("(schedule_id IS NULL) <> (user_id IS NULL)", name="feed_target"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    # Minutes before each shift a calendar app should remind (none when null).
    reminder_minutes: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    schedule: Mapped[Schedule | None] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.owner.active
