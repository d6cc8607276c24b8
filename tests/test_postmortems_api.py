"""Post-mortems and action items over /api/v1 (every answer checked against the
OpenAPI document by tests.test_api.Api)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.extensions import db
from app.incidents import service as incidents
from app.postmortems import service as postmortems
from tests.problems import listed
from tests.factories import SYSTEM, actor, make_service, make_team, make_user, resolve
from tests.test_api import Api, token

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app, client):
    clock.set(T0)
    postmortems.ensure_defaults()
    dana = make_user(Role.RESPONDER, name="Dana Okafor")
    viewer = make_user(Role.VIEWER, name="Vic Viewer")
    team = make_team("Payments", members=[dana])
    service = make_service("checkout-api", team=team)
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout fails", severity=1, now=T0)
    resolve(actor(dana), incident, T0 + timedelta(minutes=30))
    pm = postmortems.for_incident(incident)
    first = postmortems.add_why(actor(dana), pm, clock.now(), why="Why did checkout fail?", because="Pool exhausted")
    postmortems.add_why(actor(dana), pm, clock.now(), parent=first, why="Why exhausted?", because="Release doubled it")
    postmortems.add_cause(actor(dana), pm, clock.now(), category="Technology", text="Pool fixed at 20")
    db.session.commit()
    log = []
    return type("World", (), dict(dana=dana, team=team, incident=incident, pm=pm,
                                  as_dana=Api(client, token(dana), log), as_viewer=Api(client, token(viewer), log)))


@pytest.mark.db
def test_a_post_mortem_reads_whole(world):
    body = world.as_viewer.get(f"/postmortems/{world.pm.id}").json
    assert (body["incident_id"], body["status"], body["template"], body["required"]) == (
        world.incident.id, "draft", "Detailed technical", True)
    assert body["owner"] == {"id": world.dana.id, "name": "Dana Okafor"} and body["due_on"] == "2026-03-09"
    assert [s["heading"] for s in body["sections"]][:2] == ["Overview", "What happened"]
    [why] = body["whys"]
    assert why["because"] == "Pool exhausted" and why["children"][0]["why"] == "Why exhausted?"
    assert {"category": "Technology", "causes": ["Pool fixed at 20"]} in body["fishbone"]
    listed = world.as_viewer.get("/postmortems", incident_id=world.incident.id).json
    assert [p["id"] for p in listed["postmortems"]] == [world.pm.id] and listed["pagination"]["total"] == 1


@pytest.mark.db
def test_action_items_are_created_listed_and_moved(world):
    created = world.as_dana.post("/action_items", {"incident_id": world.incident.id, "title": "Alert on saturation",
                                                  "due_on": "2026-03-01", "owner_id": world.dana.id,
                                                  "type": "detective"})
    assert created.status_code == 201
    item = created.json
    assert created.headers["Location"] == f"/api/v1/action_items/{item['id']}"
    assert (item["postmortem_id"], item["team"]["name"], item["priority"], item["overdue"]) == (
        world.pm.id, "Payments", "medium", True)
    assert [i["id"] for i in world.as_viewer.get("/action_items", overdue="true").json["action_items"]] == [item["id"]]
    refused = world.as_dana.post(f"/action_items/{item['id']}/status", {"status": "wont_do"})
    assert refused.status_code == 400 and refused.json["error"] == "Say why it won't be done."
    done = world.as_dana.post(f"/action_items/{item['id']}/status", {"status": "done"}).json
    assert done["status"] == "done" and done["done_at"] == "2026-03-02T09:00:00Z" and not done["overdue"]
    assert world.as_viewer.get("/action_items").json["action_items"] == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action.startswith("action_item."))) == 2


@pytest.mark.db
def test_bad_action_items_say_what_is_wrong(world):
    answer = world.as_dana.post("/action_items", {"incident_id": 9999, "title": "x", "due_on": "2026-03-10"})
    assert answer.status_code == 400 and "names no incident" in answer.json["error"]
    answer = world.as_dana.post("/action_items", {"incident_id": world.incident.id, "title": "x",
                                                  "due_on": "2026-03-10", "ticket_url": "ftp://x"})
    assert answer.status_code == 400 and answer.json["error"] == "The ticket link must be an http(s) address."
    answer = world.as_dana.post("/action_items", {"incident_id": world.incident.id, "title": " ", "due_on": "tomorrow",
                                                  "priority": "urgent"})
    assert listed(answer) == ["'title' must not be blank", "'due_on' must be a date such as 2026-03-20",
                                     "'priority' must be one of high, medium, low"]
    assert world.as_viewer.post("/action_items", {"incident_id": world.incident.id, "title": "x",
                                                  "due_on": "2026-03-10"}).status_code == 403
