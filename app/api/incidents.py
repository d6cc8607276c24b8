"""Incidents over the API: list, read, open, acknowledge, resolve, notes, severity, timeline.

Each action calls the same lifecycle function the web page calls (with via="api"),
so it writes the same timeline event and audit entry, and commits once.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify, url_for

from app import clock
from app.api import inputs, queries
from app.api.inputs import Field, Query
from app.api.schemas import event_json, incident_json, pagination_json
from app.api.views import bp, load
from app.auth.models import Role
from app.errors import Conflict
from app.extensions import db
from app.incidents import service as lifecycle
from app.incidents.models import Incident, IncidentEvent, Status
from app.services.models import Service
from app.web import current_actor, requires

MAX_DESCRIPTION = 20_000
MAX_REASON = 2_000

CREATE_FIELDS = {
    "title": Field(inputs.text(lifecycle.MAX_TITLE, blank=False), required=True),
    "service_id": Field(inputs.identifier, required=True),
    "severity": Field(inputs.severity, required=True),
    "description": Field(inputs.text(MAX_DESCRIPTION)),
    "impact_started_at": Field(inputs.timestamp),
}
RESOLVE_FIELDS = {"note": Field(inputs.text(lifecycle.MAX_NOTE))}
def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise inputs.Invalid("must be true or false")
    return value


NOTE_FIELDS = {"text": Field(inputs.text(lifecycle.MAX_NOTE, blank=False), required=True), "decision": Field(_boolean)}
SEVERITY_FIELDS = {
    "severity": Field(inputs.severity, required=True),
    "reason": Field(inputs.text(MAX_REASON)),
}


def _incident(incident_id: int) -> Incident:
    return load(Incident, incident_id, f"There is no incident #{incident_id}.")


def _answer(incident: Incident, status: int = 200):
    response = jsonify(incident_json(incident))
    response.status_code = status
    return response


@bp.route("/incidents")
@requires(Role.VIEWER)
def list_incidents():
    query = Query()
    status = query.choice("status", tuple(queries.INCIDENT_STATUS_FILTERS), "open")
    severities = query.severities()
    service_id, team_id = query.identifier("service_id"), query.identifier("team_id")
    q = query.text("q")
    page, per_page = query.page()
    query.check()
    found = queries.incidents(status=status, severities=severities, service_id=service_id, team_id=team_id,
                              q=q, page=page, per_page=per_page)
    return jsonify({"incidents": [incident_json(row) for row in found.items],
                    "pagination": pagination_json(page, per_page, found.total)})


@bp.route("/incidents/<int:incident_id>")
@requires(Role.VIEWER)
def show_incident(incident_id: int):
    return _answer(_incident(incident_id))


@bp.route("/incidents", methods=["POST"])
@requires(Role.RESPONDER)
def create_incident():
    values = inputs.body(CREATE_FIELDS)
    service = db.session.get(Service, values["service_id"])
    if service is None:
        raise inputs.BadInput([f"'service_id' names no service (there is no service {values['service_id']})"])
    if not service.active:
        raise Conflict(f"Service {service.name} is inactive: it takes no new incidents.")
    incident = lifecycle.open_incident(
        current_actor(), service=service, title=values["title"], severity=values["severity"], now=clock.now(),
        description=values.get("description", ""), source="api", via="api",
        impact_started_at=values.get("impact_started_at"))
    db.session.commit()
    response = _answer(incident, 201)
    response.headers["Location"] = url_for("api.show_incident", incident_id=incident.id)
    return response


@bp.route("/incidents/<int:incident_id>/acknowledge", methods=["POST"])
@requires(Role.RESPONDER)
def acknowledge(incident_id: int):
    """Acknowledging an acknowledged incident changes nothing; a resolved one is a conflict."""
    incident = _incident(incident_id)
    inputs.body({})
    if incident.status == Status.RESOLVED:
        raise Conflict(f"Incident #{incident.id} is resolved: there is nothing to acknowledge.")
    lifecycle.acknowledge(current_actor(), incident, clock.now(), via="api")
    db.session.commit()
    return _answer(incident)


@bp.route("/incidents/<int:incident_id>/resolve", methods=["POST"])
@requires(Role.RESPONDER)
def resolve(incident_id: int):
    """Resolving a resolved incident changes nothing (so a retried call is harmless)."""
    incident = _incident(incident_id)
    values = inputs.body(RESOLVE_FIELDS)
    note = (values.get("note") or "").strip() or None
    lifecycle.resolve(current_actor(), incident, clock.now(), via="api", note=note)
    db.session.commit()
    return _answer(incident)


@bp.route("/incidents/<int:incident_id>/notes", methods=["POST"])
@requires(Role.RESPONDER)
def add_note(incident_id: int):
    incident = _incident(incident_id)
    values = inputs.body(NOTE_FIELDS)
    event = lifecycle.add_note(current_actor(), incident, values["text"], clock.now(), via="api",
                               decision=values.get("decision", False))
    db.session.commit()
    response = jsonify(event_json(event))
    response.status_code = 201
    return response


@bp.route("/incidents/<int:incident_id>/severity", methods=["POST"])
@requires(Role.RESPONDER)
def change_severity(incident_id: int):
    """A change needs a reason; asking for the severity it already has changes nothing."""
    incident = _incident(incident_id)
    values = inputs.body(SEVERITY_FIELDS)
    lifecycle.change_severity(current_actor(), incident, values["severity"], clock.now(),
                              reason=values.get("reason", ""), via="api")
    db.session.commit()
    return _answer(incident)


@bp.route("/incidents/<int:incident_id>/timeline")
@requires(Role.VIEWER)
def timeline(incident_id: int):
    """Every event, oldest first."""
    incident = _incident(incident_id)
    events = db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
                                .order_by(IncidentEvent.at, IncidentEvent.id))
    return jsonify({"incident_id": incident.id, "events": [event_json(event) for event in events]})
