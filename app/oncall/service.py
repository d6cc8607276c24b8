"""Changing schedules: the rules, without HTTP.

Every function takes the acting `Actor` and the current time, checks the rules
again (forms are only a first line), records its audit entry and leaves the
commit to the caller, so a change and its record land together or not at all.
Admins configure schedules, layers and temporary schedules; responders make
overrides and swaps (they act on on-call); a person records their own holidays
(admins anyone's); viewers only read.

Every change that can move who is on call bumps the schedule's version and
re-plans its next handover and reminder (`replan`), which the engine picks up.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth import permissions
from app.auth.models import Role, Team, User
from app.auth.service import valid_time_zone
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.forms import record_id
from app.oncall import compute
from app.oncall.models import (
    CalendarFeed, HandoverNote, Holiday, Override, RotationVersion, Schedule, ScheduleLayer, ShiftUnit, Swap,
    TemporarySchedule,
)
from app.oncall.specs import load_spec, rotation_of

MAX_NAME = 120
MAX_NOTE = 500
MAX_HANDOVER_NOTE = 5_000
MAX_PARTICIPANTS = 50
MAX_WINDOW = timedelta(days=366)
MAX_LENGTH = {ShiftUnit.HOURS: 24 * 14, ShiftUnit.DAYS: 90, ShiftUnit.WEEKS: 12}
FEED_PREFIX = "fbcal_"
# How far ahead the engine looks for the next handover; past it, it looks again.
PLAN_HORIZON = timedelta(days=35)

SCHEDULE_FIELDS = ["name", "description", "time_zone", "team_id", "reminder_minutes"]


# --- reading ----------------------------------------------------------------------------

def get_schedule(schedule_id: int) -> Schedule:
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("No such schedule.")
    return schedule


def get_layer(schedule: Schedule, layer_id: int) -> ScheduleLayer:
    layer = db.session.get(ScheduleLayer, layer_id)
    if layer is None or layer.schedule_id != schedule.id:
        raise NotFound("No such layer on this schedule.")
    return layer


def _get_in(model, schedule: Schedule, row_id: int, what: str):
    row = db.session.get(model, row_id)
    if row is None or row.schedule_id != schedule.id:
        raise NotFound(f"No such {what} on this schedule.")
    return row


def get_override(schedule: Schedule, override_id: int) -> Override:
    return _get_in(Override, schedule, override_id, "override")


def get_swap(schedule: Schedule, swap_id: int) -> Swap:
    return _get_in(Swap, schedule, swap_id, "swap")


def get_temporary(schedule: Schedule, temporary_id: int) -> TemporarySchedule:
    return _get_in(TemporarySchedule, schedule, temporary_id, "temporary schedule")


def all_schedules(*, include_archived: bool = False) -> list[Schedule]:
    stmt = sa.select(Schedule).order_by(Schedule.name)
    if not include_archived:
        stmt = stmt.where(Schedule.archived_at.is_(None))
    return db.session.scalars(stmt).all()


def schedules_during(start: datetime) -> list[Schedule]:
    """Every schedule that was in use at some time after `start` (archived ones too,
    up to their archiving), for figures over a period."""
    return db.session.scalars(sa.select(Schedule).where(
        sa.or_(Schedule.archived_at.is_(None), Schedule.archived_at > start)).order_by(Schedule.name)).all()


def current_version(layer: ScheduleLayer, now: datetime) -> RotationVersion | None:
    """The version in force at `now` (or the first one, if none has started)."""
    zone = ZoneInfo(layer.schedule.time_zone)
    versions = list(layer.versions)
    started = [v for v in versions if compute.to_utc(v.start_local, zone) <= now]
    return started[-1] if started else (versions[0] if versions else None)


def pending_versions(layer: ScheduleLayer, now: datetime) -> list[RotationVersion]:
    zone = ZoneInfo(layer.schedule.time_zone)
    return [v for v in layer.versions if compute.to_utc(v.start_local, zone) > now]


# --- checks -------------------------------------------------------------------------

def _require(actor: Actor, role: Role, message: str) -> None:
    if not actor.can(role):
        raise Forbidden(message)


def _admin(actor: Actor, schedule: Schedule) -> None:
    """An admin, or a manager of the schedule's team (app.auth.permissions)."""
    permissions.require(actor, schedule, "Only an admin or a manager of its team may change this schedule.")


def _responder(actor: Actor) -> None:
    _require(actor, Role.RESPONDER, "Only responders change who is on call.")


def _name(value: str | None, what: str, field: str = "name") -> str:
    name = " ".join((value or "").split())
    if not name:
        raise DomainError(f"Give the {what} a name.", field)
    if len(name) > MAX_NAME:
        raise DomainError(f"Keep the name under {MAX_NAME} characters.", field)
    return name


def _zone(value: str) -> str:
    if not valid_time_zone(value or ""):
        raise DomainError("Unknown time zone: use a name like Europe/London or America/New_York.", "time_zone")
    return value


