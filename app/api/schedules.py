"""Schedules over the API: make, change and archive schedules; add, change and remove
their layers (restrictions are part of a layer's rotation); swaps and holidays; change
an override. The reads of schedules, layers and overrides, and making and deleting
overrides, are in app.api.oncall.

Each change is the service function the schedule pages call (app.oncall.service), so
the rules and the audit entry are the same:
- Admins, and managers of the schedule's team, configure schedules and layers; a
  manager makes schedules for their own teams only.
- A layer's rotation change takes effect as the page's edit does: whoever is on call
  keeps their shift, and the new rotation starts at the next handoff (it shows under
  `pending` until then). A name change is at once.
- Responders make overrides and swaps; a person records their own holidays (admins
  anyone's). Something over is part of the record and stays (409).
- DELETE of a schedule archives it: its history stays, it pages nobody, and it is
  refused (409) while an escalation policy still pages it.

A holiday is a person's days off, and every rotation they are in skips them: under a
schedule, the holidays of the people in its rotations are listed, and only theirs are
made or removed there.

An unknown schedule (or layer, swap, holiday of it) is 404 before the body is read.
"""
from __future__ import annotations

import functools
from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import request, url_for
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app import clock
from app.api.oncall import REACH, everyone, layer_json, override_json, schedule_json
from app.api.schemas import pagination_json
from app.api.spec import (
    FieldErrors, Id, Input, PageQuery, Pagination, Ref, Time, answer, check_if_match, endpoint, one_line,
)
from app.api.views import bp, load
from app.auth.models import Role, User
from app.errors import Conflict, NotFound
from app.extensions import db
from app.oncall import compute, queries
from app.oncall import service as oncall
from app.oncall.models import Holiday, Override, Schedule, ScheduleLayer, Swap
from app.oncall.specs import load_spec
from app.web import SOME_TEAM, current_actor, requires

TAG = "schedules"
MAX_DESCRIPTION = 4_000
MAX_HOLIDAY_NOTE = 200


Title = one_line(oncall.MAX_NAME)
Zone = Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/London"])]
HourMinute = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["09:00"])]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 Monday … 6 Sunday.")]
Note = Annotated[str, Field(max_length=oncall.MAX_NOTE)]


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a day, YYYY-MM-DD") from None


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError("must be a time with a zone (ISO 8601), e.g. 2026-03-02T09:00:00Z")
    return moment


# Read from strings (strict models take no date from a string outside JSON, and spectree
# checks the body as Python too).
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", json_schema_extra={"format": "date"}),
                AfterValidator(_day)]
Instant = Annotated[str, Field(max_length=64, json_schema_extra={"format": "date-time"}), AfterValidator(_instant)]


# --- answers ----------------------------------------------------------------------------------------

class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RestrictionOut(Shape):
    days: list[int]
    start: str
    end: str


class RotationOut(Shape):
    """One version of a layer's rotation."""

    starts_at: Time
    start_local: str
    participants: list[Ref]
    shift_length: int
    shift_unit: str
    handoff_time: str
    handoff_weekday: int | None
    restrictions: list[RestrictionOut]


class LayerOut(Shape):
    """A rotation layer: the version in force now and any waiting to start (`pending`)."""

    id: int
    name: str
    level: int
    rotation: RotationOut
    pending: list[RotationOut]


class OnCallOut(Shape):
    user: Ref
    kind: str
    source: str
    layer: str | None
    covering_for: Ref | None
    since: Time
    until: Time


class ScheduleOut(Shape):
    """A schedule as GET /schedules/{schedule_id} shows it."""

    id: int
    name: str
    description: str
    time_zone: str
    team: Ref | None
    reminder_minutes: int
    layers: list[LayerOut]
    on_call_now: OnCallOut | None
    created_at: Time
    updated_at: Time


class OverrideOut(Shape):
    id: int
    schedule_id: int
    user: Ref
    starts_at: Time
    ends_at: Time
    note: str
    created_at: Time
    created_by: Ref | None


class SwapOut(Shape):
    """The second person takes the first's turns in the first window and, if there is a
    second window, the first takes the second's there."""

    id: int
    schedule_id: int
    first_user: Ref
    second_user: Ref
    first_starts_at: Time
    first_ends_at: Time
    second_starts_at: Time | None
    second_ends_at: Time | None
    note: str
    created_at: Time
    created_by: Ref | None


