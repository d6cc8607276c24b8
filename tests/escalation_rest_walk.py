"""The escalation part of the API walk in tests/test_api.py: every escalation-policy
route and `POST /incidents/{id}/escalate` with every status their document promises
(each answer is checked against the document by the walk's `Api` client), and what
the steps PUT, If-Match and a team's manager do.

Walks share one database: this one makes no people or teams (other walks count them)
and leaves the world's people as it found them."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.audit.service import Actor
from app.auth import service as people
from app.escalation.models import EscalationPolicy, EscalationStep
from app.extensions import db
from app.incidents import service as lifecycle
from app.incidents.models import EventKind, IncidentEvent, Status
from tests.factories import SYSTEM, make_service

TOO_LARGE = {"description": "x" * (600 * 1024)}


def audited(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def walk(w) -> dict[str, tuple[str, str]]:
    """Call every escalation route; returns, per path parameter, a real and a missing value."""
    # Create, with steps and targets, as the page would step by step (same audit entries).
    made = w.as_admin.post("/escalation_policies", {
        "name": "  Payments   primary ", "repeat": 1, "team_id": w.team.id,
        "steps": [{"delay_minutes": 5, "targets": [{"kind": "user", "id": w.responder.id}]},
                  {"delay_minutes": 15, "mode": "round_robin",
                   "targets": [{"kind": "team", "id": w.team.id}, {"kind": "user", "id": w.admin.id}]}]})
    assert made.status_code == 201, made.json
    policy_id = made.json["id"]
    base = f"/escalation_policies/{policy_id}"
    assert made.headers["Location"].endswith(f"/api/v1{base}")
    assert made.json["name"] == "Payments primary" and made.json["team"] == {"id": w.team.id, "name": "Payments"}
    assert [(s["position"], s["delay_minutes"], s["mode"]) for s in made.json["steps"]] == [
        (1, 5, "all"), (2, 15, "round_robin")]
    assert made.json["steps"][1]["targets"] == [{"kind": "team", "id": w.team.id, "name": "Payments"},
                                                {"kind": "user", "id": w.admin.id, "name": "Ada Admin"}]
    assert (audited("escalation.create"), audited("escalation.add_step"), audited("escalation.add_target")) >= (1, 2, 3)
    teamless = w.as_admin.post("/escalation_policies", {"name": "Everyone else"}).json
    assert teamless["steps"] == [] and teamless["team"] is None and teamless["services"] == []

    # Reads: the list pages with links, one with its ETag.
    listed = w.as_viewer.get("/escalation_policies", per_page=1)
    assert [p["name"] for p in listed.json["escalation_policies"]] == ["Everyone else"]
    assert listed.json["pagination"]["total"] == 2 and 'rel="next"' in listed.headers["Link"]
    w.as_viewer.get("/escalation_policies", per_page=0)
    one = w.as_viewer.get(base)
    assert one.json == made.json
    etag = one.headers["ETag"]

    # PATCH what is sent; a stale If-Match changes nothing.
    clock.advance(timedelta(minutes=1))
    changed = w.as_admin.call("PATCH", base, body={"description": "Card payments", "repeat": 2},
                              headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert (changed.json["description"], changed.json["repeat"], changed.json["name"]) == ("Card payments", 2,
                                                                                           "Payments primary")
    stale = w.as_admin.call("PATCH", base, body={"name": "Lost update"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and w.as_viewer.get(base).json["name"] == "Payments primary"

    # PUT the steps: kept by position, the rest removed; the same list twice is one change.
    first_step = made.json["steps"][0]["id"]
    steps = {"steps": [{"delay_minutes": 10, "targets": [{"kind": "user", "id": w.admin.id},
                                                         {"kind": "team", "id": w.team.id}]}]}
    put = w.as_admin.call("PUT", f"{base}/steps", body=steps, headers={"If-Match": changed.headers["ETag"]})
    assert put.status_code == 200
    assert [(s["id"], s["delay_minutes"]) for s in put.json["steps"]] == [(first_step, 10)]
    assert [t["name"] for t in put.json["steps"][0]["targets"]] == ["Ada Admin", "Payments"]
    entries = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    again = w.as_admin.call("PUT", f"{base}/steps", body=steps)
    assert again.json == put.json
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == entries
    w.as_admin.call("PUT", f"{base}/steps", body=steps, headers={"If-Match": etag})  # stale: 412

    # Bad steps change nothing, and each error points at its place.
    bad = w.as_admin.call("PUT", f"{base}/steps", body={"steps": [
        {"delay_minutes": 0, "mode": "sometimes", "targets": [{"kind": "pager", "id": 1}]}]})
    assert bad.status_code == 400
    assert {e["pointer"] for e in bad.json["errors"]} == {"/steps/0/delay_minutes", "/steps/0/mode",
                                                          "/steps/0/targets/0/kind"}
    nobody = w.as_admin.call("PUT", f"{base}/steps", body={"steps": [
        {"targets": []}, {"targets": [{"kind": "user", "id": 9999}, {"kind": "schedule", "id": 9999}]}]})
    assert nobody.status_code == 400
    assert [e["pointer"] for e in nobody.json["errors"]] == ["/steps/1/targets/0", "/steps/1/targets/1"]
    assert w.as_admin.call("PUT", f"{base}/steps", body={}).json["errors"][0]["pointer"] == "/steps"
    twice = w.as_admin.call("PUT", f"{base}/steps", body={"steps": [
        {"targets": [{"kind": "user", "id": w.admin.id}, {"kind": "user", "id": w.admin.id}]}]})
    assert twice.status_code == 409
    w.as_admin.call("PUT", f"{base}/steps", body={"steps": [{"targets": []}] * 11})
    w.as_admin.call("PUT", f"{base}/steps", body=TOO_LARGE)
    assert w.as_viewer.get(base).json["steps"] == put.json["steps"]

    # Bad policy fields, a taken name (whatever its letter case), an unknown team.
    bad = w.as_admin.call("PATCH", base, body={"name": " ", "repeat": 10, "colour": "red"})
    assert {e["pointer"] for e in bad.json["errors"]} == {"/name", "/repeat", "/colour"}
    assert w.as_admin.call("PATCH", base, body={"repeat": None}).json["errors"] == [
        {"detail": "must not be null", "pointer": "/repeat"}]
    assert w.as_admin.call("PATCH", base, body={"name": "everyone ELSE"}).status_code == 409
    w.as_admin.call("PATCH", base, body=TOO_LARGE)
    assert w.as_admin.post("/escalation_policies", {"name": "payments primary"}).status_code == 409
    unknown = w.as_admin.post("/escalation_policies", {"name": "Ghosts", "team_id": 9999})
    assert unknown.status_code == 400 and unknown.json["errors"][0]["pointer"] == "/team_id"
    w.as_admin.post("/escalation_policies", {"name": "Ghosts", "steps": [{"targets": [{"kind": "team", "id": 9999}]}]})
    assert db.session.scalar(sa.select(EscalationPolicy).where(EscalationPolicy.name == "Ghosts")) is None

    # A manager of the policy's team changes it; not one of no team, and does not create.
    people.set_manager(SYSTEM, w.team, w.responder, True)
    db.session.commit()
    mine = w.as_responder.call("PATCH", base, body={"description": "Ours"})
    assert mine.status_code == 200 and mine.json["description"] == "Ours"
    other = f"/escalation_policies/{teamless['id']}"
    assert w.as_responder.call("PATCH", other, body={"description": "Mine now"}).status_code == 403
    assert w.as_responder.call("PUT", f"{other}/steps", body={"steps": []}).status_code == 403
    assert w.as_responder.call("DELETE", other).status_code == 403
    assert w.as_responder.call("PATCH", base, body={"team_id": None}).status_code == 403  # giving it away
    people.set_manager(SYSTEM, w.team, w.responder, False)
    db.session.commit()

    # DELETE: refused while a service uses it; then gone.
    service = make_service("ledger-api", team=w.team)
    w.as_admin.call("PATCH", f"/services/{service.id}", body={"escalation_policy_id": policy_id})
    used = w.as_admin.call("DELETE", base)
    assert used.status_code == 409 and "ledger-api" in used.json["detail"]
    assert w.as_viewer.get(base).json["services"] == [{"id": service.id, "name": "ledger-api"}]
    gone = w.as_admin.call("DELETE", other, headers={"If-Match": w.as_viewer.get(other).headers["ETag"]})
    assert gone.status_code == 204 and w.as_viewer.get(other).status_code == 404
    w.as_admin.call("DELETE", base, headers={"If-Match": etag})  # stale: 412

    # Escalate now: the next step at once; an acknowledged incident is triggered again.
    w.as_admin.call("PUT", f"{base}/steps", body={"steps": [
        {"delay_minutes": 5, "targets": [{"kind": "user", "id": w.responder.id}]},
        {"delay_minutes": 5, "targets": [{"kind": "user", "id": w.admin.id}]}]})
    actor = Actor.system("tests")
    incident = lifecycle.open_incident(actor, service=service, title="Ledger drift", severity=2, now=clock.now(),
                                       source="web")
    db.session.commit()
    assert incident.escalation_step == 0
    up = w.as_responder.post(f"/incidents/{incident.id}/escalate", {})
    assert up.status_code == 200, up.json
    assert (up.json["step"], up.json["status"], up.json["paged"]) == (2, "triggered",
                                                                      [{"id": w.admin.id, "name": "Ada Admin"}])
    lifecycle.acknowledge(actor, incident, clock.now())
    db.session.commit()
    again = w.as_responder.post(f"/incidents/{incident.id}/escalate", {})
    assert again.json["status"] == "triggered" and again.json["round"] == 2  # repeat 2: round two, step one
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EventKind.ESCALATED,
        IncidentEvent.via == "api")) == 2
    w.as_responder.post(f"/incidents/{incident.id}/escalate", {"now": True})  # 400
    lifecycle.resolve(actor, incident, clock.now())
    db.session.commit()
    assert w.as_responder.post(f"/incidents/{incident.id}/escalate", {}).status_code == 409
    assert incident.status == Status.RESOLVED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EscalationStep)
                             .where(EscalationStep.policy_id == policy_id)) == 2
    return {"{policy_id}": (str(policy_id), "9999")}
