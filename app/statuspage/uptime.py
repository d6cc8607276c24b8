"""Uptime: a component's status history (time ranges) rolled up per day, the 90-day
bars, and the uptime percentage.

The rule, stated on the page too: of the time a component was observed, time under
maintenance is left out; major outage counts fully as downtime, partial outage
counts as PARTIAL_WEIGHT of it, and degraded performance counts as up.

Days are the page's days (its time zone). Completed days are rolled up once by the
engine (`rollup`, a daily due row); days not rolled up yet (today, or after a
pause) are computed from the ranges when the page renders.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import clock
from app.extensions import db
from app.statuspage.models import (
    Component, ComponentDay, ComponentStatus, ComponentStatusRange, PublicIncident, PublicIncidentComponent,
)

DAYS = 90
PARTIAL_WEIGHT = 0.3
RULE = ("Uptime is the share of the last 90 days each component was up. Major outage counts as down, "
        "partial outage counts as 30% down, degraded performance counts as up, and time under planned "
        "maintenance is left out.")
ROLLUP_DELAY = timedelta(minutes=5)
RANGE_RETENTION = timedelta(days=DAYS + 10)
_FIELD = {ComponentStatus.OPERATIONAL: "operational_s", ComponentStatus.MAINTENANCE: "maintenance_s",
          ComponentStatus.DEGRADED: "degraded_s", ComponentStatus.PARTIAL: "partial_s",
          ComponentStatus.MAJOR: "major_s"}


@dataclass
class Day:
    """One component's day: seconds in each status (empty: no data that day)."""

    day: date
    seconds: dict[ComponentStatus, int] = field(default_factory=dict)
    incidents: list = field(default_factory=list)  # public incidents touching the component that day

    @property
    def observed(self) -> int:
        return sum(self.seconds.values())

    @property
    def worst(self) -> ComponentStatus | None:
        seen = [s for s, n in self.seconds.items() if n > 0]
        return max(seen, key=lambda s: s.rank) if seen else None

    @property
    def has_data(self) -> bool:
        return self.observed > 0


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A local day as UTC instants (23 or 25 hours long across DST changes)."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return clock.utc(at).astimezone(zone).date()


def split(ranges, start: datetime, end: datetime) -> dict[ComponentStatus, int]:
    """Seconds per status of `ranges` [(status, started, ended or None)] inside [start, end)."""
    seconds: dict[ComponentStatus, int] = {}
    for status, began, ended in ranges:
        lo = max(clock.utc(began), start)
        hi = min(clock.utc(ended) if ended is not None else end, end)
        if hi > lo:
            status = ComponentStatus(status)
            seconds[status] = seconds.get(status, 0) + int((hi - lo).total_seconds())
    return seconds


def uptime(days: list[Day]) -> float | None:
    """The percentage by the rule above; None when there is nothing to count."""
    totals: dict[ComponentStatus, int] = {}
    for day in days:
        for status, seconds in day.seconds.items():
            totals[status] = totals.get(status, 0) + seconds
    counted = sum(totals.values()) - totals.get(ComponentStatus.MAINTENANCE, 0)
    if counted <= 0:
        return None
    down = totals.get(ComponentStatus.MAJOR, 0) + PARTIAL_WEIGHT * totals.get(ComponentStatus.PARTIAL, 0)
    return 100.0 * (1 - down / counted)


def format_uptime(value: float | None) -> str:
    """Two decimals, never rounded up to 100.00 when there was downtime."""
    if value is None:
        return "no data"
    floored = int(value * 100) / 100
    return f"{floored:.2f}%"


def window(today: date) -> list[date]:
    return [today - timedelta(days=DAYS - 1 - n) for n in range(DAYS)]


def first_day(component: Component, zone: ZoneInfo) -> date:
    return component.start_date or local_day(component.created_at, zone)


def history(components: list[Component], zone: ZoneInfo, now: datetime, with_incidents: bool = True, *,
            days: list[date] | None = None, touching: dict | None = None) -> dict[int, list[Day]]:
    """Per component id, its `days` (default: the last 90, oldest first): rolled-up days
    from the table, the rest from the ranges, cut to when the component started and to
    now; with the public incidents that touched each day (`touching`, if already read)."""
    if not components:
        return {}
    days = days if days is not None else window(local_day(now, zone))
    ids = [c.id for c in components]
    if not days:
        return {cid: [] for cid in ids}
    rolled: dict[tuple[int, date], dict[ComponentStatus, int]] = {}
    last_rolled: dict[int, date] = {}
    columns = [getattr(ComponentDay, name) for name in _FIELD.values()]
    for row in db.session.execute(sa.select(ComponentDay.component_id, ComponentDay.day, *columns)
                                  .where(ComponentDay.component_id.in_(ids), ComponentDay.day >= days[0],
                                         ComponentDay.day <= days[-1])):
        cid, day, *seconds = row
        rolled[(cid, day)] = {status: n for status, n in zip(_FIELD, seconds) if n}
        if cid not in last_rolled or day > last_rolled[cid]:
            last_rolled[cid] = day
    live_from = min((last_rolled[cid] + timedelta(days=1)) if cid in last_rolled else days[0] for cid in ids)
    live_start, _ = day_bounds(max(live_from, days[0]), zone)
    live_end = min(now, day_bounds(days[-1], zone)[1])
    ranges: dict[int, list] = {cid: [] for cid in ids}
    if live_start < live_end:
        for row in db.session.execute(
                sa.select(ComponentStatusRange.component_id, ComponentStatusRange.status,
                          ComponentStatusRange.started_at, ComponentStatusRange.ended_at)
                .where(ComponentStatusRange.component_id.in_(ids), ComponentStatusRange.started_at < live_end,
                       sa.or_(ComponentStatusRange.ended_at.is_(None), ComponentStatusRange.ended_at > live_start))):
            ranges[row.component_id].append((row.status, row.started_at, row.ended_at))

    result: dict[int, list[Day]] = {}
    for component in components:
        begins = first_day(component, zone)
        begins_at = max(clock.utc(component.created_at), day_bounds(begins, zone)[0]) \
            if component.start_date is None else day_bounds(begins, zone)[0]
        out = []
        for day in days:
            if day < begins:
                out.append(Day(day))
                continue
            seconds = rolled.get((component.id, day))
            if seconds is not None:
                out.append(Day(day, seconds))
                continue
            start, end = day_bounds(day, zone)
            start, end = max(start, begins_at), min(end, now)
            out.append(Day(day, split(ranges[component.id], start, end) if end > start else {}))
        result[component.id] = out
    if with_incidents:
        if touching is None:
            touching = incidents_touching(ids, zone, now, days[0])
        for component_id, component_days in result.items():
            for incident in touching.get(component_id, ()):
                began = local_day(incident.started_at, zone)
                ended = local_day(incident.resolved_at or now, zone)
                if ended < days[0] or began > days[-1]:
                    continue
                for day in component_days:
                    if began <= day.day <= ended:
                        day.incidents.append(incident)
    return result