class SwapList(Shape):
    swaps: list[SwapOut]
    pagination: Pagination


class HolidayOut(Shape):
    """Whole days off in the person's own zone (`starts_at`/`ends_at` are the instants)."""

    id: int
    user: Ref
    first_day: date
    last_day: date
    starts_at: Time
    ends_at: Time
    note: str
    created_at: Time
    created_by: Ref | None


class HolidayList(Shape):
    holidays: list[HolidayOut]
    pagination: Pagination


# --- bodies ------------------------------------------------------------------------------------------

class NewSchedule(Input):
    name: Title
    time_zone: Zone = Field("UTC", description="An IANA zone: handoffs are wall-clock times here.")
    description: str = Field("", max_length=MAX_DESCRIPTION)
    team_id: Id | None = None
    reminder_minutes: int = Field(60, ge=0, le=1440, description="Minutes before a shift; 0: no reminder.")


class ScheduleChange(Input):
    """The fields to change; those left out stay. `team_id` null: no team."""

    name: Title | None = None
    time_zone: Zone | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    team_id: Id | None = None
    reminder_minutes: int | None = Field(None, ge=0, le=1440)


class Restriction(Input):
    """On call only on these weekdays from `start` to `end` (an end not after the start
    runs past midnight)."""

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: HourMinute
    end: HourMinute


def _optional(schema: dict) -> None:
    """A field that may be left out but is not null: no `default` in the document."""
    schema.pop("default", None)


class RotationFields(Input):
    participant_ids: list[Id] = Field(None, min_length=1, max_length=oncall.MAX_PARTICIPANTS,
                                      description="People in rotation order.", json_schema_extra=_optional)
    shift_unit: Literal["hours", "days", "weeks"] = Field(None, json_schema_extra=_optional)
    shift_length: int = Field(None, ge=1, le=336, json_schema_extra=_optional)
    handoff_time: HourMinute = Field(None, description="Local time in the schedule's zone.",
                                     json_schema_extra=_optional)
    handoff_weekday: Weekday | None = Field(None, description="The handoff day of weekly shifts.")
    restrictions: list[Restriction] = Field(None, max_length=14, description="Empty: on call at all times.",
                                            json_schema_extra=_optional)


class NewLayer(RotationFields):
    name: Title
    participant_ids: list[Id] = Field(min_length=1, max_length=oncall.MAX_PARTICIPANTS,
                                      description="People in rotation order.")
    shift_unit: Literal["hours", "days", "weeks"] = "weeks"
    shift_length: int = Field(1, ge=1, le=336)
    handoff_time: HourMinute = Field("09:00", description="Local time in the schedule's zone.")
    handoff_weekday: Weekday | None = Field(None, description="The handoff day of weekly shifts; default the "
                                                              "weekday of `start_date`.")
    restrictions: list[Restriction] = Field([], max_length=14, description="Empty: on call at all times.")
    start_date: Day | None = Field(None, description="The first handoff is on or after this day; default today "
                                                      "in the schedule's zone.")
    start_index: int = Field(0, ge=0, le=oncall.MAX_PARTICIPANTS - 1,
                             description="Which participant (from 0) takes the first shift.")


class LayerChange(RotationFields):
    """The name changes at once. Any rotation field sent changes the rotation from the
    next handoff (the fields left out are those of the latest version, pending or in
    force); sending what it is now drops a pending change. `level` moves the layer past
    the layers whose level lies between its own and the one sent, one at a time as the
    page's arrows do (a higher layer wins)."""

    name: Title | None = None
    level: int = Field(None, ge=0, le=1_000_000, json_schema_extra=_optional)


class OverrideChange(Input):
    user_id: Id | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    note: Note | None = None


class NewSwap(Input):
    first_user_id: Id
    second_user_id: Id
    first_starts_at: Instant
    first_ends_at: Instant
    second_starts_at: Instant | None = None
    second_ends_at: Instant | None = None
    note: Note = ""


class NewHoliday(Input):
    user_id: Id | None = Field(None, description="Whose days off; default the token's owner.")
    first_day: Day
    last_day: Day
    note: str = Field("", max_length=MAX_HOLIDAY_NOTE)


