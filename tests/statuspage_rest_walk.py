"""The status page part of the API walk in tests/test_api.py: component groups,
components' PATCH and DELETE, public incidents and maintenances, every route with
every status its document promises (each answer is checked against the document by
the walk's `Api` client), and what the page shows after each change."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import clock
from app.api.schemas import iso
from app.audit.models import AuditEntry
from app.extensions import db
from app.incidents import service as lifecycle
from app.statuspage.models import Component, ComponentGroup, PublicIncident
from tests.factories import SYSTEM, make_component, make_group

TOO_LARGE = {"description": "x" * (600 * 1024)}


def walk(w) -> dict[str, tuple[str, str]]:
    group = walk_groups(w)
    walk_components(w)
    public_id = walk_incidents(w)
    window = walk_maintenances(w)
    return {"{group_id}": (str(group), "9999"), "{public_id}": (public_id, "nosuchthing0"),
            "{window_id}": (str(window), "9999")}


def walk_groups(w) -> int:
    made = w.as_admin.post("/status_page/groups", {"name": " Core   platform ", "description": "What we run"})
    assert made.status_code == 201 and made.json["name"] == "Core platform" and made.json["components"] == []
    assert made.headers["Location"].endswith(f"/api/v1/status_page/groups/{made.json['id']}")
    base = f"/status_page/groups/{made.json['id']}"
    make_component("Storage API", group=db.session.get(ComponentGroup, made.json["id"]))
    db.session.commit()
    one = w.as_viewer.get(base)
    assert [c["name"] for c in one.json["components"]] == ["Storage API"]
    listed = w.as_viewer.get("/status_page/groups", per_page=1)
    assert listed.json["pagination"]["total"] >= 2 and 'rel="next"' in listed.headers["Link"]
    w.as_viewer.get("/status_page/groups", per_page=0)

    etag = one.headers["ETag"]
    moved = w.as_admin.call("PATCH", base, body={"position": 0}, headers={"If-Match": etag})
    assert moved.status_code == 200 and moved.json["position"] == 0
    assert w.as_viewer.get("/status_page/groups").json["groups"][0]["name"] == "Core platform"
    assert w.as_admin.call("PATCH", base, body={"name": "Lost"}, headers={"If-Match": etag}).status_code == 412
    assert w.as_admin.call("PATCH", base, body={"name": "payments"}).status_code == 409  # taken, any case
    assert w.as_admin.post("/status_page/groups", {"name": "PAYMENTS"}).status_code == 409
    assert w.as_admin.post("/status_page/groups", {"name": "", "position": -1}).status_code == 400
    assert w.as_admin.call("PATCH", base, body={"position": "first"}).status_code == 400
    assert w.as_admin.call("PATCH", base, body=TOO_LARGE).status_code == 413
    assert w.as_viewer.call("PATCH", base, body={"name": "Mine"}).status_code == 403
    assert w.as_responder.call("DELETE", base).status_code == 403
    assert w.as_admin.call("DELETE", base, headers={"If-Match": etag}).status_code == 412

    # Deleting a group leaves its components on the page, ungrouped.
    doomed = w.as_admin.post("/status_page/groups", {"name": "Doomed"}).json
    make_component("Orphan", group=db.session.get(ComponentGroup, doomed["id"]))
    db.session.commit()
    assert w.as_admin.call("DELETE", f"/status_page/groups/{doomed['id']}").status_code == 204
    orphan = db.session.scalar(db.select(Component).where(Component.name == "Orphan"))
    db.session.refresh(orphan)
    assert orphan.group_id is None
    return made.json["id"]


def walk_components(w) -> None:
    component = make_component("Ledger", group=make_group("Money"))
    db.session.commit()
    base = f"/status_page/components/{component.id}"
    etag = w.as_viewer.get(base).headers.get("ETag")
    changed = w.as_admin.call("PATCH", base, body={"description": "Balances", "group_id": None,
                                                   "service_ids": [w.service.id], "status": "partial_outage"})
    assert changed.status_code == 200 and changed.json["group"] is None
    assert changed.json["services"] == [{"id": w.service.id, "name": w.service.name}]
    assert changed.json["status"] == changed.json["status_set_by_hand"] == "partial_outage"
    fresh = changed.headers["ETag"]
    assert w.as_admin.call("PATCH", base, body={"position": 5}, headers={"If-Match": fresh}).status_code == 200
    assert w.as_admin.call("PATCH", base, body={"position": 2}, headers={"If-Match": fresh}).status_code == 412
    assert w.as_admin.call("PATCH", base, body={"name": "search"}).status_code == 409
    assert w.as_admin.call("PATCH", base, body={"status": "under_maintenance"}).status_code == 400
    assert w.as_admin.call("PATCH", base, body={"group_id": 9999, "service_ids": [9999]}).status_code == 400
    assert w.as_admin.call("PATCH", base, body=TOO_LARGE).status_code == 413
    assert w.as_viewer.call("PATCH", base, body={"position": 3}).status_code == 403
    assert w.as_responder.call("DELETE", base).status_code == 403
    assert w.as_admin.call("DELETE", base, headers={"If-Match": fresh}).status_code == 412
    assert etag is None or etag != fresh
    assert w.as_admin.call("DELETE", base).status_code == 204
    assert w.as_viewer.get(base).status_code == 404


def walk_incidents(w) -> str:
    incident = lifecycle.open_incident(SYSTEM, service=w.service, title="Ledger writes fail", severity=2,
                                       now=clock.now(), source="web")
    other = lifecycle.open_incident(SYSTEM, service=w.service, title="Another", severity=3, now=clock.now(),
                                    source="web")
    ledger = make_component("Payouts")
    db.session.commit()
    made = w.as_responder.post("/status_page/incidents", {
        "incident_id": incident.id, "title": "Payouts are delayed", "body": "We are looking into it.",
        "components": [{"id": ledger.id, "status": "major_outage"}]})
    assert made.status_code == 201 and made.json["status"] == "investigating" and made.json["impact"] == "critical"
    assert made.json["components"] == [{"id": ledger.id, "name": "Payouts", "impact": "major_outage"}]
    public_id = made.json["public_id"]
    base = f"/status_page/incidents/{public_id}"
    assert made.headers["Location"].endswith(f"/api/v1{base}")
    db.session.refresh(ledger)
    assert ledger.status.value == "major_outage"

    etag = w.as_viewer.get(base).headers["ETag"]
    resolved = w.as_responder.call("PATCH", base, body={"status": "resolved", "body": "Payouts are flowing."},
                                   headers={"If-Match": etag})
    assert resolved.status_code == 200 and resolved.json["status"] == "resolved"
    assert [u["status"] for u in resolved.json["updates"]] == ["resolved", "investigating"]
    assert resolved.json["resolved_at"] == iso(clock.now())
    db.session.refresh(ledger)
    assert ledger.status.value == "operational"
    published = db.session.scalars(sa.select(AuditEntry.summary).where(AuditEntry.action == "statuspage.publish",
                                                                       AuditEntry.actor_user_id == w.responder.id)
                                       .order_by(AuditEntry.id))
    assert [s for s in published if "Payouts are delayed" in s] == [
        f"Published “Payouts are delayed” (investigating) for #{incident.id}",
        f"Published “Payouts are delayed” (resolved) for #{incident.id}"]
    summary = w.as_responder.call("PATCH", base, body={"postmortem": "A full disk."})
    assert summary.json["postmortem"] == "A full disk." and summary.json["postmortem_published_at"]
    listed = w.as_viewer.get("/status_page/incidents", per_page=5)
    assert public_id in [p["public_id"] for p in listed.json["incidents"]]
    w.as_viewer.get("/status_page/incidents", page="one")

    # Refusals.
    assert w.as_responder.call("PATCH", base, body={"body": "x"}, headers={"If-Match": etag}).status_code == 412
    assert w.as_responder.post("/status_page/incidents", {"incident_id": incident.id, "title": "Again",
                                                          "body": "Again"}).status_code == 409
    assert w.as_responder.post("/status_page/incidents", {"incident_id": other.id, "title": "Other", "body": "x",
                                                          "components": [{"id": 9999, "status": None}]}
                               ).status_code == 400
    assert w.as_responder.post("/status_page/incidents", {"incident_id": 9999, "title": "None",
                                                          "body": "x"}).status_code == 400
    assert w.as_responder.call("PATCH", base, body={"status": "monitoring"}).status_code == 400
    assert w.as_responder.call("PATCH", base, body=TOO_LARGE).status_code == 413
    assert w.as_viewer.call("PATCH", base, body={"body": "Mine"}).status_code == 403
    orphan = PublicIncident(name="From a deleted incident", incident_id=None)
    db.session.add(orphan)
    db.session.commit()
    assert w.as_responder.call("PATCH", f"/status_page/incidents/{orphan.public_id}",
                               body={"body": "Still here"}).status_code == 409
    return public_id


def walk_maintenances(w) -> int:
    now = clock.now()
    component = make_component("Checkout page", services=[w.service])
    db.session.commit()
    made = w.as_admin.post("/status_page/maintenances", {
        "title": "Database upgrade", "starts_at": iso(now + timedelta(hours=2)),
        "ends_at": iso(now + timedelta(hours=3)), "service_ids": [w.service.id]})
    assert made.status_code == 201 and made.json["state"] == "scheduled"
    assert [c["name"] for c in made.json["components"]] == ["Checkout page"]
    assert [u["status"] for u in made.json["updates"]] == ["scheduled"]
    base = f"/status_page/maintenances/{made.json['id']}"
    assert made.headers["Location"].endswith(f"/api/v1{base}")
    etag = w.as_viewer.get(base).headers["ETag"]
    posted = w.as_admin.call("PATCH", base, body={"body": "We start on time."}, headers={"If-Match": etag})
    assert posted.status_code == 200 and posted.json["updates"][0]["body"] == "We start on time."
    listed = w.as_viewer.get("/status_page/maintenances", per_page=10)
    assert made.json["id"] in [m["id"] for m in listed.json["maintenances"]]
    w.as_viewer.get("/status_page/maintenances", per_page="all")

    # Refusals; then cancelled, it is over.
    assert w.as_admin.call("PATCH", base, body={"body": "x"}, headers={"If-Match": etag}).status_code == 412
    assert w.as_admin.call("PATCH", base, body={"state": "verifying"}).status_code == 409
    assert w.as_admin.call("PATCH", base, body={}).status_code == 400
    assert w.as_admin.call("PATCH", base, body=TOO_LARGE).status_code == 413
    assert w.as_viewer.call("PATCH", base, body={"body": "Mine"}).status_code == 403
    assert w.as_admin.post("/status_page/maintenances", {
        "title": "Back in time", "starts_at": iso(now - timedelta(hours=3)), "ends_at": iso(now - timedelta(hours=2)),
        "service_ids": [w.service.id]}).status_code == 400
    assert w.as_admin.post("/status_page/maintenances", {
        "title": "No zone", "starts_at": "2026-03-05T10:00:00", "ends_at": "2026-03-05T11:00:00",
        "service_ids": [9999], "component_ids": [component.id]}).status_code == 400
    cancelled = w.as_admin.call("PATCH", base, body={"state": "cancelled"})
    assert cancelled.json["state"] == "cancelled" and cancelled.json["updates"][0]["status"] == "cancelled"
    assert w.as_admin.call("PATCH", base, body={"body": "Too late"}).status_code == 409
    return made.json["id"]
