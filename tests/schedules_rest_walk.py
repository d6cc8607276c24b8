"""The schedules part of the API walk in tests/test_api.py: making, changing and
archiving schedules, their layers (restrictions included), overrides, swaps and
holidays, with every status the document promises (each answer is checked against
the document by the walk's `Api` client), and what ETag and If-Match do."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import Role
from app.escalation import policies
from app.extensions import db
from app.oncall.models import Holiday, RotationVersion, Schedule
from tests.factories import SYSTEM, make_team, make_user
from tests.oncall_factories import make_override

TOO_LARGE = {"name": "x" * (600 * 1024)}
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


def _audited(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def _as(w, user):
    """An API client acting with a write token of `user`."""
    _, secret = people.create_api_token(SYSTEM, user, name=f"{user.name} write", scope="write")
    db.session.commit()
    return type(w.as_admin)(w.as_admin.client, secret, w.as_admin.log)


def walk(w) -> dict[str, tuple[str, str]]:
    """Call every schedules route; returns, per path parameter, a real and a missing value."""
    before = clock.now()
    now = MONDAY
    clock.set(now)
    nia = make_user(Role.RESPONDER, name="Nia Night")
    rita = w.responder

    # A schedule: made, read with its ETag, changed with If-Match.
    made = w.as_admin.post("/schedules", {"name": "  Search   primary ", "time_zone": "Europe/Berlin",
                                          "team_id": w.team.id, "reminder_minutes": 30})
    assert made.status_code == 201 and made.json["name"] == "Search primary" and made.json["layers"] == []
    assert made.json["team"] == {"id": w.team.id, "name": w.team.name}
    base = f"/schedules/{made.json['id']}"
    assert made.headers["Location"].endswith(f"/api/v1{base}")
    read = w.as_viewer.get(base)
    assert read.headers["ETag"] == made.headers["ETag"]
    changed = w.as_admin.call("PATCH", base, body={"description": "Search on-call", "team_id": None},
                              headers={"If-Match": read.headers["ETag"]})
    assert changed.status_code == 200 and changed.json["team"] is None
    assert (changed.json["description"], changed.json["time_zone"]) == ("Search on-call", "Europe/Berlin")
    assert changed.headers["ETag"] != read.headers["ETag"]
    stale = w.as_admin.call("PATCH", base, body={"name": "Lost update"}, headers={"If-Match": read.headers["ETag"]})
    assert stale.status_code == 412 and w.as_viewer.get(base).json["name"] == "Search primary"
    bad = w.as_admin.call("PATCH", base, body={"reminder_minutes": -1, "colour": "red"})
    assert {e.get("pointer") for e in bad.json["errors"]} == {"/reminder_minutes", "/colour"}
    zone = w.as_admin.call("PATCH", base, body={"time_zone": "Mars/Olympus"})
    assert zone.status_code == 400 and zone.json["errors"][0]["pointer"] == "/time_zone"
    w.as_admin.call("PATCH", base, body=TOO_LARGE)
    w.as_responder.call("PATCH", base, body={"name": "Mine"})  # a responder who manages nothing: 403
    assert w.as_admin.post("/schedules", {"name": "SEARCH primary"}).status_code == 409
    assert w.as_admin.post("/schedules", {"name": 42, "reminder_minutes": "5"}).status_code == 400

    # A layer: a weekly rotation on call in business hours only; the handoff day is the
    # start's weekday unless said.
    layer = w.as_admin.post(f"{base}/layers", {
        "name": "Primary", "participant_ids": [rita.id, nia.id], "start_date": "2026-03-02", "handoff_time": "09:00",
        "restrictions": [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]})
    assert layer.status_code == 201, layer.json
    rotation = layer.json["rotation"]
    assert [p["name"] for p in rotation["participants"]] == ["Rita Responder", "Nia Night"]
    assert (rotation["shift_unit"], rotation["handoff_weekday"], rotation["start_local"]) == \
        ("weeks", 0, "2026-03-02T09:00")
    assert rotation["restrictions"] == [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
    layer_url = f"{base}/layers/{layer.json['id']}"
    assert layer.headers["Location"].endswith(f"/api/v1{layer_url}")
    shown = w.as_viewer.get(layer_url)
    assert shown.headers["ETag"] == layer.headers["ETag"]
    assert w.as_viewer.get(base).json["on_call_now"]["user"]["name"] == "Rita Responder"

    # A rotation change takes effect at the next handoff, as the page's edit does: Rita
    # stays on call this week; from Monday 9 March, daily shifts starting with Nia (next
    # in line).
    later = w.as_admin.call("PATCH", layer_url, body={"shift_unit": "days", "participant_ids": [nia.id, rita.id]},
                            headers={"If-Match": shown.headers["ETag"]})
    assert later.status_code == 200, later.json
    assert later.json["rotation"] == rotation  # in force now: unchanged
    [pending] = later.json["pending"]
    assert (pending["start_local"], pending["shift_unit"], pending["handoff_weekday"]) == \
        ("2026-03-09T09:00", "days", None)
    assert [p["name"] for p in pending["participants"]] == ["Nia Night", "Rita Responder"]
    assert pending["restrictions"] == rotation["restrictions"]  # fields not sent are kept
    assert w.as_viewer.get(base).json["on_call_now"]["user"]["name"] == "Rita Responder"
    renamed = w.as_admin.call("PATCH", layer_url, body={"name": "Weekdays"})
    assert renamed.json["name"] == "Weekdays" and renamed.json["pending"] == later.json["pending"]
    assert w.as_admin.call("PATCH", layer_url, body={"name": "Weekdays"}, headers={"If-Match": shown.headers["ETag"]}
                           ).status_code == 412
    backup = w.as_admin.post(f"{base}/layers", {"name": "Backup", "participant_ids": [nia.id], "shift_unit": "days"})
    assert backup.status_code == 201 and backup.json["level"] > renamed.json["level"]
    assert w.as_admin.post(f"{base}/layers", {"name": "weekdays", "participant_ids": [nia.id]}).status_code == 409
    raised = w.as_admin.call("PATCH", layer_url, body={"level": backup.json["level"]})
    assert raised.json["level"] == backup.json["level"] and raised.json["pending"] == later.json["pending"]
    assert [item["name"] for item in w.as_viewer.get(f"{base}/layers").json["layers"]] == ["Weekdays", "Backup"]
    assert w.as_admin.call("PATCH", layer_url, body={"name": "BACKUP"}).status_code == 409
    refused = w.as_admin.post(f"{base}/layers", {
        "name": "Nights", "participant_ids": [], "handoff_time": "25:00", "colour": 1,
        "restrictions": [{"days": [7], "start": "9", "end": "17:00"}]})
    assert {e.get("pointer") for e in refused.json["errors"]} == {
        "/participant_ids", "/handoff_time", "/colour", "/restrictions/0/days/0", "/restrictions/0/start"}
    nobody = w.as_admin.post(f"{base}/layers", {"name": "Nights", "participant_ids": [424242]})
    assert nobody.status_code == 400 and nobody.json["errors"][0]["pointer"] == "/participant_ids"
    w.as_admin.call("PATCH", layer_url, body={"shift_length": 0})
    w.as_admin.call("PATCH", layer_url, body=TOO_LARGE)
    w.as_responder.call("PATCH", layer_url, body={"name": "Mine"})
    w.as_responder.call("DELETE", layer_url)
    backup_url = f"{base}/layers/{backup.json['id']}"
    w.as_admin.call("DELETE", backup_url, headers={"If-Match": '"stale"'})
    versions = db.session.scalar(sa.select(sa.func.count()).select_from(RotationVersion))
    assert w.as_admin.call("DELETE", backup_url, headers={"If-Match": backup.headers["ETag"]}).status_code == 412
    assert w.as_admin.call("DELETE", backup_url, headers={"If-Match": w.as_viewer.get(backup_url).headers["ETag"]}
                           ).status_code == 204  # (moved below Weekdays: its ETag changed)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RotationVersion)) == versions - 1
    assert _audited("schedule.layer_remove") >= 1

    # Overrides: one not started changes whole; one under way only its end and note;
    # one over not at all.
    override = make_override(db.session.get(Schedule, made.json["id"]), w.admin, now + timedelta(days=1),
                             now + timedelta(days=2))
    override_url = f"{base}/overrides/{override.id}"
    tag = w.as_viewer.get(override_url).headers["ETag"]
    moved = w.as_responder.call("PATCH", override_url, headers={"If-Match": tag}, body={
        "user_id": nia.id, "ends_at": (now + timedelta(days=3)).isoformat(), "note": "Nia covers"})
    assert moved.status_code == 200 and (moved.json["user"]["name"], moved.json["note"]) == ("Nia Night", "Nia covers")
    assert (moved.json["ends_at"], _audited("schedule.override_change")) == ("2026-03-05T09:00:00Z", 1), moved.json
    assert w.as_responder.call("PATCH", override_url, body={"note": "x"}, headers={"If-Match": tag}).status_code == 412
    w.as_responder.call("PATCH", override_url, body={"starts_at": "tomorrow", "ends_at": "2026-03-05T10:00:00"})
    w.as_responder.call("PATCH", override_url, body=TOO_LARGE)
    w.as_viewer.call("PATCH", override_url, body={"note": "x"})
    clock.set(now + timedelta(days=1, hours=1))
    assert w.as_responder.call("PATCH", override_url, body={"user_id": rita.id}).status_code == 409
    shorter = w.as_responder.call("PATCH", override_url, body={"ends_at": "2026-03-03T18:00:00+01:00"})
    assert shorter.status_code == 200 and shorter.json["ends_at"] == "2026-03-03T17:00:00Z"
    clock.set(now + timedelta(days=4))
    assert w.as_responder.call("PATCH", override_url, body={"note": "late"}).status_code == 409
    clock.set(now)

    # Swaps.
    swap = w.as_responder.post(f"{base}/swaps", {
        "first_user_id": rita.id, "second_user_id": nia.id, "first_starts_at": "2026-03-09T08:00:00Z",
        "first_ends_at": "2026-03-10T08:00:00Z", "note": "Rita's birthday"})
    assert swap.status_code == 201 and swap.json["second_user"]["name"] == "Nia Night"
    swap_url = f"{base}/swaps/{swap.json['id']}"
    assert swap.headers["Location"].endswith(f"/api/v1{swap_url}")
    listed = w.as_viewer.get(f"{base}/swaps", per_page=1)
    assert [s["id"] for s in listed.json["swaps"]] == [swap.json["id"]] and listed.json["pagination"]["total"] == 1
    w.as_viewer.get(f"{base}/swaps", per_page=500)
    assert w.as_viewer.get(swap_url).headers["ETag"] == swap.headers["ETag"]
    same = w.as_responder.post(f"{base}/swaps", {"first_user_id": rita.id, "second_user_id": rita.id,
                                                 "first_starts_at": "2026-03-09T08:00:00Z",
                                                 "first_ends_at": "2026-03-10T08:00:00Z"})
    assert same.status_code == 400 and same.json["errors"][0]["pointer"] == "/second_user_id"
    w.as_responder.post(f"{base}/swaps", {"first_user_id": rita.id, "first_starts_at": "soon"})
    w.as_responder.call("DELETE", swap_url, headers={"If-Match": '"stale"'})
    w.as_viewer.call("DELETE", swap_url)
    assert w.as_responder.call("DELETE", swap_url, headers={"If-Match": swap.headers["ETag"]}).status_code == 204
    soon = w.as_responder.post(f"{base}/swaps", {
        "first_user_id": rita.id, "second_user_id": nia.id, "first_starts_at": "2026-03-02T10:00:00Z",
        "first_ends_at": "2026-03-02T12:00:00Z"})
    clock.set(now + timedelta(hours=2))
    begun = w.as_responder.call("DELETE", f"{base}/swaps/{soon.json['id']}")
    assert begun.status_code == 409 and "begun" in begun.json["detail"]
    clock.set(now)

    # Holidays: a person's own, or anyone's for an admin; of people in the rotations.
    own = w.as_responder.post(f"{base}/holidays", {"first_day": "2026-03-10", "last_day": "2026-03-12"})
    assert own.status_code == 201 and (own.json["user"]["name"], own.json["first_day"], own.json["last_day"]) == \
        ("Rita Responder", "2026-03-10", "2026-03-12")
    assert w.as_responder.post(f"{base}/holidays", {"user_id": nia.id, "first_day": "2026-03-10",
                                                    "last_day": "2026-03-10"}).status_code == 403
    today = w.as_admin.post(f"{base}/holidays", {"user_id": nia.id, "first_day": "2026-03-02",
                                                 "last_day": "2026-03-02", "note": "Dentist"})
    assert today.status_code == 201 and today.json["ends_at"] == "2026-03-03T00:00:00Z"
    stranger = w.as_admin.post(f"{base}/holidays", {"user_id": w.viewer.id, "first_day": "2026-03-10",
                                                    "last_day": "2026-03-10"})
    assert stranger.status_code == 400 and stranger.json["errors"][0]["pointer"] == "/user_id"
    w.as_responder.post(f"{base}/holidays", {"first_day": "2026-03-12", "last_day": "2026-03-10"})
    holidays = w.as_viewer.get(f"{base}/holidays")
    assert [h["user"]["name"] for h in holidays.json["holidays"]] == ["Nia Night", "Rita Responder"]
    w.as_viewer.get(f"{base}/holidays", page=0)
    own_url = f"{base}/holidays/{own.json['id']}"
    w.as_viewer.call("DELETE", own_url)
    w.as_responder.call("DELETE", own_url, headers={"If-Match": '"stale"'})
    assert w.as_responder.call("DELETE", own_url).status_code == 204
    assert db.session.get(Holiday, own.json["id"]) is None
    clock.set(now + timedelta(days=2))
    assert w.as_admin.call("DELETE", f"{base}/holidays/{today.json['id']}").status_code == 409
    clock.set(now)

    # A team's manager makes schedules for their team and changes them, nobody else's.
    search = make_team("Tracing")  # (after "Search": the teams walk lists the first two by name)
    people.add_member(SYSTEM, search, nia, is_manager=True)
    db.session.commit()
    as_manager = _as(w, nia)
    theirs = as_manager.post("/schedules", {"name": "Search secondary", "team_id": search.id})
    assert theirs.status_code == 201
    assert as_manager.post("/schedules", {"name": "Nobody's"}).status_code == 403
    assert as_manager.post(f"/schedules/{theirs.json['id']}/layers", {
        "name": "Primary", "participant_ids": [nia.id], "shift_unit": "hours", "shift_length": 12}).status_code == 201
    assert as_manager.call("PATCH", base, body={"name": "Taken over"}).status_code == 403
    assert as_manager.call("PATCH", base, body={"name": "Search secondary"}).status_code == 403

    # Archiving: refused while a policy pages the schedule; then it keeps its history
    # and changes no more.
    policy = policies.create_policy(SYSTEM, name="Tracing escalation", now=clock.now())
    step = policies.add_step(SYSTEM, policy, delay_minutes=5, mode="all", now=clock.now())
    policies.add_target(SYSTEM, step, "schedule", theirs.json["id"], clock.now())
    db.session.commit()
    paged = w.as_admin.call("DELETE", f"/schedules/{theirs.json['id']}")
    assert paged.status_code == 409 and "Tracing escalation still pages" in paged.json["detail"]
    assert w.as_admin.call("PATCH", base, body={"name": "Search secondary"}).status_code == 409
    w.as_admin.call("DELETE", base, headers={"If-Match": read.headers["ETag"]})
    w.as_viewer.call("DELETE", base)
    assert w.as_admin.call("DELETE", base).status_code == 204
    assert db.session.get(Schedule, made.json["id"]).archived_at == now
    assert w.as_viewer.get(base).status_code == 200
    assert w.as_admin.call("DELETE", base).status_code == 409
    assert w.as_admin.call("PATCH", base, body={"description": "More"}).status_code == 409
    assert w.as_admin.post(f"{base}/layers", {"name": "Late", "participant_ids": [nia.id]}).status_code == 409
    assert w.as_admin.call("DELETE", layer_url).status_code == 409
    assert w.as_responder.post(f"{base}/swaps", {
        "first_user_id": rita.id, "second_user_id": nia.id, "first_starts_at": "2026-03-09T08:00:00Z",
        "first_ends_at": "2026-03-10T08:00:00Z"}).status_code == 409
    clock.set(before)
    return {"{schedule_id}": (base.rsplit("/", 1)[1], "9999"), "{layer_id}": (str(layer.json["id"]), "9999"),
            "{swap_id}": (str(soon.json["id"]), "9999"), "{holiday_id}": (str(today.json["id"]), "9999")}
