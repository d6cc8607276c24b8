"""From the database to `compute.ScheduleSpec`: the plain picture the pure
functions work on. One query per table, for one schedule or for many at once."""
from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.auth.models import User
from app.extensions import db
from app.oncall import compute
from app.oncall.models import (
    Holiday, Override, RotationVersion, Schedule, ScheduleLayer, Swap, TemporarySchedule,
)

# Inactive people are skipped by every rotation, as if on a holiday without end.
_FOREVER = (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def restriction_of(data: dict) -> compute.Restriction:
    return compute.Restriction(tuple(sorted(int(d) for d in data["days"])), parse_hhmm(data["start"]),
                               parse_hhmm(data["end"]))


def rotation_of(version: RotationVersion) -> compute.Rotation:
    return compute.Rotation(
        participants=tuple(int(p) for p in version.participant_ids or ()), start=version.start_local,
        length=version.shift_length, unit=version.shift_unit.value, start_index=version.start_index,
        restrictions=tuple(restriction_of(r) for r in version.restrictions or ()))


def layer_of(layer: ScheduleLayer, versions: list[RotationVersion]) -> compute.Layer:
    ordered = sorted(versions, key=lambda v: (v.start_local, v.id))
    return compute.Layer(layer.name, tuple(rotation_of(v) for v in ordered), level=layer.position, id=layer.id)


def temporary_of(temporary: TemporarySchedule, zone: str) -> compute.TemporarySchedule:
    start = compute.to_local(temporary.starts_at, ZoneInfo(zone))
    rotation = compute.Rotation(tuple(int(p) for p in temporary.participant_ids or ()), start,
                                temporary.shift_length, temporary.shift_unit.value)
    return compute.TemporarySchedule(temporary.name, temporary.starts_at, temporary.ends_at,
                                     (compute.Layer(temporary.name, (rotation,), id=None),), id=temporary.id)


def override_of(override: Override) -> compute.Override:
    return compute.Override(override.user_id, override.starts_at, override.ends_at, id=override.id,
                            label=f"Override #{override.id}")


def swap_of(swap: Swap) -> compute.Swap:
    return compute.Swap(swap.first_user_id, swap.second_user_id, swap.first_starts_at, swap.first_ends_at,
                        swap.second_starts_at, swap.second_ends_at, id=swap.id, label=f"Swap #{swap.id}")


def load_spec(schedule: Schedule, since: datetime | None = None) -> compute.ScheduleSpec:
    """The spec of one schedule; with `since`, overrides, swaps, temporary
    schedules and holidays that ended before it are left out."""
    return load_specs([schedule], since)[schedule.id]


def load_specs(schedules: list[Schedule], since: datetime | None = None) -> dict[int, compute.ScheduleSpec]:
    ids = [s.id for s in schedules]
    if not ids:
        return {}
    layers = db.session.scalars(sa.select(ScheduleLayer).where(ScheduleLayer.schedule_id.in_(ids))).all()
    versions = defaultdict(list)
    if layers:
        for version in db.session.scalars(sa.select(RotationVersion).where(
                RotationVersion.layer_id.in_([layer.id for layer in layers]))):
            versions[version.layer_id].append(version)
    by_schedule = defaultdict(list)
    for layer in layers:
        by_schedule[layer.schedule_id].append(layer)

    def ending_after(model, column):
        stmt = sa.select(model).where(model.schedule_id.in_(ids))
        if since is not None:
            stmt = stmt.where(column > since)
        return stmt.order_by(model.id)

    overrides, swaps, temporaries = defaultdict(list), defaultdict(list), defaultdict(list)
    for row in db.session.scalars(ending_after(Override, Override.ends_at)):
        overrides[row.schedule_id].append(override_of(row))
    for row in db.session.scalars(ending_after(Swap, Swap.ends_at)):
        swaps[row.schedule_id].append(swap_of(row))
    zones = {s.id: s.time_zone for s in schedules}
    for row in db.session.scalars(ending_after(TemporarySchedule, TemporarySchedule.ends_at)):
        temporaries[row.schedule_id].append(temporary_of(row, zones[row.schedule_id]))

    holidays = defaultdict(list)
    stmt = sa.select(Holiday)
    if since is not None:
        stmt = stmt.where(Holiday.ends_at > since)
    for row in db.session.scalars(stmt):
        holidays[row.user_id].append(compute.Holiday(row.user_id, row.starts_at, row.ends_at))
    for user_id in db.session.scalars(sa.select(User.id).where(User.active.is_(False))):
        holidays[user_id].append(compute.Holiday(user_id, *_FOREVER))

    specs = {}
    for schedule in schedules:
        stack = tuple(layer_of(layer, versions[layer.id]) for layer in by_schedule[schedule.id])
        people = {p for layer in stack for r in layer.rotations for p in r.participants}
        people |= {p for t in temporaries[schedule.id] for layer in t.layers for r in layer.rotations
                   for p in r.participants}
        specs[schedule.id] = compute.ScheduleSpec(
            schedule.time_zone, layers=stack, overrides=tuple(overrides[schedule.id]),
            holidays=tuple(h for person in sorted(people) for h in holidays.get(person, ())),
            temporaries=tuple(temporaries[schedule.id]), swaps=tuple(swaps[schedule.id]),
            name=schedule.name, id=schedule.id)
    return specs