def _person(user_id, field: str = "user_id") -> User:
    ident = record_id(user_id)
    user = db.session.get(User, ident) if ident else None
    if user is None:
        raise DomainError("No such person.", field)
    if not user.active:
        raise DomainError(f"{user.name} is deactivated.", field)
    return user


def _participants(ids, field: str = "participant_ids") -> list[int]:
    ids = [int(i) for i in ids or ()]
    if not ids:
        raise DomainError("Add at least one person to the rotation.", field)
    if len(ids) > MAX_PARTICIPANTS:
        raise DomainError(f"A rotation takes at most {MAX_PARTICIPANTS} people.", field)
    if len(set(ids)) != len(ids):
        raise DomainError("Each person appears once in a rotation.", field)
    for user_id in ids:
        _person(user_id, field)
    return ids


def _unit_and_length(unit, length) -> tuple[ShiftUnit, int]:
    try:
        unit = ShiftUnit(unit)
    except ValueError:
        raise DomainError("Shift length is in hours, days or weeks.", "shift_unit") from None
    if not isinstance(length, int) or not 1 <= length <= MAX_LENGTH[unit]:
        raise DomainError(f"A shift is 1 to {MAX_LENGTH[unit]} {unit.value}.", "shift_length")
    return unit, length


def _restrictions(items) -> list[dict]:
    """[{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}, …], checked and normalised."""
    result = []
    for item in items or ():
        try:
            days = sorted({int(d) for d in item["days"]})
            start, end = _hhmm(item["start"]), _hhmm(item["end"])
        except (KeyError, TypeError, ValueError):
            raise DomainError("A restriction is weekdays and a start and end time (HH:MM).", "restrictions") from None
        if not days or not all(0 <= d <= 6 for d in days):
            raise DomainError("Choose at least one weekday for the restriction.", "restrictions")
        result.append({"days": days, "start": start, "end": end})
    return result


def _hhmm(value) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    hours, minutes = str(value).split(":")[:2]
    parsed = time(int(hours), int(minutes))
    return parsed.strftime("%H:%M")


