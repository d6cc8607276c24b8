"""On-call load: hours on call and pages received, per person and per schedule,
split into business hours, evening and sleep hours in each person's own zone.

Pages are incident-timeline events of kind "page_sent" whose data names the
person (`{"user_id": …}`, optionally `"schedule_id"`); acknowledgements are
"acknowledged" events by that person. Paging writes those events; this reads them.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.auth.models import User
from app.extensions import db
from app.incidents.models import EventKind, IncidentEvent
from app.oncall import compute
from app.oncall.models import Schedule
from app.oncall.specs import load_specs

PAGE_SENT = "page_sent"
BUSINESS, EVENING, SLEEP = "business", "evening", "sleep"
CATEGORIES = (BUSINESS, EVENING, SLEEP)
LABELS = {BUSINESS: "Business hours", EVENING: "Evening and weekend", SLEEP: "Sleep hours"}
# Local hours: sleep 22:00–07:00 every day; business hours Monday to Friday 09:00–17:00;
# the rest (early mornings, evenings, weekend days) is "evening".
SLEEP_FROM, SLEEP_UNTIL = 22, 7
BUSINESS_FROM, BUSINESS_UNTIL = 9, 17
_EDGES = (0, SLEEP_UNTIL, BUSINESS_FROM, BUSINESS_UNTIL, SLEEP_FROM, 24)


def category(at: datetime, zone: ZoneInfo) -> str:
    """Which part of the day `at` is for someone living in `zone`."""
    local = at.astimezone(zone)
    hour = local.hour
    if hour >= SLEEP_FROM or hour < SLEEP_UNTIL:
        return SLEEP
    if local.weekday() < 5 and BUSINESS_FROM <= hour < BUSINESS_UNTIL:
        return BUSINESS
    return EVENING


def split(start: datetime, end: datetime, zone: ZoneInfo) -> dict[str, float]:
    """Seconds of [start, end) in each category, by local wall clock (DST-aware)."""
    totals = dict.fromkeys(CATEGORIES, 0.0)
    if end <= start:
        return totals
    day = compute.to_local(start, zone).date() - timedelta(days=1)
    last = compute.to_local(end, zone).date()
    while day <= last:
        edges = [compute.to_utc(datetime.combine(day, time(h)) if h < 24 else
                                datetime.combine(day + timedelta(days=1), time()), zone) for h in _EDGES]
        for low, high in zip(edges, edges[1:]):
            low, high = max(low, start), min(high, end)
            if low < high:
                totals[category(low, zone)] += (high - low).total_seconds()
        day += timedelta(days=1)
    return totals


@dataclass
class PersonLoad:
    user: User
    hours: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0.0))
    pages: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    acknowledged: int = 0
    by_schedule: dict[int, float] = field(default_factory=dict)

    @property
    def total_hours(self) -> float:
        return sum(self.hours.values())

    @property
    def total_pages(self) -> int:
        return sum(self.pages.values())


@dataclass
class Share:
    """One person's part of a schedule, against an equal share."""

    user: User
    hours: float
    pages: int
    sleep_pages: int
    fair_hours: float

    @property
    def deviation(self) -> float:
        """How far from an equal share, as a fraction (+0.25: a quarter more)."""
        return (self.hours - self.fair_hours) / self.fair_hours if self.fair_hours else 0.0


@dataclass
class ScheduleLoad:
    schedule: Schedule
    hours: float
    pages: int
    shares: list[Share]


@dataclass
class Report:
    start: datetime
    end: datetime
    people: list[PersonLoad]
    schedules: list[ScheduleLoad]


def page_conditions(start: datetime, end: datetime) -> list:
    """What counts as a page to a person in [start, end), as WHERE conditions on
    incident_events (this report and the insights heat map read the same)."""
    return [IncidentEvent.kind == PAGE_SENT, IncidentEvent.at >= start, IncidentEvent.at < end,
            IncidentEvent.data["user_id"].as_integer().is_not(None)]


def pages_between(start: datetime, end: datetime) -> list[tuple[int, datetime, int | None]]:
    """(person, when, schedule or None) for every page sent in [start, end)."""
    user_id = IncidentEvent.data["user_id"].as_integer()
    schedule_id = IncidentEvent.data["schedule_id"].as_integer()
    rows = db.session.execute(sa.select(user_id, IncidentEvent.at, schedule_id).where(*page_conditions(start, end)))
    return [(int(u), at, s) for u, at, s in rows]


