"""What the on-call pages show: who is on call now, calendars, gaps, my shifts.

Reads the database once per page (through `specs`) and leaves the deciding to
`compute`; nothing here writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.auth.models import User
from app.engine import memo
from app.extensions import db
from app.oncall import compute
from app.oncall.models import Holiday, Override, Schedule, Swap, TemporarySchedule
from app.oncall.specs import load_specs

GAP_WARNING = timedelta(days=14)
LOOK = timedelta(days=35)


def people_by_id(ids) -> dict[int, User]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


@dataclass
class NowRow:
    """One schedule's answer for "who is on call now"."""

    schedule: Schedule
    shift: compute.Shift | None  # the current final shift, from now until its end
    next: compute.Shift | None  # the shift after it
    gaps: list[tuple[datetime, datetime]]
    person: User | None = None
    next_person: User | None = None
    covering_for: User | None = None
    label: str = ""
    since: datetime | None = None

    @property
    def gap_hours(self) -> float:
        return sum((b - a).total_seconds() for a, b in self.gaps) / 3600


def on_call_now(schedules: list[Schedule], now: datetime, *, with_gaps: bool = True,
                with_since: bool = True) -> list[NowRow]:
    specs = load_specs(schedules, since=now - (LOOK if with_since else timedelta(days=1)))
    rows = []
    for schedule in schedules:
        spec = specs[schedule.id]
        upcoming = compute.final_shifts(spec, now, now + LOOK)
        current = upcoming[0] if upcoming and upcoming[0].start == now else None
        following = [s for s in upcoming if s.start > now]
        holes = compute.gaps(spec, now, now + GAP_WARNING) if with_gaps else []
        row = NowRow(schedule, current, following[0] if following else None, holes)
        if current is not None and with_since:
            before = compute.final_shifts(spec, now - LOOK, now)
            joined = before and before[-1].end == now and before[-1].assignment == current.assignment
            row.since = before[-1].start if joined else now
        rows.append(row)
    names = people_by_id({p for r in rows for p in (r.shift and r.shift.user_id, r.next and r.next.user_id,
                                                   r.shift and r.shift.covering_for)})
    for row in rows:
        row.person = names.get(row.shift.user_id) if row.shift else None
        row.next_person = names.get(row.next.user_id) if row.next else None
        row.covering_for = names.get(row.shift.covering_for) if row.shift and row.shift.covering_for else None
        row.label = describe(row.shift, names) if row.shift else ""
    return rows


def describe(shift: compute.Shift, names: dict[int, User]) -> str:
    """Where a shift comes from, in words: "Primary", "Override", "Swap with Ben"."""
    covering = names.get(shift.covering_for) if shift.covering_for else None
    if shift.kind == "override":
        return "Override"
    if shift.kind == "swap":
        return f"Swap{' for ' + covering.name if covering else ''} · {shift.layer or ''}".rstrip(" ·")
    label = f"Temporary: {shift.source} · {shift.layer}" if shift.kind == "temporary" else shift.source
    if covering:
        label += f" · covering for {covering.name} (away)"
    return label


# --- calendars --------------------------------------------------------------------------

@dataclass
class Piece:
    """A final shift as drawn on one day: clipped to the day, in the viewer's zone."""

    shift: compute.Shift
    start: datetime
    end: datetime
    person: User | None
    label: str
    from_before: bool
    goes_on: bool
    is_now: bool
    mine: bool


@dataclass
class Day:
    day: date
    start: datetime
    end: datetime
    pieces: list[Piece] = field(default_factory=list)
    away: list[tuple[User, Holiday]] = field(default_factory=list)
    today: bool = False
    in_month: bool = True

    @property
    def uncovered(self) -> bool:
        covered = sum((p.end - p.start).total_seconds() for p in self.pieces)
        return covered < (self.end - self.start).total_seconds()


@dataclass
class Calendar:
    view: str
    zone: ZoneInfo
    days: list[Day]
    first: date
    previous: date
    following: date
    title: str
    layers: list[tuple[str, list[Piece]]]  # each layer alone, for the week view

    @property
    def weeks(self) -> list[list[Day]]:
        return [self.days[i:i + 7] for i in range(0, len(self.days), 7)]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def calendar(schedule: Schedule, spec: compute.ScheduleSpec, *, view: str, around: date, zone: ZoneInfo,
             now: datetime, me: int | None) -> Calendar:
    """A week (Monday first) or a month (whole weeks) of final shifts, in `zone`."""
    if view == "month":
        month = around.replace(day=1)
        first = week_start(month)
        next_month = (month + timedelta(days=32)).replace(day=1)
        last = week_start(next_month - timedelta(days=1)) + timedelta(days=7)
        previous = (month - timedelta(days=1)).replace(day=1)
        following = next_month
        title = month.strftime("%B %Y")
    else:
        view = "week"
        first = week_start(around)
        last = first + timedelta(days=7)
        previous, following = first - timedelta(days=7), last
        end_day = last - timedelta(days=1)
        title = f"{first:%d %b} – {end_day:%d %b %Y}"
    start = compute.to_utc(datetime.combine(first, time()), zone)
    end = compute.to_utc(datetime.combine(last, time()), zone)
    shifts = compute.final_shifts(spec, start, end)
    holidays = db.session.scalars(sa.select(Holiday).where(
        Holiday.user_id.in_({h.user_id for h in spec.holidays}), Holiday.starts_at < end,
        Holiday.ends_at > start)).all() if spec.holidays else []
    per_layer = {layer.name: compute.layer_shifts(spec, layer, start, end)
                 for layer in spec.layers} if view == "week" and len(spec.layers) > 1 else {}
    names = people_by_id({s.user_id for s in shifts} | {s.covering_for for s in shifts}
                         | {h.user_id for h in holidays} | {s.user_id for v in per_layer.values() for s in v})
    today = compute.to_local(now, zone).date()
    days = []
    day = first
    while day < last:
        low = compute.to_utc(datetime.combine(day, time()), zone)
        high = compute.to_utc(datetime.combine(day + timedelta(days=1), time()), zone)
        entry = Day(day, low, high, today=day == today, in_month=view != "month" or day.month == around.month)
        entry.pieces = _pieces(shifts, low, high, names, now, me)
        entry.away = [(names[h.user_id], h) for h in holidays if h.starts_at < high and h.ends_at > low
                      and h.user_id in names]
        days.append(entry)
        day += timedelta(days=1)
    layers = [(name, _pieces(pieces, start, end, names, now, me)) for name, pieces in per_layer.items()]
    return Calendar(view, zone, days, first, previous, following, title, layers)


