"""On-call over the API: schedules and their layers, overrides (read, create,
delete), and who is on call now or at a given time. Reads for everyone with a
token; overrides for responders (with a write-scope token)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import jsonify, url_for

from app import clock
from app.api import inputs
from app.api.inputs import Field
from app.api.schemas import iso, person_json, team_json
from app.api.spec import etag_of
from app.api.views import bp, load
from app.auth.models import Role, User
from app.errors import NotFound
from app.extensions import db
from app.oncall import compute, queries
from app.oncall import service as oncall
from app.oncall.models import Override, RotationVersion, Schedule, ScheduleLayer
from app.oncall.specs import load_spec, load_specs
from app.web import current_actor, requires

MAX_SHIFT_WINDOW = timedelta(days=93)
REACH = timedelta(days=62)

OVERRIDE_FIELDS = {
    "user_id": Field(inputs.identifier, required=True),
    "starts_at": Field(inputs.timestamp, required=True),
    "ends_at": Field(inputs.timestamp, required=True),
    "note": Field(inputs.text(oncall.MAX_NOTE)),
}


# --- shapes ----------------------------------------------------------------------------

def schedule_ref(schedule: Schedule) -> dict:
    return {"id": schedule.id, "name": schedule.name}


def rotation_json(version: RotationVersion, zone: ZoneInfo, people: dict[int, User]) -> dict:
    return {
        "starts_at": iso(compute.to_utc(version.start_local, zone)),
        "start_local": version.start_local.strftime("%Y-%m-%dT%H:%M"),
        "participants": [person_json(people[p]) for p in version.participant_ids if p in people],
        "shift_length": version.shift_length,
        "shift_unit": version.shift_unit.value,
        "handoff_time": version.handoff_time.strftime("%H:%M"),
        "handoff_weekday": version.handoff_weekday,
        "restrictions": [{"days": list(r["days"]), "start": r["start"], "end": r["end"]}
                         for r in version.restrictions or ()],
    }


def layer_json(layer: ScheduleLayer, now: datetime, people: dict[int, User]) -> dict:
    zone = ZoneInfo(layer.schedule.time_zone)
    current = oncall.current_version(layer, now)
    return {"id": layer.id, "name": layer.name, "level": layer.position,
            "rotation": rotation_json(current, zone, people),
            "pending": [rotation_json(v, zone, people) for v in oncall.pending_versions(layer, now)
                        if v is not current]}


def on_call_json(spec: compute.ScheduleSpec, at: datetime, people: dict[int, User]) -> dict | None:
    shift = compute.shift_at(spec, at, reach=REACH)
    if shift is None:
        return None
    return {"user": person_json(people.get(shift.user_id)), "kind": shift.kind, "source": shift.source,
            "layer": shift.layer, "covering_for": person_json(people.get(shift.covering_for)),
            "since": iso(shift.start), "until": iso(shift.end)}


def shift_json(shift: compute.Shift, people: dict[int, User]) -> dict:
    return {"starts_at": iso(shift.start), "ends_at": iso(shift.end), "user": person_json(people.get(shift.user_id)),
            "kind": shift.kind, "source": shift.source, "layer": shift.layer,
            "covering_for": person_json(people.get(shift.covering_for))}


def override_json(override: Override) -> dict:
    return {"id": override.id, "schedule_id": override.schedule_id, "user": person_json(override.user),
            "starts_at": iso(override.starts_at), "ends_at": iso(override.ends_at), "note": override.note or "",
            "created_at": iso(override.created_at), "created_by": person_json(override.created_by)}


def everyone(schedules: list[Schedule], specs: dict[int, compute.ScheduleSpec]) -> dict[int, User]:
    ids = set()
    for schedule in schedules:
        spec = specs[schedule.id]
        ids |= {p for layer in spec.layers for r in layer.rotations for p in r.participants}
        ids |= {o.user_id for o in spec.overrides} | {h.user_id for h in spec.holidays}
        ids |= {p for s in spec.swaps for p in (s.first_user, s.second_user)}
        ids |= {p for t in spec.temporaries for layer in t.layers for r in layer.rotations for p in r.participants}
    return queries.people_by_id(ids)


def schedule_json(schedule: Schedule, spec: compute.ScheduleSpec, now: datetime, people: dict[int, User]) -> dict:
    return {
        "id": schedule.id, "name": schedule.name, "description": schedule.description or "",
        "time_zone": schedule.time_zone, "team": team_json(schedule.team),
        "reminder_minutes": schedule.reminder_minutes,
        "layers": [layer_json(layer, now, people) for layer in schedule.layers],
        "on_call_now": on_call_json(spec, now, people),
        "created_at": iso(schedule.created_at), "updated_at": iso(schedule.updated_at),
    }


def _schedule(schedule_id: int) -> Schedule:
    return load(Schedule, schedule_id, f"There is no schedule {schedule_id}.")


def _with_etag(body: dict):
    """The object with its ETag, for If-Match on its PATCH and DELETE (app.api.schedules)."""
    response = jsonify(body)
    response.headers["ETag"] = etag_of(body)
    return response


# --- routes ----------------------------------------------------------------------------

@bp.route("/schedules")
@requires(Role.VIEWER)
def list_schedules():
    now = clock.now()
    schedules = oncall.all_schedules()
    specs = load_specs(schedules, since=now - REACH)
    people = everyone(schedules, specs)
    return jsonify({"schedules": [schedule_json(s, specs[s.id], now, people) for s in schedules]})


@bp.route("/schedules/<int:schedule_id>")
@requires(Role.VIEWER)
def show_schedule(schedule_id: int):
    schedule = _schedule(schedule_id)
    now = clock.now()
    spec = load_spec(schedule, since=now - REACH)
    return _with_etag(schedule_json(schedule, spec, now, everyone([schedule], {schedule.id: spec})))


@bp.route("/schedules/<int:schedule_id>/layers")
@requires(Role.VIEWER)
def list_layers(schedule_id: int):
    schedule = _schedule(schedule_id)
    now = clock.now()
    spec = load_spec(schedule, since=now)
    people = everyone([schedule], {schedule.id: spec})
    return jsonify({"schedule": schedule_ref(schedule), "layers": [layer_json(layer, now, people)
                                                                    for layer in schedule.layers]})


@bp.route("/schedules/<int:schedule_id>/oncall")
@requires(Role.VIEWER)
def who_is_on_call(schedule_id: int):
    """Who is on call now, or `?at=` a given time."""
    schedule = _schedule(schedule_id)
    query = inputs.Query()
    at = query.time("at")
    query.check()
    at = at or clock.now()
    spec = load_spec(schedule, since=at - REACH)
    people = everyone([schedule], {schedule.id: spec})
    return jsonify({"schedule": schedule_ref(schedule), "at": iso(at), "on_call": on_call_json(spec, at, people)})


@bp.route("/oncall")
@requires(Role.VIEWER)
def everyone_on_call():
    """Who is on call on every schedule, now or `?at=` a given time."""
    query = inputs.Query()
    at = query.time("at")
    query.check()
    at = at or clock.now()
    schedules = oncall.all_schedules()
    specs = load_specs(schedules, since=at - REACH)
    people = everyone(schedules, specs)
    return jsonify({"at": iso(at), "schedules": [
        {"schedule": schedule_ref(s), "on_call": on_call_json(specs[s.id], at, people)} for s in schedules]})


@bp.route("/schedules/<int:schedule_id>/shifts")
@requires(Role.VIEWER)
def list_shifts(schedule_id: int):
    """The final shifts between `start` (default now) and `end` (default a week later)."""
    schedule = _schedule(schedule_id)
    query = inputs.Query()
    start, end = query.time("start"), query.time("end")
    query.check()
    start = start or clock.now()
    end = end or start + timedelta(days=7)
    if end <= start:
        raise inputs.BadInput(["'end' must be after 'start'"])
    if end - start > MAX_SHIFT_WINDOW:
        raise inputs.BadInput([f"ask for at most {MAX_SHIFT_WINDOW.days} days at a time"])
    spec = load_spec(schedule, since=start)
    people = everyone([schedule], {schedule.id: spec})
    return jsonify({"schedule": schedule_ref(schedule), "start": iso(start), "end": iso(end),
                    "shifts": [shift_json(s, people) for s in compute.final_shifts(spec, start, end)]})


@bp.route("/schedules/<int:schedule_id>/overrides")
@requires(Role.VIEWER)
def list_overrides(schedule_id: int):
    """Overrides not over by `since` (default now), starting before `until` if given."""
    schedule = _schedule(schedule_id)
    query = inputs.Query()
    since, until = query.time("since"), query.time("until")
    query.check()
    stmt = db.select(Override).where(Override.schedule_id == schedule.id,
                                     Override.ends_at > (since or clock.now()))
    if until is not None:
        stmt = stmt.where(Override.starts_at < until)
    rows = db.session.scalars(stmt.order_by(Override.starts_at, Override.id)).all()
    return jsonify({"schedule": schedule_ref(schedule), "overrides": [override_json(o) for o in rows]})


def _override(schedule: Schedule, override_id: int) -> Override:
    override = load(Override, override_id, f"There is no override {override_id}.")
    if override.schedule_id != schedule.id:
        raise NotFound(f"There is no override {override_id} on schedule {schedule.id}.")
    return override


@bp.route("/schedules/<int:schedule_id>/overrides/<int:override_id>")
@requires(Role.VIEWER)
def show_override(schedule_id: int, override_id: int):
    return _with_etag(override_json(_override(_schedule(schedule_id), override_id)))


@bp.route("/schedules/<int:schedule_id>/overrides", methods=["POST"])
@requires(Role.RESPONDER)
def create_override(schedule_id: int):
    """`user_id` covers the window over every layer; a start in the past is now."""
    schedule = _schedule(schedule_id)
    values = inputs.body(OVERRIDE_FIELDS)
    if db.session.get(User, values["user_id"]) is None:
        raise inputs.BadInput([f"'user_id' names nobody (there is no person {values['user_id']})"])
    override = oncall.add_override(current_actor(), schedule, user_id=values["user_id"],
                                   starts_at=values["starts_at"], ends_at=values["ends_at"],
                                   note=values.get("note", ""), now=clock.now())
    db.session.commit()
    response = jsonify(override_json(override))
    response.status_code = 201
    response.headers["Location"] = url_for("api.show_override", schedule_id=schedule.id, override_id=override.id)
    return response


@bp.route("/schedules/<int:schedule_id>/overrides/<int:override_id>", methods=["DELETE"])
@requires(Role.RESPONDER)
def delete_override(schedule_id: int, override_id: int):
    """Delete an override that has not started; end one under way now; an override
    that is over stays in the record (409)."""
    schedule = _schedule(schedule_id)
    override = _override(schedule, override_id)
    shape = override_json(override)
    outcome = oncall.remove_override(current_actor(), override, clock.now())
    db.session.commit()
    if outcome == "ended":
        shape = override_json(override)
    return jsonify({"outcome": outcome, "override": shape})
