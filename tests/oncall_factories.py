"""Factories for on-call tests: each makes one thing through the real service functions."""
from __future__ import annotations

import itertools
from datetime import date, datetime, time

from app import clock
from app.auth.models import Team, User
from app.extensions import db
from app.oncall import service as oncall
from app.oncall.models import Override, Schedule, ScheduleLayer
from tests.factories import SYSTEM

_seq = itertools.count(1)


def make_schedule(name: str | None = None, *, zone: str = "UTC", team: Team | None = None,
                  reminder_minutes: int = 60, now: datetime | None = None) -> Schedule:
    schedule = oncall.create_schedule(SYSTEM, name=name or f"Schedule {next(_seq)}", time_zone=zone,
                                      team_id=team.id if team else None, reminder_minutes=reminder_minutes,
                                      now=now or clock.now())
    db.session.commit()
    return schedule


def make_layer(schedule: Schedule, people: list[User], *, name: str | None = None, unit: str = "weeks",
               length: int = 1, handoff: time = time(9), weekday: int | None = 0, start: date = date(2026, 1, 5),
               restrictions=(), now: datetime | None = None) -> ScheduleLayer:
    layer = oncall.add_layer(SYSTEM, schedule, name=name or f"Layer {next(_seq)}", start_date=start,
                             participant_ids=[p.id for p in people], shift_unit=unit, shift_length=length,
                             handoff_time=handoff, handoff_weekday=weekday, restrictions=list(restrictions),
                             now=now or clock.now())
    db.session.commit()
    return layer


def make_override(schedule: Schedule, user: User, start: datetime, end: datetime,
                  now: datetime | None = None) -> Override:
    override = oncall.add_override(SYSTEM, schedule, user_id=user.id, starts_at=start, ends_at=end,
                                   now=now or clock.now())
    db.session.commit()
    return override
