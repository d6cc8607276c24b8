"""The on-call API's answers mean what they say (tests/test_api.py walks every
route and status against the OpenAPI document; this checks the content)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.auth.models import Role
from app.extensions import db
from app.oncall.models import Override
from tests.factories import SYSTEM, make_user
from tests.oncall_factories import make_layer, make_schedule

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # Wednesday; New York changes its clocks on Sunday 8 March


@pytest.fixture
def world(app):
    clock.set(T0)
    ana, ben = make_user(Role.RESPONDER, name="Ana Ruiz"), make_user(Role.RESPONDER, name="Ben Cole")
    schedule = make_schedule("Payments primary", zone="America/New_York")
    make_layer(schedule, [ana, ben], name="Primary")
    _, secret = people.create_api_token(SYSTEM, ana, name="script")
    db.session.commit()
    return {"ana": ana, "ben": ben, "schedule": schedule, "auth": {"Authorization": f"Bearer {secret}"}}


@pytest.mark.db
def test_who_is_on_call_now_and_at_a_given_time_with_the_whole_shift(client, world):
    schedule, auth = world["schedule"], world["auth"]
    now = client.get(f"/api/v1/schedules/{schedule.id}/oncall", headers=auth).json
    assert now["at"] == "2026-03-04T12:00:00Z"
    # From Monday 2 March 09:00 EST until Monday 9 March 09:00 EDT.
    assert now["on_call"] == {"user": {"id": world["ana"].id, "name": "Ana Ruiz"}, "kind": "layer",
                              "source": "Primary", "layer": "Primary", "covering_for": None,
                              "since": "2026-03-02T14:00:00Z", "until": "2026-03-09T13:00:00Z"}
    later = client.get(f"/api/v1/schedules/{schedule.id}/oncall?at=2026-03-10T08:00:00-04:00", headers=auth).json
    assert later["on_call"]["user"]["name"] == "Ben Cole" and later["at"] == "2026-03-10T12:00:00Z"
    everyone = client.get("/api/v1/oncall", headers=auth).json
    assert [s["schedule"]["name"] for s in everyone["schedules"]] == ["Payments primary"]


@pytest.mark.db
def test_overrides_are_made_and_deleted_with_audit_entries(client, world):
    schedule, auth, ben = world["schedule"], world["auth"], world["ben"]
    made = client.post(f"/api/v1/schedules/{schedule.id}/overrides", headers=auth, json={
        "user_id": ben.id, "starts_at": "2026-03-04T10:00:00Z", "ends_at": "2026-03-04T16:00:00Z"})
    assert made.status_code == 201
    assert made.json["starts_at"] == "2026-03-04T12:00:00Z"  # a start in the past is now
    assert client.get(f"/api/v1/schedules/{schedule.id}/oncall", headers=auth).json["on_call"]["kind"] == "override"
    listed = client.get(f"/api/v1/schedules/{schedule.id}/overrides", headers=auth).json["overrides"]
    assert [o["id"] for o in listed] == [made.json["id"]]
    clock.set(datetime(2026, 3, 4, 13, tzinfo=UTC))
    ended = client.delete(f"/api/v1/schedules/{schedule.id}/overrides/{made.json['id']}", headers=auth)
    assert ended.json["outcome"] == "ended" and ended.json["override"]["ends_at"] == "2026-03-04T13:00:00Z"
    assert db.session.scalar(sa.select(Override.ends_at)) == datetime(2026, 3, 4, 13, tzinfo=UTC)
    actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {"schedule.override_add", "schedule.override_end"} <= actions


@pytest.mark.db
def test_shifts_and_layers(client, world):
    schedule, auth = world["schedule"], world["auth"]
    shifts = client.get(f"/api/v1/schedules/{schedule.id}/shifts?start=2026-03-02T14:00:00Z"
                        "&end=2026-03-16T13:00:00Z", headers=auth).json["shifts"]
    assert [(s["starts_at"], s["user"]["name"]) for s in shifts] == [
        ("2026-03-02T14:00:00Z", "Ana Ruiz"), ("2026-03-09T13:00:00Z", "Ben Cole")]
    layers = client.get(f"/api/v1/schedules/{schedule.id}/layers", headers=auth).json["layers"]
    assert layers[0]["rotation"]["start_local"] == "2026-01-05T09:00"
    assert [p["name"] for p in layers[0]["rotation"]["participants"]] == ["Ana Ruiz", "Ben Cole"]
    too_long = client.get(f"/api/v1/schedules/{schedule.id}/shifts?start=2026-03-01T00:00:00Z"
                          "&end=2026-07-01T00:00:00Z", headers=auth)
    assert too_long.status_code == 400 and "93 days" in too_long.json["error"]