def _window(starts_at: datetime, ends_at: datetime, now: datetime, field: str = "ends_at") -> tuple[datetime, datetime]:
    """A window for a change to who is on call: it must end in the future, and a
    start in the past is taken as now (the record of who was on call stays true)."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise DomainError("Times need a time zone.", field)
    if ends_at <= starts_at:
        raise DomainError("The end must be after the start.", field)
    if ends_at <= now:
        raise DomainError("That window is already over.", field)
    starts_at = max(starts_at, now)
    if ends_at - starts_at > MAX_WINDOW:
        raise DomainError("Keep it under a year.", field)
    return starts_at, ends_at


def _live(schedule: Schedule) -> None:
    if schedule.archived_at is not None:
        raise DomainError(f"{schedule.name} is archived: it keeps its history and changes no more.")


def _touch(schedule: Schedule, now: datetime) -> None:
    _live(schedule)
    schedule.version = (schedule.version or 0) + 1
    schedule.updated_at = now


# --- schedules ------------------------------------------------------------------------

def create_schedule(actor: Actor, *, name: str, time_zone: str, now: datetime, description: str = "",
                    team_id: int | None = None, reminder_minutes: int = 60) -> Schedule:
    permissions.require_team(actor, int(team_id) if team_id not in (None, "") else None,
                             "Only an admin, or a manager for their own team, may make a schedule.")
    schedule = Schedule(created_at=now, updated_at=now, version=1, handovers_done_until=now,
                        reminders_done_until=now)
    _apply_settings(schedule, name=name, time_zone=time_zone, description=description, team_id=team_id,
                    reminder_minutes=reminder_minutes)
    db.session.add(schedule)
    db.session.flush()
    audit.record(actor, "schedule.create", schedule, summary=f"Created schedule {schedule.name}",
                 after=audit.snapshot(schedule, SCHEDULE_FIELDS))
    replan(schedule, now)
    return schedule


def update_schedule(actor: Actor, schedule: Schedule, *, now: datetime, **fields) -> Schedule:
    _admin(actor, schedule)
    if "team_id" in fields and fields["team_id"] != schedule.team_id:
        permissions.require_team(actor, int(fields["team_id"]) if fields["team_id"] not in (None, "") else None,
                                 "Only an admin, or a manager for their own team, may give a schedule to a team.")
    before = audit.snapshot(schedule, SCHEDULE_FIELDS)
    _apply_settings(schedule, **{**before, **fields})
    before, after = audit.changed(before, audit.snapshot(schedule, SCHEDULE_FIELDS))
    if after:
        _touch(schedule, now)
        audit.record(actor, "schedule.update", schedule,
                     summary=f"Changed schedule {schedule.name}: {', '.join(after)}", before=before, after=after)
        replan(schedule, now)
    return schedule


def _apply_settings(schedule: Schedule, *, name, time_zone, description, team_id, reminder_minutes) -> None:
    name = _name(name, "schedule")
    clash = db.session.scalar(sa.select(Schedule.id).where(sa.func.lower(Schedule.name) == name.lower(),
                                                           Schedule.id != (schedule.id or 0)))
    if clash:
        raise Conflict("A schedule with that name exists.", "name")
    if team_id not in (None, "") and db.session.get(Team, int(team_id)) is None:
        raise DomainError("No such team.", "team_id")
    if not isinstance(reminder_minutes, int) or not 0 <= reminder_minutes <= 24 * 60:
        raise DomainError("Remind 0 to 1440 minutes before a shift (0: no reminder).", "reminder_minutes")
    schedule.name = name
    schedule.time_zone = _zone(time_zone)
    schedule.description = (description or "").strip()
    schedule.team_id = int(team_id) if team_id not in (None, "") else None
    schedule.reminder_minutes = reminder_minutes


def archive_schedule(actor: Actor, schedule: Schedule, now: datetime) -> None:
    """Retire a schedule without losing its history (never deleted: its handovers and
    shifts are in the load figures, incidents' escalation snapshots name it).

    Refused while an escalation policy still pages it: deleting it used to take it
    out of those policies without a word."""
    _admin(actor, schedule)
    _live(schedule)
    from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget, SeverityTrigger
    users = list(db.session.scalars(
        sa.select(EscalationPolicy.name).join(EscalationStep, EscalationStep.policy_id == EscalationPolicy.id)
        .join(EscalationTarget, EscalationTarget.step_id == EscalationStep.id)
        .where(EscalationTarget.schedule_id == schedule.id).distinct().order_by(EscalationPolicy.name)))
    users += [f"the SEV-{level} triggers" for level in db.session.scalars(
        sa.select(SeverityTrigger.severity).where(SeverityTrigger.schedule_id == schedule.id).distinct()
        .order_by(SeverityTrigger.severity))]
    if users:
        raise Conflict(f"{', '.join(users)} still page{'s' if len(users) == 1 else ''} this schedule: "
                       "take it out of them first.")
    schedule.archived_at = now
    schedule.next_handover_at = schedule.next_reminder_at = None
    for feed in db.session.scalars(sa.select(CalendarFeed).where(CalendarFeed.schedule_id == schedule.id,
                                                                 CalendarFeed.revoked_at.is_(None))):
        feed.revoked_at = now
    audit.record(actor, "schedule.archive", schedule, summary=f"Archived schedule {schedule.name}",
                 before=audit.snapshot(schedule, SCHEDULE_FIELDS))


# --- layers and rotation versions -------------------------------------------------------

def _rotation_fields(*, participant_ids, shift_unit, shift_length, handoff_time, handoff_weekday,
                     restrictions) -> dict:
    unit, length = _unit_and_length(shift_unit, shift_length)
    if not isinstance(handoff_time, time):
        raise DomainError("Give the handoff time of day.", "handoff_time")
    if unit == ShiftUnit.WEEKS:
        if handoff_weekday is None or not 0 <= int(handoff_weekday) <= 6:
            raise DomainError("Choose the handoff weekday for weekly shifts.", "handoff_weekday")
        handoff_weekday = int(handoff_weekday)
    else:
        handoff_weekday = None
    return {"participant_ids": _participants(participant_ids), "shift_unit": unit, "shift_length": length,
            "handoff_time": handoff_time.replace(second=0, microsecond=0), "handoff_weekday": handoff_weekday,
            "restrictions": _restrictions(restrictions)}


def _version_snapshot(version: RotationVersion) -> dict:
    return {"start": version.start_local.isoformat(), "participant_ids": list(version.participant_ids),
            "shift": f"{version.shift_length} {version.shift_unit.value}", "start_index": version.start_index,
            "handoff_weekday": version.handoff_weekday, "restrictions": version.restrictions}


def add_layer(actor: Actor, schedule: Schedule, *, name: str, start_date: date, now: datetime,
              start_index: int = 0, **rotation) -> ScheduleLayer:
    """A new layer on top of the others, its rotation starting at the first
    handoff on or after `start_date`, with participant `start_index` (0: the first)."""
    _admin(actor, schedule)
    name = _name(name, "layer")
    if any(layer.name.lower() == name.lower() for layer in schedule.layers):
        raise Conflict("This schedule has a layer with that name.", "name")
    if not isinstance(start_date, date):
        raise DomainError("Give the date the rotation starts.", "start_date")
    fields = _rotation_fields(**rotation)
    first = compute.first_handoff(start_date, fields["handoff_time"], fields["shift_unit"].value,
                                  fields["handoff_weekday"])
    top = max((layer.position for layer in schedule.layers), default=-1)
    layer = ScheduleLayer(schedule=schedule, name=name, position=top + 1, created_at=now)
    if not 0 <= start_index < len(fields["participant_ids"]):
        raise DomainError("The first shift goes to one of the participants.", "start_index")
    version = RotationVersion(layer=layer, start_date=first.date(), start_index=start_index, created_at=now,
                              created_by_id=actor.user.id if actor.user else None, **fields)
    db.session.add_all([layer, version])
    db.session.flush()
    audit.record(actor, "schedule.layer_add", schedule, summary=f"Added layer {name} to {schedule.name}",
                 after={"layer_id": layer.id, "name": name, **_version_snapshot(version)})
    _touch(schedule, now)
    replan(schedule, now)
    return layer


def change_layer(actor: Actor, layer: ScheduleLayer, *, now: datetime, name: str | None = None,
                 **rotation) -> RotationVersion | None:
    """Rename a layer at once; change its rotation from the next handoff.

    Whoever is on call now stays on call: the new version starts at the first
    handoff of the new settings on or after the current version's next handoff,
    with the person who was next in line (if still in the rotation). A change
    not yet in force is replaced. A layer that has not started yet is simply
    rewritten. Returns the new version, or None when only the name changed.
    """
    _admin(actor, layer.schedule)
    schedule = layer.schedule
    zone = ZoneInfo(schedule.time_zone)
    changes = {}
    if name is not None:
        name = _name(name, "layer")
        if name != layer.name:
            if any(other.name.lower() == name.lower() and other.id != layer.id for other in schedule.layers):
                raise Conflict("This schedule has a layer with that name.", "name")
            changes["name"] = {"before": layer.name, "after": name}
            layer.name = name
    version = None
    if rotation:
        fields = _rotation_fields(**rotation)
        current = current_version(layer, now)
        pending = [v for v in pending_versions(layer, now) if v is not current]
        if not _same_rotation(current, fields):
            version = _new_version(actor, layer, current, fields, zone, now)
            changes["rotation"] = _version_snapshot(version)
        elif pending:  # back to how it is now: the change waiting to happen is dropped
            for waiting in pending:
                layer.versions.remove(waiting)
            db.session.flush()
            changes["rotation"] = "pending change cancelled"
    if not changes:
        return None
    audit.record(actor, "schedule.layer_change", schedule,
                 summary=f"Changed layer {layer.name} of {schedule.name}"
                         + (f", from {version.start_local:%Y-%m-%d %H:%M} ({schedule.time_zone})" if version else ""),
                 after={"layer_id": layer.id, **changes})
    _touch(schedule, now)
    replan(schedule, now)
    return version


def _same_rotation(version: RotationVersion, fields: dict) -> bool:
    return all(getattr(version, key) == value for key, value in fields.items())


def _new_version(actor: Actor, layer: ScheduleLayer, current: RotationVersion, fields: dict,
                 zone: ZoneInfo, now: datetime) -> RotationVersion:
    for pending in pending_versions(layer, now):
        if pending is not current:
            layer.versions.remove(pending)
    creator = actor.user.id if actor.user else None
    if compute.to_utc(current.start_local, zone) > now:
        # Not started yet: rewrite it, keeping its start date.
        start_day = current.start_date
        layer.versions.remove(current)
        first = compute.first_handoff(start_day, fields["handoff_time"], fields["shift_unit"].value,
                                      fields["handoff_weekday"])
        version = RotationVersion(start_date=first.date(), start_index=0, created_at=now, created_by_id=creator,
                                  **fields)
        layer.versions.append(version)
        db.session.flush()
        return version
    rotation = rotation_of(current)
    k = compute.shift_index(rotation, zone, now)
    next_handoff = compute.shift_start_local(rotation, k + 1)
    first = compute.first_handoff(next_handoff.date(), fields["handoff_time"], fields["shift_unit"].value,
                                  fields["handoff_weekday"])
    if first < next_handoff:
        first = compute.first_handoff(next_handoff.date() + timedelta(days=1), fields["handoff_time"],
                                      fields["shift_unit"].value, fields["handoff_weekday"])
    old = rotation.participants
    new = fields["participant_ids"]
    start_index = 0
    for step in range(len(old)):
        candidate = old[(rotation.start_index + k + 1 + step) % len(old)]
        if candidate in new:
            start_index = new.index(candidate)
            break
    version = RotationVersion(start_date=first.date(), start_index=start_index, created_at=now, created_by_id=creator,
                              **fields)
    layer.versions.append(version)
    db.session.flush()
    return version


def remove_layer(actor: Actor, layer: ScheduleLayer, now: datetime) -> None:
    _admin(actor, layer.schedule)
    schedule = layer.schedule
    audit.record(actor, "schedule.layer_remove", schedule, summary=f"Removed layer {layer.name} from {schedule.name}",
                 before={"layer_id": layer.id, "name": layer.name})
    schedule.layers.remove(layer)
    db.session.flush()
    _touch(schedule, now)
    replan(schedule, now)


def move_layer(actor: Actor, layer: ScheduleLayer, *, up: bool, now: datetime) -> bool:
    """Raise a layer above the next one (or lower it below); False at the edge."""
    _admin(actor, layer.schedule)
    schedule = layer.schedule
    ordered = sorted(schedule.layers, key=lambda item: item.position)
    i = ordered.index(layer)
    j = i + 1 if up else i - 1
    if not 0 <= j < len(ordered):
        return False
    other = ordered[j]
    layer.position, other.position = other.position, layer.position
    audit.record(actor, "schedule.layer_move", schedule,
                 summary=f"Moved layer {layer.name} {'above' if up else 'below'} {other.name} in {schedule.name}")
    _touch(schedule, now)
    replan(schedule, now)
    return True


# --- overrides and swaps ------------------------------------------------------------------

def add_override(actor: Actor, schedule: Schedule, *, user_id: int, starts_at: datetime, ends_at: datetime,
                 now: datetime, note: str = "") -> Override:
    """`user_id` covers the window, over every layer. A start in the past is now."""
    _responder(actor)
    user = _person(user_id)
    starts_at, ends_at = _window(starts_at, ends_at, now)
    override = Override(schedule=schedule, user_id=user.id, starts_at=starts_at, ends_at=ends_at,
                        note=(note or "").strip()[:MAX_NOTE], created_at=now,
                        created_by_id=actor.user.id if actor.user else None)
    db.session.add(override)
    db.session.flush()
    audit.record(actor, "schedule.override_add", schedule,
                 summary=f"{user.name} covers {schedule.name} from {starts_at:%Y-%m-%d %H:%M} "
                         f"to {ends_at:%Y-%m-%d %H:%M} UTC",
                 after={"override_id": override.id, "user_id": user.id, "starts_at": starts_at, "ends_at": ends_at})
    _touch(schedule, now)
    replan(schedule, now)
    return override


def remove_override(actor: Actor, override: Override, now: datetime) -> str:
    """Delete an override that has not started; end one under way now; refuse one
    that is over (it is part of the record). Returns "deleted" or "ended"."""
    _responder(actor)
    schedule = override.schedule
    if override.ends_at <= now:
        raise Conflict("That override is over; it stays in the record.")
    before = {"override_id": override.id, "user_id": override.user_id, "starts_at": override.starts_at,
              "ends_at": override.ends_at}
    if override.starts_at < now:
        override.ends_at = now
        outcome = "ended"
    else:
        db.session.delete(override)
        outcome = "deleted"
    audit.record(actor, f"schedule.override_{'end' if outcome == 'ended' else 'remove'}", schedule,
                 summary=f"{'Ended' if outcome == 'ended' else 'Removed'} override #{before['override_id']} "
                         f"on {schedule.name}", before=before)
    db.session.flush()
    _touch(schedule, now)
    replan(schedule, now)
    return outcome


def change_override(actor: Actor, override: Override, *, now: datetime, user_id: int | None = None,
                    starts_at: datetime | None = None, ends_at: datetime | None = None,
                    note: str | None = None) -> Override:
    """Change an override; what is not given stays. One that is over is part of the
    record (refused). One under way keeps who covers and since when (the record of
    who was on call stays true): only its end and note change; to hand the rest to
    someone else, end it and make another. A start in the past is taken as now."""
    _responder(actor)
    schedule = override.schedule
    _live(schedule)
    if override.ends_at <= now:
        raise Conflict("That override is over; it stays in the record.")
    begun = override.starts_at <= now
    if begun and ((user_id is not None and user_id != override.user_id)
                  or (starts_at is not None and starts_at != override.starts_at)):
        raise Conflict("That override has begun: only its end and note change. End it and make another to "
                       "hand the rest to someone else.")
    user = _person(user_id) if user_id is not None and user_id != override.user_id else override.user
    starts_at = override.starts_at if starts_at is None else starts_at
    ends_at = override.ends_at if ends_at is None else ends_at
    if begun:
        if ends_at.tzinfo is None:
            raise DomainError("Times need a time zone.", "ends_at")
        if ends_at <= now:
            raise DomainError("That window is already over: end the override instead.", "ends_at")
        if ends_at - starts_at > MAX_WINDOW:
            raise DomainError("Keep it under a year.", "ends_at")
    else:
        starts_at, ends_at = _window(starts_at, ends_at, now)
    before = _override_fields(override)
    override.user, override.starts_at, override.ends_at = user, clock.utc(starts_at), clock.utc(ends_at)
    if note is not None:
        override.note = note.strip()[:MAX_NOTE]
    db.session.flush()
    before, after = audit.changed(before, _override_fields(override))
    if after:
        audit.record(actor, "schedule.override_change", schedule,
                     summary=f"Changed override #{override.id} on {schedule.name}: {', '.join(after)}",
                     before={"override_id": override.id, **before}, after={"override_id": override.id, **after})
        _touch(schedule, now)
        replan(schedule, now)
    return override


def _override_fields(override: Override) -> dict:
    return {"user_id": override.user_id, "starts_at": clock.utc(override.starts_at).isoformat(),
            "ends_at": clock.utc(override.ends_at).isoformat(), "note": override.note or ""}


def add_swap(actor: Actor, schedule: Schedule, *, first_user_id: int, second_user_id: int,
             first_starts_at: datetime, first_ends_at: datetime, now: datetime,
             second_starts_at: datetime | None = None, second_ends_at: datetime | None = None,
             note: str = "") -> Swap:
    """The second person takes the first's turns in the first window and, if a
    second window is given, the first takes the second's turns there."""
    _responder(actor)
    first, second = _person(first_user_id, "first_user_id"), _person(second_user_id, "second_user_id")
    if first.id == second.id:
        raise DomainError("A swap needs two different people.", "second_user_id")
    first_starts_at, first_ends_at = _window(first_starts_at, first_ends_at, now, "first_ends_at")
    if (second_starts_at is None) != (second_ends_at is None):
        raise DomainError("Give both ends of the second window, or neither.", "second_ends_at")
    if second_starts_at is not None:
        second_starts_at, second_ends_at = _window(second_starts_at, second_ends_at, now, "second_ends_at")
    swap = Swap(schedule=schedule, first_user_id=first.id, second_user_id=second.id,
                first_starts_at=first_starts_at, first_ends_at=first_ends_at, second_starts_at=second_starts_at,
                second_ends_at=second_ends_at, ends_at=max(first_ends_at, second_ends_at or first_ends_at),
                note=(note or "").strip()[:MAX_NOTE], created_at=now,
                created_by_id=actor.user.id if actor.user else None)
    db.session.add(swap)
    db.session.flush()
    audit.record(actor, "schedule.swap_add", schedule,
                 summary=f"{second.name} takes {first.name}'s turns on {schedule.name} from "
                         f"{first_starts_at:%Y-%m-%d %H:%M} UTC"
                         + (" and the other way round later" if second_starts_at else ""),
                 after={"swap_id": swap.id, "first_user_id": first.id, "second_user_id": second.id,
                        "first": [first_starts_at, first_ends_at], "second": [second_starts_at, second_ends_at]})
    _touch(schedule, now)
    replan(schedule, now)
    return swap


def swap_for_my_next(actor: Actor, schedule: Schedule, *, starts_at: datetime, ends_at: datetime,
                     now: datetime) -> Swap:
    """The calendar's "swap for my shift": the acting person takes the shift that
    holds [starts_at, ends_at) (a day's piece of it, from the calendar), and its
    person takes the actor's next shift on this schedule in return."""
    _responder(actor)
    if actor.user is None:
        raise Forbidden("Only a person swaps shifts.")
    spec = load_spec(schedule, since=now - timedelta(days=1))
    theirs = compute.whole_shift(spec, starts_at, ends_at)
    if theirs is None:
        raise DomainError("That shift has changed; look again.")
    if theirs.user_id == actor.user.id:
        raise DomainError("That is your own shift.")
    mine = compute.next_shift_of(spec, actor.user.id, now)
    if mine is None:
        raise DomainError("You have no shift of your own on this schedule to give in return.")
    return add_swap(actor, schedule, first_user_id=theirs.user_id, second_user_id=actor.user.id,
                    first_starts_at=theirs.start, first_ends_at=theirs.end, second_starts_at=mine.start,
                    second_ends_at=mine.end, now=now)


def remove_swap(actor: Actor, swap: Swap, now: datetime) -> None:
    _responder(actor)
    schedule = swap.schedule
    if swap.first_starts_at <= now:
        raise Conflict("That swap has begun; make an override to change what is left of it.")
    audit.record(actor, "schedule.swap_remove", schedule, summary=f"Removed swap #{swap.id} on {schedule.name}",
                 before={"swap_id": swap.id, "first_user_id": swap.first_user_id,
                         "second_user_id": swap.second_user_id})
    db.session.delete(swap)
    db.session.flush()
    _touch(schedule, now)
    replan(schedule, now)


# --- temporary schedules ------------------------------------------------------------------

def add_temporary(actor: Actor, schedule: Schedule, *, name: str, starts_at: datetime, ends_at: datetime,
                  participant_ids, shift_unit, shift_length: int, now: datetime) -> TemporarySchedule:
    """Replace the schedule for a window with a rotation that starts with it."""
    _admin(actor, schedule)
    name = _name(name, "temporary schedule")
    starts_at, ends_at = _window(starts_at, ends_at, now)
    unit, length = _unit_and_length(shift_unit, shift_length)
    temporary = TemporarySchedule(schedule=schedule, name=name, starts_at=starts_at, ends_at=ends_at,
                                  participant_ids=_participants(participant_ids), shift_unit=unit,
                                  shift_length=length, created_at=now,
                                  created_by_id=actor.user.id if actor.user else None)
    db.session.add(temporary)
    db.session.flush()
    audit.record(actor, "schedule.temporary_add", schedule,
                 summary=f"Temporary schedule {name} replaces {schedule.name} from {starts_at:%Y-%m-%d %H:%M} UTC",
                 after={"temporary_id": temporary.id, "starts_at": starts_at, "ends_at": ends_at,
                        "participant_ids": temporary.participant_ids, "shift": f"{length} {unit.value}"})
    _touch(schedule, now)
    replan(schedule, now)
    return temporary


def remove_temporary(actor: Actor, temporary: TemporarySchedule, now: datetime) -> str:
    _admin(actor, temporary.schedule)
    schedule = temporary.schedule
    if temporary.ends_at <= now:
        raise DomainError("That temporary schedule is over; it stays in the record.")
    outcome = "ended" if temporary.starts_at < now else "deleted"
    audit.record(actor, "schedule.temporary_remove", schedule,
                 summary=f"{outcome.capitalize()} temporary schedule {temporary.name} on {schedule.name}",
                 before={"temporary_id": temporary.id, "starts_at": temporary.starts_at, "ends_at": temporary.ends_at})
    if outcome == "ended":
        temporary.ends_at = now
    else:
        db.session.delete(temporary)
    db.session.flush()
    _touch(schedule, now)
    replan(schedule, now)
    return outcome


# --- holidays ----------------------------------------------------------------------------

def add_holiday(actor: Actor, user: User, *, first_day: date, last_day: date, now: datetime,
                note: str = "") -> Holiday:
    """Days off, whole days in the person's own zone; every rotation skips them."""
    own = actor.user is not None and actor.user.id == user.id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may record someone else's holiday.")
    if last_day < first_day:
        raise DomainError("The last day must not be before the first.", "last_day")
    zone = ZoneInfo(user.time_zone or "UTC")
    starts_at = compute.to_utc(datetime.combine(first_day, time()), zone)
    ends_at = compute.to_utc(datetime.combine(last_day + timedelta(days=1), time()), zone)
    if ends_at <= now:
        raise DomainError("Those days are past.", "last_day")
    if ends_at - starts_at > MAX_WINDOW:
        raise DomainError("Keep a holiday under a year.", "last_day")
    holiday = Holiday(user_id=user.id, starts_at=starts_at, ends_at=ends_at, note=(note or "").strip()[:200],
                      created_at=now, created_by_id=actor.user.id if actor.user else None)
    db.session.add(holiday)
    db.session.flush()
    audit.record(actor, "holiday.add", holiday,
                 summary=f"{user.name} is off {first_day:%Y-%m-%d} to {last_day:%Y-%m-%d}",
                 after={"user_id": user.id, "first_day": first_day, "last_day": last_day})
    _replan_all(now)
    return holiday


def remove_holiday(actor: Actor, holiday: Holiday, now: datetime) -> None:
    own = actor.user is not None and actor.user.id == holiday.user_id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change someone else's holiday.")
    if holiday.ends_at <= now:
        raise Conflict("That holiday is over; it stays in the record.")
    audit.record(actor, "holiday.remove", holiday, summary=f"Removed a holiday of {holiday.user.name}",
                 before={"user_id": holiday.user_id, "starts_at": holiday.starts_at, "ends_at": holiday.ends_at})
    if holiday.starts_at < now:
        holiday.ends_at = now
    else:
        db.session.delete(holiday)
    db.session.flush()
    _replan_all(now)


def _replan_all(now: datetime) -> None:
    for schedule in all_schedules():
        _touch(schedule, now)
        replan(schedule, now)


# --- handover notes ------------------------------------------------------------------------

def save_handover_note(actor: Actor, schedule: Schedule, text: str, now: datetime) -> HandoverNote:
    """The note the person on call leaves for whoever takes over next. One note
    per person and schedule waits for the handover; saving again replaces it."""
    if actor.user is None:
        raise Forbidden("Only a person writes a handover note.")
    _live(schedule)
    on_call = compute.who_is_on_call(load_spec(schedule, since=now), now)
    if (on_call is None or on_call.user_id != actor.user.id) and not actor.can(Role.ADMIN):
        raise Forbidden("Only whoever is on call now writes the handover note.")
    text = (text or "").strip()
    if not text:
        raise DomainError("The note is empty.", "text")
    if len(text) > MAX_HANDOVER_NOTE:
        raise DomainError(f"Keep the note under {MAX_HANDOVER_NOTE} characters.", "text")
    note = pending_note(schedule, actor.user.id)
    if note is None:
        note = HandoverNote(schedule_id=schedule.id, author_id=actor.user.id, text=text, created_at=now,
                            updated_at=now)
        db.session.add(note)
    else:
        note.text, note.updated_at = text, now
    db.session.flush()
    audit.record(actor, "schedule.handover_note", schedule, summary=f"Handover note for {schedule.name}")
    return note


def pending_note(schedule: Schedule, author_id: int) -> HandoverNote | None:
    return db.session.scalar(sa.select(HandoverNote).where(
        HandoverNote.schedule_id == schedule.id, HandoverNote.author_id == author_id,
        HandoverNote.handover_id.is_(None)).order_by(HandoverNote.id.desc()).limit(1))


# --- calendar feeds ------------------------------------------------------------------------

def _feed_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_feed(actor: Actor, *, now: datetime, schedule: Schedule | None = None, person: User | None = None,
                reminder_minutes: int | None = None) -> tuple[CalendarFeed, str]:
    """A calendar link for a schedule (anyone who may read it) or for a person's
    own shifts (that person, or an admin). Returns the row and the secret, which
    is shown once."""
    if actor.user is None:
        raise Forbidden("Calendar links belong to a person.")
    if (schedule is None) == (person is None):
        raise DomainError("A calendar link is for one schedule or one person.")
    if schedule is not None:
        _live(schedule)
    if person is not None and person.id != actor.user.id and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may make a calendar link for someone else's shifts.")
    if reminder_minutes is not None and not 0 < reminder_minutes <= 24 * 60:
        raise DomainError("Remind 1 to 1440 minutes before a shift, or not at all.", "reminder_minutes")
    secret = FEED_PREFIX + secrets.token_urlsafe(24)
    feed = CalendarFeed(owner_id=actor.user.id, schedule_id=schedule.id if schedule else None,
                        user_id=person.id if person else None, token_hash=_feed_hash(secret), prefix=secret[:12],
                        reminder_minutes=reminder_minutes, created_at=now)
    db.session.add(feed)
    db.session.flush()
    target = f"schedule {schedule.name}" if schedule else f"the shifts of {person.name}"
    audit.record(actor, "calendar_feed.create", feed, summary=f"Made a calendar link for {target}",
                 after={"schedule_id": feed.schedule_id, "user_id": feed.user_id, "prefix": feed.prefix})
    return feed, secret


def revoke_feed(actor: Actor, feed: CalendarFeed, now: datetime) -> None:
    own = actor.user is not None and actor.user.id == feed.owner_id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may revoke someone else's calendar link.")
    if feed.revoked_at is not None:
        return
    feed.revoked_at = now
    audit.record(actor, "calendar_feed.revoke", feed, summary=f"Revoked calendar link {feed.prefix}…")


def feed_for(secret: str | None, *, schedule_id: int | None = None, user_id: int | None = None,
             now: datetime) -> CalendarFeed | None:
    """The active feed this secret opens for exactly this schedule or person, or None."""
    if not secret or not secret.startswith(FEED_PREFIX) or len(secret) > 100:
        return None
    feed = db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.token_hash == _feed_hash(secret)))
    if feed is None or not feed.active or feed.schedule_id != schedule_id or feed.user_id != user_id:
        return None
    if feed.user is not None and not feed.user.active:
        return None
    if feed.schedule is not None and feed.schedule.archived_at is not None:
        return None
    if feed.last_used_at is None or now - feed.last_used_at > timedelta(minutes=5):
        feed.last_used_at = now
    return feed