def acknowledgements_between(start: datetime, end: datetime) -> dict[int, int]:
    rows = db.session.execute(sa.select(IncidentEvent.actor_user_id, sa.func.count()).where(
        IncidentEvent.kind == EventKind.ACKNOWLEDGED.value, IncidentEvent.at >= start, IncidentEvent.at < end,
        IncidentEvent.actor_user_id.is_not(None)).group_by(IncidentEvent.actor_user_id))
    return {user: count for user, count in rows}


def report(schedules: list[Schedule], start: datetime, end: datetime) -> Report:
    specs = load_specs(schedules, since=start)
    # An archived schedule counts up to its archiving.
    shifts = {s.id: compute.final_shifts(specs[s.id], start, min(end, s.archived_at or end)) if (
        s.archived_at or end) > start else [] for s in schedules}
    participants = {s.id: {p for layer in specs[s.id].layers for r in layer.rotations for p in r.participants}
                    for s in schedules}
    pages = pages_between(start, end)
    acks = acknowledgements_between(start, end)
    ids = ({x.user_id for found in shifts.values() for x in found} | {p for p, _, _ in pages}
           | set(acks) | {p for group in participants.values() for p in group})
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    people: dict[int, PersonLoad] = {}

    def person(user_id: int) -> PersonLoad:
        if user_id not in people:
            people[user_id] = PersonLoad(users[user_id])
        return people[user_id]

    for schedule in schedules:
        for shift in shifts[schedule.id]:
            load = person(shift.user_id)
            for name, seconds in split(shift.start, shift.end, ZoneInfo(load.user.time_zone or "UTC")).items():
                load.hours[name] += seconds / 3600
            hours = shift.duration.total_seconds() / 3600
            load.by_schedule[schedule.id] = load.by_schedule.get(schedule.id, 0.0) + hours
    for user_id, at, _ in pages:
        if user_id in users:
            load = person(user_id)
            load.pages[category(at, ZoneInfo(load.user.time_zone or "UTC"))] += 1
    for user_id, count in acks.items():
        if user_id in users:
            person(user_id).acknowledged = count

    per_schedule = []
    for schedule in schedules:
        hours: dict[int, float] = defaultdict(float)
        for shift in shifts[schedule.id]:
            hours[shift.user_id] += shift.duration.total_seconds() / 3600
        counted = defaultdict(lambda: [0, 0])
        for user_id, at, schedule_id in pages:
            on_it = schedule_id == schedule.id if schedule_id is not None else any(
                s.user_id == user_id and s.contains(at) for s in shifts[schedule.id])
            if on_it and user_id in users:
                counted[user_id][0] += 1
                if category(at, ZoneInfo(users[user_id].time_zone or "UTC")) == SLEEP:
                    counted[user_id][1] += 1
        members = sorted(set(hours) | participants[schedule.id] | set(counted), key=lambda u: users[u].name)
        total = sum(hours.values())
        fair = total / len(members) if members else 0.0
        shares = [Share(users[u], hours.get(u, 0.0), counted[u][0], counted[u][1], fair) for u in members if u in users]
        per_schedule.append(ScheduleLoad(schedule, total, sum(c[0] for c in counted.values()), shares))
    ordered = sorted(people.values(), key=lambda p: (-p.total_hours, p.user.name))
    return Report(start, end, ordered, per_schedule)


# --- the chart ----------------------------------------------------------------------------

@dataclass
class Bar:
    label: str
    y: float
    segments: list[tuple[str, float, float, float]]  # (category, x, width, hours)
    total: float


@dataclass
class Chart:
    width: int
    height: int
    label_width: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]


def chart(people: list[PersonLoad], *, width: int = 640, bar: int = 22, gap: int = 10,
          label_width: int = 150) -> Chart:
    """Stacked horizontal bars of hours per person (business, evening, sleep),
    laid out for a server-rendered SVG."""
    top = max((p.total_hours for p in people), default=0.0) or 1.0
    plot = width - label_width - 60
    bars = []
    for number, load in enumerate(people):
        x = float(label_width)
        segments = []
        for name in CATEGORIES:
            w = plot * load.hours[name] / top
            segments.append((name, x, w, load.hours[name]))
            x += w
        bars.append(Bar(load.user.name, 24 + number * (bar + gap), segments, load.total_hours))
    step = _nice_step(top)
    ticks = []
    value = 0.0
    while value <= top + 1e-9:
        ticks.append((label_width + plot * value / top, f"{value:g} h"))
        value += step
    return Chart(width, 24 + len(people) * (bar + gap) + 10, label_width, bars, ticks)


def _nice_step(top: float) -> float:
    for step in (1, 2, 5, 10, 12, 24, 25, 50, 100, 168, 200, 250, 500, 1000):
        if top / step <= 6:
            return float(step)
    return float(round(top / 5))
