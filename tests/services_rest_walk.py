"""The services part of the API walk in tests/test_api.py: GET of one service with its
ETag, PATCH (mapping, settings, escalation, matrix) and DELETE (deactivates), with every
status their document promises (each answer is checked against the document by the
walk's `Api` client).

Walks share one database: this one changes only services it makes, and leaves the
world's people as it found them."""
from __future__ import annotations

import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth import service as people
from app.escalation import policies
from app.extensions import db
from app.triage import service as triage
from tests.factories import SYSTEM, make_service

TOO_LARGE = {"description": "x" * (600 * 1024)}


def actions(service_id: int) -> list[str]:
    return db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.object_type == "services", AuditEntry.object_id == service_id).order_by(AuditEntry.id)).all()


def walk(w) -> dict[str, tuple[str, str]]:
    """Call every route of one service; returns, per path parameter, a real and a missing value."""
    service = make_service("billing-api", team=w.team)
    make_service("invoices-api")
    policy = policies.create_policy(SYSTEM, name="Billing escalation", now=clock.now())
    db.session.commit()
    base = f"/services/{service.id}"

    one = w.as_viewer.get(base)
    assert one.json["severity_mapping"] == {"critical": 2, "error": 3, "warning": 4, "info": None}
    assert one.json["severity_matrix"] == {"unavailable": None, "degraded": None, "bug": None}
    assert one.json["escalation_policy"] is None and one.json["team"] == {"id": w.team.id, "name": "Payments"}
    etag = one.headers["ETag"]

    # A PATCH changes what is sent, inside the mapping and the matrix too.
    changed = w.as_admin.call("PATCH", base, headers={"If-Match": etag}, body={
        "description": "Invoices and refunds", "severity_mapping": {"critical": 1, "info": 4},
        "severity_matrix": {"unavailable": 1, "degraded": 2}, "escalation_policy_id": policy.id,
        "fallback_team_id": w.team.id, "ack_timeout_minutes": None, "alert_grouping": "grouped"})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    body = changed.json
    assert body["severity_mapping"] == {"critical": 1, "error": 3, "warning": 4, "info": 4}
    assert body["severity_matrix"] == {"unavailable": 1, "degraded": 2, "bug": None}
    assert body["escalation_policy"] == {"id": policy.id, "name": "Billing escalation"}
    assert body["fallback_team"] == {"id": w.team.id, "name": "Payments"}
    assert (body["ack_timeout_minutes"], body["alert_grouping"], body["name"]) == (None, "grouped", "billing-api")
    assert actions(service.id)[-3:] == ["service.update", "service.escalation", "service.matrix"]
    cleared = w.as_admin.call("PATCH", base, body={"severity_matrix": {"degraded": None}, "escalation_policy_id": None})
    assert cleared.json["severity_matrix"] == {"unavailable": 1, "degraded": None, "bug": None}
    assert cleared.json["escalation_policy"] is None and cleared.json["fallback_team"]["name"] == "Payments"
    assert triage.service_matrix(service) == {"unavailable": 1}

    # Refusals change nothing.
    stale = w.as_admin.call("PATCH", base, body={"name": "lost-update"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    bad = w.as_admin.call("PATCH", base, body={"name": " ", "severity_mapping": {"fatal": 1, "critical": 5},
                                               "active": None, "ack_timeout_minutes": 0})
    assert {e["pointer"] for e in bad.json["errors"]} == {"/name", "/severity_mapping/fatal",
                                                          "/severity_mapping/critical", "/ack_timeout_minutes"}
    assert w.as_admin.call("PATCH", base, body={"active": None}).json["errors"] == [
        {"detail": "must not be null", "pointer": "/active"}]
    unknown = w.as_admin.call("PATCH", base, body={"team_id": 9999, "description": "lost"})
    assert unknown.status_code == 400 and unknown.json["errors"][0]["pointer"] == "/team_id"
    assert w.as_admin.call("PATCH", base, body={"escalation_policy_id": 9999}).status_code == 400
    taken = w.as_admin.call("PATCH", base, body={"name": "INVOICES-api"})
    assert taken.status_code == 409
    w.as_admin.call("PATCH", base, body=TOO_LARGE)
    assert w.as_viewer.get(base).json == cleared.json

    # A manager of its team changes it, but not its matrix (admins only, as on the triage page).
    people.set_manager(SYSTEM, w.team, w.responder, True)
    db.session.commit()
    mine = w.as_responder.call("PATCH", base, body={"description": "Ours"})
    assert mine.status_code == 200
    assert w.as_responder.call("PATCH", base, body={"severity_matrix": {"bug": 4}}).status_code == 403
    assert w.as_responder.call("PATCH", base, body={"team_id": None}).status_code == 403  # giving it away
    people.set_manager(SYSTEM, w.team, w.responder, False)
    db.session.commit()
    assert w.as_responder.call("DELETE", base).status_code == 403
    assert w.as_viewer.get(base).json["description"] == "Ours" and w.as_viewer.get(base).json["active"]

    # DELETE deactivates: kept, readable, takes no events; PATCH brings it back.
    w.as_admin.call("DELETE", base, headers={"If-Match": etag})  # stale: 412
    assert w.as_admin.call("DELETE", base, headers={"If-Match": w.as_viewer.get(base).headers["ETag"]}) \
        .status_code == 204
    assert w.as_viewer.get(base).json["active"] is False
    assert w.as_admin.call("DELETE", base).status_code == 204  # again: nothing changes
    assert actions(service.id).count("service.update") == 3
    assert w.as_admin.call("PATCH", base, body={"active": True}).json["active"] is True
    return {}