# --- loading and shaping -----------------------------------------------------------------------------

def _schedule(schedule_id: int) -> Schedule:
    return load(Schedule, schedule_id, f"There is no schedule {schedule_id}.")


def _in(schedule: Schedule, model, row_id: int, what: str):
    row = load(model, row_id, f"There is no {what} {row_id}.")
    if row.schedule_id != schedule.id:
        raise NotFound(f"There is no {what} {row_id} on schedule {schedule.id}.")
    return row


def _people_of(schedule: Schedule) -> set[int]:
    """Everyone in one of the schedule's rotations, at any version."""
    return {p for layer in schedule.layers for version in layer.versions for p in version.participant_ids}


def _holiday(schedule: Schedule, holiday_id: int) -> Holiday:
    holiday = load(Holiday, holiday_id, f"There is no holiday {holiday_id}.")
    if holiday.user_id not in _people_of(schedule):
        raise NotFound(f"Holiday {holiday_id} is of nobody in schedule {schedule.id}'s rotations.")
    return holiday


PARTS = {"layer_id": (ScheduleLayer, "layer"), "swap_id": (Swap, "swap"), "override_id": (Override, "override")}


def _found_first(view):
    """404 for an unknown schedule, or part of one, before the body is read: an unknown
    id is said as such whatever was sent. (Put between `requires` and `endpoint`.)"""
    @functools.wraps(view)
    def check(**ids):
        schedule = _schedule(ids["schedule_id"])
        for name, (model, what) in PARTS.items():
            if name in ids:
                _in(schedule, model, ids[name], what)
        if "holiday_id" in ids:
            _holiday(schedule, ids["holiday_id"])
        return view(**ids)
    return check


def _live(schedule: Schedule) -> None:
    if schedule.archived_at is not None:
        raise Conflict(f"{schedule.name} is archived: it keeps its history and changes no more.")


def _schedule_data(schedule: Schedule) -> dict:
    now = clock.now()
    spec = load_spec(schedule, since=now - REACH)
    return schedule_json(schedule, spec, now, everyone([schedule], {schedule.id: spec}))


def _layer_data(layer: ScheduleLayer) -> dict:
    people = queries.people_by_id({p for version in layer.versions for p in version.participant_ids})
    return layer_json(layer, clock.now(), people)


def _swap_data(swap: Swap) -> dict:
    return {"id": swap.id, "schedule_id": swap.schedule_id, "first_user": swap.first_user,
            "second_user": swap.second_user, "first_starts_at": swap.first_starts_at,
            "first_ends_at": swap.first_ends_at, "second_starts_at": swap.second_starts_at,
            "second_ends_at": swap.second_ends_at, "note": swap.note or "", "created_at": swap.created_at,
            "created_by": db.session.get(User, swap.created_by_id) if swap.created_by_id else None}


def _holiday_data(holiday: Holiday) -> dict:
    zone = ZoneInfo(holiday.user.time_zone or "UTC")
    return {"id": holiday.id, "user": holiday.user, "first_day": compute.to_local(holiday.starts_at, zone).date(),
            "last_day": compute.to_local(holiday.last_moment, zone).date(), "starts_at": holiday.starts_at,
            "ends_at": holiday.ends_at, "note": holiday.note or "", "created_at": holiday.created_at,
            "created_by": db.session.get(User, holiday.created_by_id) if holiday.created_by_id else None}


def _one_schedule(schedule: Schedule, status: int = 200, **headers):
    return answer(ScheduleOut, _schedule_data(schedule), status, etag=True, headers=headers)


def _one_layer(layer: ScheduleLayer, status: int = 200, **headers):
    return answer(LayerOut, _layer_data(layer), status, etag=True, headers=headers)


def _hhmm(value: str | None) -> time | None:
    return None if value is None else time.fromisoformat(value)