def touching_versions(component_ids: list[int], zone: ZoneInfo, first: date) -> dict[int, tuple]:
    """Per component id, how many public incidents touched it since `first` and when the
    latest of them last changed: enough to know whether its bars must be made again."""
    start, _ = day_bounds(first, zone)
    rows = db.session.execute(
        sa.select(PublicIncidentComponent.component_id, sa.func.count(), sa.func.max(PublicIncident.updated_at))
        .join(PublicIncident, PublicIncident.id == PublicIncidentComponent.public_incident_id)
        .where(PublicIncidentComponent.component_id.in_(component_ids),
               sa.or_(PublicIncident.resolved_at.is_(None), PublicIncident.resolved_at >= start))
        .group_by(PublicIncidentComponent.component_id))
    return {cid: (count, str(latest)) for cid, count, latest in rows}


def incidents_touching(component_ids: list[int], zone: ZoneInfo, now: datetime, first: date) -> dict[int, list]:
    """Per component id, the public incidents that affected it since the start of `first`
    (as rows with id, public_id, name, started_at and resolved_at)."""
    start, _ = day_bounds(first, zone)
    touching: dict[int, list] = {}
    rows = db.session.execute(
        sa.select(PublicIncidentComponent.component_id, PublicIncident.id, PublicIncident.public_id,
                  PublicIncident.name, PublicIncident.started_at, PublicIncident.resolved_at)
        .join(PublicIncident, PublicIncident.id == PublicIncidentComponent.public_incident_id)
        .where(PublicIncidentComponent.component_id.in_(component_ids),
               sa.or_(PublicIncident.resolved_at.is_(None), PublicIncident.resolved_at >= start))
        .order_by(PublicIncident.started_at, PublicIncident.id)).all()
    for row in rows:  # plain rows (id, public_id, name, started_at, resolved_at): no objects to build
        touching.setdefault(row.component_id, []).append(row)
    return touching


# --- the engine's daily roll-up ----------------------------------------------------------

def next_rollup_at(now: datetime, zone: ZoneInfo) -> datetime:
    tomorrow = local_day(now, zone) + timedelta(days=1)
    return day_bounds(tomorrow, zone)[0] + ROLLUP_DELAY


def rollup(now: datetime, zone: ZoneInfo) -> int:
    """Roll up every completed day not rolled up yet (within the 90 days); drop ranges
    older than the window. Idempotent: a day already rolled up is left alone."""
    today = local_day(now, zone)
    earliest = today - timedelta(days=DAYS)
    written = 0
    components = db.session.scalars(sa.select(Component)).all()
    for component in components:
        last = db.session.scalar(sa.select(sa.func.max(ComponentDay.day))
                                 .where(ComponentDay.component_id == component.id))
        day = max(earliest, first_day(component, zone), (last + timedelta(days=1)) if last else earliest)
        if day >= today:
            continue
        start, _ = day_bounds(day, zone)
        end_all, _ = day_bounds(today, zone)
        ranges = [(r.status, r.started_at, r.ended_at) for r in db.session.scalars(
            sa.select(ComponentStatusRange).where(
                ComponentStatusRange.component_id == component.id, ComponentStatusRange.started_at < end_all,
                sa.or_(ComponentStatusRange.ended_at.is_(None), ComponentStatusRange.ended_at > start)))]
        begins_at = clock.utc(component.created_at) if component.start_date is None else None
        while day < today:
            lo, hi = day_bounds(day, zone)
            if begins_at is not None:
                lo = max(lo, begins_at)
            seconds = split(ranges, lo, hi) if hi > lo else {}
            db.session.add(ComponentDay(component_id=component.id, day=day,
                                        **{name: seconds.get(status, 0) for status, name in _FIELD.items()}))
            written += 1
            day += timedelta(days=1)
    db.session.execute(sa.delete(ComponentStatusRange).where(ComponentStatusRange.ended_at < now - RANGE_RETENTION))
    db.session.execute(sa.delete(ComponentDay).where(ComponentDay.day < earliest - timedelta(days=10)))
    return written