def _pieces(shifts, low: datetime, high: datetime, names, now: datetime, me: int | None) -> list[Piece]:
    result = []
    for shift in shifts:
        if shift.end <= low or shift.start >= high:
            continue
        start, end = max(shift.start, low), min(shift.end, high)
        result.append(Piece(shift, start, end, names.get(shift.user_id), describe(shift, names), shift.start < low,
                            shift.end > high, start <= now < end, shift.user_id == me))
    return result


# --- my shifts ----------------------------------------------------------------------------

@dataclass
class MyShift:
    schedule: Schedule
    shift: compute.Shift
    label: str


def shifts_of(user: User, schedules: list[Schedule], start: datetime, end: datetime) -> list[MyShift]:
    """A person's whole shifts that overlap [start, end) (a shift under way at
    `start` is shown from its real start)."""
    specs = load_specs(schedules, since=start - LOOK)
    found = []
    for schedule in schedules:
        for shift in compute.final_shifts(specs[schedule.id], start - LOOK, end):
            if shift.user_id == user.id and shift.end > start:
                found.append((schedule, shift))
    names = people_by_id({s.covering_for for _, s in found})
    return sorted((MyShift(schedule, shift, describe(shift, names)) for schedule, shift in found),
                  key=lambda m: (m.shift.start, m.schedule.name))


def upcoming_changes(schedule: Schedule, now: datetime) -> dict:
    """Overrides, swaps and temporary schedules not yet over, for the schedule page."""
    def rows(model, order):
        return db.session.scalars(sa.select(model).where(model.schedule_id == schedule.id, model.ends_at > now)
                                  .order_by(order)).all()
    return {"overrides": rows(Override, Override.starts_at), "swaps": rows(Swap, Swap.first_starts_at),
            "temporaries": rows(TemporarySchedule, TemporarySchedule.starts_at)}


# --- who cannot be paged ---------------------------------------------------------

SOON = timedelta(days=7)


@dataclass(frozen=True)
class PeopleOn(memo.Key):
    """Everyone a schedule may put on call from a moment on (`people_on`)."""

    schedule_id: int
    at: datetime


def people_on(schedule: Schedule, now: datetime, changes: dict | None = None) -> set[int]:
    """Everyone the schedule may put on call from now on: the participants of every
    layer's rotation in force or still to come, and of overrides, swaps and temporary
    schedules not yet over (`changes`: `upcoming_changes`, when the caller has it).
    Nobody for an archived schedule. Asked once per schedule within `memo.sharing`."""
    from app.oncall.service import current_version, pending_versions
    if schedule.archived_at is not None:
        return set()
    known = memo.current()
    if known is not None and (found := known.get(PeopleOn(schedule.id, now))) is not None:
        return found
    ids: set[int] = set()
    for layer in schedule.layers:
        current = current_version(layer, now)
        for version in ([current] if current else []) + pending_versions(layer, now):
            ids.update(version.participant_ids or ())
    changes = changes if changes is not None else upcoming_changes(schedule, now)
    ids.update(o.user_id for o in changes["overrides"])
    ids.update(i for s in changes["swaps"] for i in (s.first_user_id, s.second_user_id))
    ids.update(i for t in changes["temporaries"] for i in t.participant_ids or ())
    if known is not None:
        known.put(PeopleOn(schedule.id, now), ids)
    return ids


@dataclass(frozen=True)
class UnpageableShift:
    """Someone on call soon who cannot be paged: the first such shift of theirs."""

    who: "Unpageable"  # noqa: F821 (app.notify.reach)
    schedule: Schedule
    shift: compute.Shift

    @property
    def sentence(self) -> str:
        return f"{self.who.sentence} (on call for {self.schedule.name} from {self.shift.start:%Y-%m-%d %H:%M} UTC)"


def unpageable_on_call(schedules: list[Schedule], now: datetime, within: timedelta = SOON) -> list[UnpageableShift]:
    """Everyone on call on these schedules between now and `within` from now who
    cannot be paged, each with the first shift that would miss its pages."""
    from app.notify.reach import unpageable
    specs = load_specs(schedules, since=now)
    first: dict[tuple[int, int], tuple[Schedule, compute.Shift]] = {}
    for schedule in schedules:
        for shift in compute.final_shifts(specs[schedule.id], now, now + within):
            first.setdefault((schedule.id, shift.user_id), (schedule, shift))
    who = {u.user.id: u for u in unpageable({user_id for _, user_id in first})}
    found = [UnpageableShift(who[user_id], schedule, shift)
             for (_, user_id), (schedule, shift) in first.items() if user_id in who]
    return sorted(found, key=lambda u: (u.shift.start, u.schedule.name, u.who.user.name))