def _rotation(version, sent: RotationFields) -> dict:
    """The rotation fields `change_layer`/`add_layer` take: those sent, the rest from
    `version`."""
    fields = sent.model_fields_set
    latest = {"participant_ids": list(version.participant_ids), "shift_unit": version.shift_unit.value,
              "shift_length": version.shift_length, "handoff_time": version.handoff_time,
              "handoff_weekday": version.handoff_weekday, "restrictions": list(version.restrictions or [])} \
        if version is not None else {}
    given = {"participant_ids": sent.participant_ids, "shift_unit": sent.shift_unit,
             "shift_length": sent.shift_length, "handoff_time": _hhmm(sent.handoff_time),
             "handoff_weekday": sent.handoff_weekday,
             "restrictions": [r.model_dump() for r in sent.restrictions or []]}
    return {**latest, **{name: value for name, value in given.items() if name in fields or version is None}}


# --- schedules ---------------------------------------------------------------------------------------

@bp.route("/schedules", methods=["POST"])
@requires(Role.ADMIN, manages=SOME_TEAM)
@endpoint(body=NewSchedule, answers={201: ScheduleOut}, tag=TAG, refusals=(409,))
def create_schedule():
    """A new schedule, with no layers yet (admins; a team's manager for their team). 409
    when the name is taken."""
    body = request.context.json
    schedule = oncall.create_schedule(current_actor(), name=body.name, time_zone=body.time_zone, now=clock.now(),
                                      description=body.description, team_id=body.team_id,
                                      reminder_minutes=body.reminder_minutes)
    db.session.commit()
    return _one_schedule(schedule, 201, Location=url_for("api.show_schedule", schedule_id=schedule.id))


