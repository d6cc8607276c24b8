"""How the API shows things: every model's JSON shape, in one place.

The shapes here are the contract `app/api/openapi.py` documents (and tests/test_api.py
checks every answer against). Times are ISO 8601 in UTC with a `Z`; severities carry
their number and their name.
"""
from __future__ import annotations

from datetime import datetime

from app import clock
from app.alerts.models import Alert, ChangeEvent
from app.auth.models import Team, User
from app.incidents.models import Incident, IncidentEvent
from app.services.models import IntegrationKey, Service


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return clock.utc(value).isoformat().replace("+00:00", "Z")


def person_json(user: User | None) -> dict | None:
    return None if user is None else {"id": user.id, "name": user.name}


def team_json(team: Team | None) -> dict | None:
    return None if team is None else {"id": team.id, "name": team.name}


def service_ref(service: Service) -> dict:
    return {"id": service.id, "name": service.name}


def incident_json(incident: Incident) -> dict:
    """Callers loading many incidents eager-load `service` and the three people."""
    level = incident.level
    return {
        "id": incident.id,
        "ref": incident.ref,
        "title": incident.title,
        "description": incident.description or "",
        "status": incident.status.value,
        "severity": incident.severity,
        "severity_name": level.name,
        "severity_label": level.label,
        "initial_severity": incident.initial_severity,
        "urgency": level.urgency,
        "service": service_ref(incident.service),
        "source": incident.source,
        "is_exercise": incident.is_exercise,
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "version": incident.version,
        "impact_started_at": iso(incident.impact_started_at),
        "detected_at": iso(incident.detected_at),
        "acknowledged_at": iso(incident.acknowledged_at),
        "mitigated_at": iso(incident.mitigated_at),
        "resolved_at": iso(incident.resolved_at),
        "response_due_at": iso(incident.response_due_at),
        "resolution_due_at": iso(incident.resolution_due_at),
        "declared_by": person_json(incident.declared_by),
        "acknowledged_by": person_json(incident.acknowledged_by),
        "resolved_by": person_json(incident.resolved_by),
        "merged_into_id": incident.merged_into_id,
    }


def event_json(event: IncidentEvent) -> dict:
    return {
        "id": event.id,
        "incident_id": event.incident_id,
        "at": iso(event.at),
        "kind": event.kind,
        "actor": {"kind": event.actor_kind.value, "label": event.actor_label, "user_id": event.actor_user_id},
        "via": event.via,
        "text": event.text or "",
        "data": event.data,
    }


def alert_json(alert: Alert, *, detail: bool = False) -> dict:
    """An alert; `detail` adds what monitoring sent with it (details, links, images)."""
    body = {
        "id": alert.id,
        "service": service_ref(alert.service),
        "incident_id": alert.incident_id,
        "dedup_key": alert.dedup_key,
        "status": alert.status.value,
        "origin": alert.origin,
        "severity": alert.severity,
        "summary": alert.summary,
        "source": alert.source or "",
        "component": alert.component,
        "group": alert.group,
        "class": alert.class_,
        "client": alert.client,
        "client_url": alert.client_url,
        "suppressed": alert.suppressed,
        "occurrences": alert.occurrences,
        "event_at": iso(alert.event_at),
        "created_at": iso(alert.created_at),
        "last_seen_at": iso(alert.last_seen_at),
        "acknowledged_at": iso(alert.acknowledged_at),
        "resolved_at": iso(alert.resolved_at),
    }
    if detail:
        body["custom_details"] = alert.custom_details
        body["links"] = alert.links or []
        body["images"] = alert.images or []
    return body


def service_json(service: Service) -> dict:
    mapping = {name: service.severity_for(name) for name in ("critical", "error", "warning", "info")}
    return {
        "id": service.id,
        "name": service.name,
        "description": service.description or "",
        "team": team_json(service.team),
        "severity_mapping": mapping,
        "active": service.active,
        "alert_grouping": service.alert_grouping,
        "resolve_with_alerts": service.resolve_with_alerts,
        "ack_timeout_minutes": service.ack_timeout_minutes,
        "auto_resolve_minutes": service.auto_resolve_minutes,
        "created_at": iso(service.created_at),
    }


def key_json(row: IntegrationKey, *, reveal: bool) -> dict:
    """An integration key. The key routes events to its service, so only those who may
    see it on the service page (responders and admins) get it whole; others get its start."""
    return {
        "id": row.id,
        "service_id": row.service_id,
        "name": row.name,
        "key": row.key if reveal else None,
        "key_prefix": row.key[:6],
        "active": row.active,
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
    }


def change_json(change: ChangeEvent) -> dict:
    return {
        "id": change.id,
        "service": service_ref(change.service),
        "summary": change.summary,
        "source": change.source,
        "at": iso(change.at),
        "received_at": iso(change.received_at),
        "custom_details": change.custom_details,
        "links": change.links or [],
    }


def pagination_json(page: int, per_page: int, total: int) -> dict:
    """The `pagination` of a list answer, with links to the other pages; the same links
    go in the answer's Link header (app.api.views)."""
    from flask import g

    from app.api.spec import pagination
    body, g.api_link = pagination(page, per_page, total)
    return body

