"""The maintenance-window part of the API walk in tests/test_api.py: every
/maintenance_windows route with every status its document promises (each answer is
checked against the document by the walk's `Api` client), and what PATCH may change
before and after a window starts, and what DELETE (ending it) does.

Walks share one database: this one makes no people or teams, and leaves the world's
people as it found them."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.extensions import db
from app.services.models import MaintenanceWindow
from tests.factories import SYSTEM, make_component, make_service

TOO_LARGE = {"description": "x" * (600 * 1024)}


def at(delta: timedelta) -> str:
    return (clock.now() + delta).isoformat().replace("+00:00", "Z")


def audited(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def walk(w) -> dict[str, tuple[str, str]]:
    """Call every maintenance-window route; returns, per path parameter, a real and a missing value."""
    vault = make_service("card-vault", team=w.team)
    shared = make_service("shared-dns")
    component = make_component("Card vault", services=[vault])
    hour = timedelta(hours=1)

    # Schedule: one ahead, announced with the chosen component; one from the past, under way at once.
    made = w.as_admin.post("/maintenance_windows", {
        "title": "Vault upgrade", "starts_at": at(2 * hour), "ends_at": at(3 * hour), "service_ids": [vault.id],
        "public": True, "component_ids": [component.id], "description": "Rolling restart"})
    assert made.status_code == 201, made.json
    window_id = made.json["id"]
    base = f"/maintenance_windows/{window_id}"
    assert made.headers["Location"].endswith(f"/api/v1{base}")
    assert (made.json["state"], made.json["public"], made.json["services"], made.json["components"]) == (
        "scheduled", True, [{"id": vault.id, "name": "card-vault"}], [{"id": component.id, "name": "Card vault"}])
    assert made.json["created_by"] == {"id": w.admin.id, "name": "Ada Admin"}
    running = w.as_admin.post("/maintenance_windows", {"title": "DNS move", "starts_at": at(-hour),
                                                       "ends_at": at(hour), "service_ids": [shared.id]}).json
    assert running["state"] == "in_progress" and running["public"] is False
    running_base = f"/maintenance_windows/{running['id']}"

    # Reads: current ones soonest first, pages with links; one with its ETag.
    listed = w.as_viewer.get("/maintenance_windows", per_page=1)
    assert [m["title"] for m in listed.json["maintenance_windows"]] == ["DNS move"]
    assert listed.json["pagination"]["total"] == 2 and 'rel="next"' in listed.headers["Link"]
    w.as_viewer.get("/maintenance_windows", state="past")  # 400
    one = w.as_viewer.get(base)
    assert one.json == made.json
    etag = one.headers["ETag"]

    # PATCH before it starts: anything; a stale If-Match changes nothing.
    moved = w.as_admin.call("PATCH", base, headers={"If-Match": etag}, body={
        "title": "Vault upgrade (second try)", "starts_at": at(4 * hour), "ends_at": at(5 * hour)})
    assert moved.status_code == 200 and moved.json["starts_at"] == at(4 * hour)
    assert db.session.get(MaintenanceWindow, window_id).next_transition_at == clock.now() + 4 * hour
    assert audited("maintenance.update") == 1
    stale = w.as_admin.call("PATCH", base, body={"title": "Lost"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and w.as_viewer.get(base).json["title"] == "Vault upgrade (second try)"

    # Once under way only the title, details and end move.
    assert w.as_admin.call("PATCH", running_base, body={"starts_at": at(-2 * hour)}).status_code == 409
    assert w.as_admin.call("PATCH", running_base, body={"service_ids": [vault.id]}).status_code == 409
    longer = w.as_admin.call("PATCH", running_base, body={"ends_at": at(2 * hour)})
    assert longer.status_code == 200 and longer.json["state"] == "in_progress"

    # Bad input: each error named, nothing changed.
    bad = w.as_admin.call("PATCH", base, body={"title": " ", "starts_at": "2026-03-02T10:00:00", "colour": "red"})
    assert {e["pointer"] for e in bad.json["errors"]} == {"/starts_at", "/colour"}
    assert w.as_admin.call("PATCH", base, body={"title": " "}).json["errors"][0]["pointer"] == "/title"
    backwards = w.as_admin.call("PATCH", base, body={"ends_at": at(hour)})
    assert backwards.status_code == 400 and backwards.json["errors"][0]["pointer"] == "/ends_at"
    nowhere = w.as_admin.call("PATCH", base, body={"service_ids": [vault.id, 9999]})
    assert nowhere.json["errors"] == [{"detail": "names no service (there is no service 9999)",
                                       "pointer": "/service_ids/1"}]
    assert w.as_admin.call("PATCH", base, body={"ends_at": None}).status_code == 400
    w.as_admin.call("PATCH", base, body=TOO_LARGE)
    w.as_admin.post("/maintenance_windows", {"title": "Past", "starts_at": at(-2 * hour), "ends_at": at(-hour),
                                             "service_ids": [vault.id]})
    w.as_admin.post("/maintenance_windows", {"title": "None", "starts_at": at(hour), "ends_at": at(2 * hour),
                                             "service_ids": []})
    assert w.as_viewer.get(base).json == moved.json

    # A manager of every service's team changes a window; not one on another's service.
    people.set_manager(SYSTEM, w.team, w.responder, True)
    db.session.commit()
    assert w.as_responder.call("PATCH", base, body={"description": "Ours"}).status_code == 200
    assert w.as_responder.call("PATCH", running_base, body={"description": "Mine"}).status_code == 403
    assert w.as_responder.call("DELETE", running_base).status_code == 403
    widened = w.as_responder.call("PATCH", base, body={"service_ids": [vault.id, shared.id]})
    assert widened.status_code == 403 and len(w.as_viewer.get(base).json["services"]) == 1
    people.set_manager(SYSTEM, w.team, w.responder, False)
    db.session.commit()

    # An answer's ETag is the one a read gives, whatever order the services were sent in.
    both = w.as_admin.call("PATCH", base, body={"service_ids": [shared.id, vault.id]})
    assert [m["name"] for m in both.json["services"]] == ["card-vault", "shared-dns"]
    assert both.headers["ETag"] == w.as_viewer.get(base).headers["ETag"]

    # DELETE ends it: a scheduled one is cancelled, one under way completes now; kept on the list.
    w.as_admin.call("DELETE", running_base, headers={"If-Match": etag})  # stale: 412
    assert w.as_admin.call("DELETE", base).status_code == 204
    assert w.as_viewer.get(base).json["state"] == "cancelled"
    assert w.as_admin.call("DELETE", running_base).status_code == 204
    ended = w.as_viewer.get(running_base).json
    assert (ended["state"], ended["ends_at"]) == ("completed", at(timedelta(0)))
    assert w.as_admin.call("DELETE", base).status_code == 409
    assert w.as_admin.call("PATCH", base, body={"title": "Again"}).status_code == 409
    assert w.as_viewer.get("/maintenance_windows").json["maintenance_windows"] == []
    assert len(w.as_viewer.get("/maintenance_windows", state="all").json["maintenance_windows"]) == 2
    return {"{window_id}": (str(window_id), "9999")}