@bp.route("/schedules/<int:schedule_id>", methods=["PATCH"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
@_found_first
@endpoint(body=ScheduleChange, answers={200: ScheduleOut}, tag=TAG, refusals=(409,))
def update_schedule(schedule_id: int):
    """Change a schedule's settings; a new time zone moves handoffs to the same
    wall-clock times there."""
    schedule, body = _schedule(schedule_id), request.context.json
    check_if_match(ScheduleOut, _schedule_data(schedule))
    _live(schedule)
    sent = {name: getattr(body, name) for name in body.model_fields_set
            if getattr(body, name) is not None or name == "team_id"}
    oncall.update_schedule(current_actor(), schedule, now=clock.now(), **sent)
    db.session.commit()
    return _one_schedule(schedule)


@bp.route("/schedules/<int:schedule_id>", methods=["DELETE"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
@_found_first
@endpoint(answers={204: None}, tag=TAG, refusals=(409,))
def archive_schedule(schedule_id: int):
    """Archive a schedule: it keeps its history, pages nobody and changes no more; its
    calendar links stop. 409 while an escalation policy or a severity trigger pages it,
    or when it is archived already."""
    schedule = _schedule(schedule_id)
    check_if_match(ScheduleOut, _schedule_data(schedule))
    _live(schedule)
    oncall.archive_schedule(current_actor(), schedule, clock.now())
    db.session.commit()
    return "", 204


# --- layers ------------------------------------------------------------------------------------------

@bp.route("/schedules/<int:schedule_id>/layers/<int:layer_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: LayerOut}, tag=TAG)
def show_layer(schedule_id: int, layer_id: int):
    """One layer, with its ETag for If-Match."""
    schedule = _schedule(schedule_id)
    return _one_layer(_in(schedule, ScheduleLayer, layer_id, "layer"))


@bp.route("/schedules/<int:schedule_id>/layers", methods=["POST"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
@_found_first
@endpoint(body=NewLayer, answers={201: LayerOut}, tag=TAG, refusals=(409,))
def create_layer(schedule_id: int):
    """A new layer on top of the others; its rotation starts at the first handoff on or
    after `start_date`. 409 when the schedule has a layer of that name or is archived."""
    schedule, body = _schedule(schedule_id), request.context.json
    _live(schedule)
    now = clock.now()
    start = body.start_date or compute.to_local(now, ZoneInfo(schedule.time_zone)).date()
    rotation = _rotation(None, body)
    if rotation["shift_unit"] == "weeks" and rotation["handoff_weekday"] is None:
        rotation["handoff_weekday"] = start.weekday()
    layer = oncall.add_layer(current_actor(), schedule, name=body.name, start_date=start, now=now,
                             start_index=body.start_index, **rotation)
    db.session.commit()
    return _one_layer(layer, 201, Location=url_for("api.show_layer", schedule_id=schedule.id, layer_id=layer.id))


@bp.route("/schedules/<int:schedule_id>/layers/<int:layer_id>", methods=["PATCH"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
@_found_first
@endpoint(body=LayerChange, answers={200: LayerOut}, tag=TAG, refusals=(409,))
def update_layer(schedule_id: int, layer_id: int):
    """Rename a layer at once, or change its rotation (people, shifts, handoff,
    restrictions) from the next handoff: whoever is on call stays on call."""
    schedule, body = _schedule(schedule_id), request.context.json
    layer = _in(schedule, ScheduleLayer, layer_id, "layer")
    check_if_match(LayerOut, _layer_data(layer))
    _live(schedule)
    now = clock.now()
    rotation = {}
    if body.model_fields_set - {"name", "level"}:
        latest = (oncall.pending_versions(layer, now) or [oncall.current_version(layer, now)])[-1]
        rotation = _rotation(latest, body)
    actor = current_actor()
    oncall.change_layer(actor, layer, now=now, name=body.name, **rotation)
    while body.level is not None and (step := _toward(layer, body.level)) is not None:
        oncall.move_layer(actor, layer, up=step, now=now)
    db.session.commit()
    return _one_layer(layer)


def _toward(layer: ScheduleLayer, level: int) -> bool | None:
    """Up (True) or down (False) past the next layer on the way to `level`; None there."""
    ordered = sorted(layer.schedule.layers, key=lambda item: item.position)
    i = ordered.index(layer)
    if level > layer.position and i + 1 < len(ordered) and ordered[i + 1].position <= level:
        return True
    if level < layer.position and i > 0 and ordered[i - 1].position >= level:
        return False
    return None


@bp.route("/schedules/<int:schedule_id>/layers/<int:layer_id>", methods=["DELETE"])
@requires(Role.ADMIN, manages=(Schedule, "schedule_id"))
@_found_first
@endpoint(answers={204: None}, tag=TAG, refusals=(409,))
def delete_layer(schedule_id: int, layer_id: int):
    """Remove a layer (the audit log keeps it; handovers already made stay)."""
    schedule = _schedule(schedule_id)
    layer = _in(schedule, ScheduleLayer, layer_id, "layer")
    check_if_match(LayerOut, _layer_data(layer))
    _live(schedule)
    oncall.remove_layer(current_actor(), layer, clock.now())
    db.session.commit()
    return "", 204


# --- overrides -----------------------------------------------------------------------------------------

@bp.route("/schedules/<int:schedule_id>/overrides/<int:override_id>", methods=["PATCH"])
@requires(Role.RESPONDER)
@_found_first
@endpoint(body=OverrideChange, answers={200: OverrideOut}, tag=TAG, refusals=(409,))
def update_override(schedule_id: int, override_id: int):
    """Change who covers, the window or the note of an override not started; of one
    under way, its end and note (409 for the rest: end it and make another). 409 for
    one that is over: it stays in the record."""
    schedule, body = _schedule(schedule_id), request.context.json
    override = _in(schedule, Override, override_id, "override")
    check_if_match(OverrideOut, override_json(override))
    _live(schedule)
    oncall.change_override(current_actor(), override, now=clock.now(), user_id=body.user_id,
                           starts_at=body.starts_at, ends_at=body.ends_at, note=body.note)
    db.session.commit()
    return answer(OverrideOut, override_json(override), etag=True)


# --- swaps -------------------------------------------------------------------------------------------

@bp.route("/schedules/<int:schedule_id>/swaps")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: SwapList}, tag=TAG)
def list_swaps(schedule_id: int):
    """A schedule's swaps that are not over, by start."""
    schedule, query = _schedule(schedule_id), request.context.query
    where = (Swap.schedule_id == schedule.id, Swap.ends_at > clock.now())
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Swap).where(*where))
    swaps = db.session.scalars(sa.select(Swap).where(*where).order_by(Swap.first_starts_at, Swap.id)
                               .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(SwapList, {"swaps": [_swap_data(s) for s in swaps],
                             "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/schedules/<int:schedule_id>/swaps/<int:swap_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: SwapOut}, tag=TAG)
def show_swap(schedule_id: int, swap_id: int):
    """One swap, with its ETag."""
    return answer(SwapOut, _swap_data(_in(_schedule(schedule_id), Swap, swap_id, "swap")), etag=True)


@bp.route("/schedules/<int:schedule_id>/swaps", methods=["POST"])
@requires(Role.RESPONDER)
@_found_first
@endpoint(body=NewSwap, answers={201: SwapOut}, tag=TAG, refusals=(409,))
def create_swap(schedule_id: int):
    """Two people trade turns: the second takes the first's turns in the first window
    and, with a second window, the first takes the second's there. Starts in the past
    are now."""
    schedule, body = _schedule(schedule_id), request.context.json
    _live(schedule)
    swap = oncall.add_swap(current_actor(), schedule, first_user_id=body.first_user_id,
                           second_user_id=body.second_user_id, first_starts_at=body.first_starts_at,
                           first_ends_at=body.first_ends_at, second_starts_at=body.second_starts_at,
                           second_ends_at=body.second_ends_at, note=body.note, now=clock.now())
    db.session.commit()
    return answer(SwapOut, _swap_data(swap), 201, etag=True,
                  headers={"Location": url_for("api.show_swap", schedule_id=schedule.id, swap_id=swap.id)})


@bp.route("/schedules/<int:schedule_id>/swaps/<int:swap_id>", methods=["DELETE"])
@requires(Role.RESPONDER)
@_found_first
@endpoint(answers={204: None}, tag=TAG, refusals=(409,))
def delete_swap(schedule_id: int, swap_id: int):
    """Delete a swap that has not begun (409 once it has: make an override for what
    is left of it)."""
    schedule = _schedule(schedule_id)
    swap = _in(schedule, Swap, swap_id, "swap")
    check_if_match(SwapOut, _swap_data(swap))
    oncall.remove_swap(current_actor(), swap, clock.now())
    db.session.commit()
    return "", 204


# --- holidays ----------------------------------------------------------------------------------------

@bp.route("/schedules/<int:schedule_id>/holidays")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: HolidayList}, tag=TAG)
def list_holidays(schedule_id: int):
    """The holidays not over of the people in the schedule's rotations, by start."""
    schedule, query = _schedule(schedule_id), request.context.query
    where = (Holiday.user_id.in_(_people_of(schedule) or {0}), Holiday.ends_at > clock.now())
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Holiday).where(*where))
    holidays = db.session.scalars(sa.select(Holiday).where(*where).order_by(Holiday.starts_at, Holiday.id)
                                  .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(HolidayList, {"holidays": [_holiday_data(h) for h in holidays],
                                "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/schedules/<int:schedule_id>/holidays", methods=["POST"])
@requires(Role.RESPONDER)
@_found_first
@endpoint(body=NewHoliday, answers={201: HolidayOut}, tag=TAG)
def create_holiday(schedule_id: int):
    """Days off for someone in the schedule's rotations (default: yourself; an admin
    for anyone): whole days in their zone, which every rotation they are in skips."""
    schedule, body = _schedule(schedule_id), request.context.json
    actor = current_actor()
    user = actor.user if body.user_id is None else db.session.get(User, body.user_id)
    if user is None or user.id not in _people_of(schedule):
        raise FieldErrors([{"detail": "names nobody in this schedule's rotations", "pointer": "/user_id"}])
    holiday = oncall.add_holiday(actor, user, first_day=body.first_day, last_day=body.last_day,
                                 note=body.note, now=clock.now())
    db.session.commit()
    return answer(HolidayOut, _holiday_data(holiday), 201)


@bp.route("/schedules/<int:schedule_id>/holidays/<int:holiday_id>", methods=["DELETE"])
@requires(Role.RESPONDER)
@_found_first
@endpoint(answers={204: None}, tag=TAG, refusals=(409,))
def delete_holiday(schedule_id: int, holiday_id: int):
    """Delete a holiday not begun, end one under way now (your own; admins anyone's).
    409 for one that is over: it stays in the record."""
    holiday = _holiday(_schedule(schedule_id), holiday_id)
    check_if_match(HolidayOut, _holiday_data(holiday))
    oncall.remove_holiday(current_actor(), holiday, clock.now())
    db.session.commit()
    return "", 204