def feeds_of(user: User) -> list[CalendarFeed]:
    return db.session.scalars(sa.select(CalendarFeed).where(CalendarFeed.owner_id == user.id)
                              .order_by(CalendarFeed.revoked_at.is_not(None), CalendarFeed.id.desc())).all()


# --- planning the engine's work -----------------------------------------------------------

def replan(schedule: Schedule, now: datetime) -> None:
    """Set when the engine next looks at this schedule: its next shift change
    after what has been handled, and its next reminder."""
    db.session.flush()
    earliest = min(schedule.handovers_done_until or now, schedule.reminders_done_until or now, now)
    spec = load_spec(schedule, since=earliest - timedelta(days=1))
    schedule.next_handover_at = next_handover(spec, schedule.handovers_done_until or now, now)
    schedule.next_reminder_at = next_reminder(spec, schedule.reminders_done_until or now, now,
                                              schedule.reminder_minutes)


def next_handover(spec: compute.ScheduleSpec, done_until: datetime, now: datetime) -> datetime:
    """The first change after `done_until` (someone taking over), or when to look again."""
    start = min(done_until, now)
    horizon = max(now, start) + PLAN_HORIZON
    for change in compute.changes(spec, start, horizon):
        if change.incoming is not None:
            return change.at
    return horizon


def next_reminder(spec: compute.ScheduleSpec, done_until: datetime, now: datetime, minutes: int) -> datetime | None:
    """When the next reminder is due (a shift start minus `minutes`), or when to look again."""
    if not minutes:
        return None
    lead = timedelta(minutes=minutes)
    start = min(done_until, now) + lead
    horizon = start + PLAN_HORIZON
    for change in compute.changes(spec, start, horizon):
        if change.incoming is not None:
            return change.at - lead
    return horizon - lead
