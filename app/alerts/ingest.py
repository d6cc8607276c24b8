"""Ingestion: PagerDuty Events API v2, Alertmanager webhooks, change events, heartbeats.

`validate_event` and `parse_alertmanager` are pure: they turn a body into clean
`AlertEvent`s or a list of errors. `process` applies one event in the caller's
transaction: dedup against the open alert, open or group an incident, or
acknowledge / resolve. Each accepted event is fully processed before it is answered.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app import clock
from app.alerts.models import Alert, AlertStatus, ChangeEvent, Heartbeat, HeartbeatState
from app.audit.service import Actor
from app.errors import DomainError
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident, Status
from app.incidents.timeline import record_event
from app.triage.service import MATRIX_EFFECTS, matrix_severity
from app.services.models import (EVENT_SEVERITIES, IntegrationKey, MaintenanceState, MaintenanceWindow, Service,
                                 maintenance_services)

ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_FIELD = 255


@dataclass
class AlertEvent:
    """One alert event, validated and normalised, whatever format it came in."""

    routing_key: str
    action: str
    dedup_key: str | None
    summary: str = ""
    source: str = ""
    severity: str = "error"
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    custom_details: dict | None = None
    links: list | None = None
    images: list | None = None
    client: str | None = None
    client_url: str | None = None
    origin: str = "events_v2"
    occurrence_ref: str | None = None
    # What the sender says the problem does to the service (unavailable, degraded,
    # bug): read against the service's severity matrix.
    impact: str | None = None
    raw: dict = field(default_factory=dict, repr=False)


class Outcome:
    """What one event did. `incident` is read when first asked for: most callers want
    only `dedup_key` and `result`, and a folded repeat should cost no extra query."""

    def __init__(self, dedup_key: str, result: str, alert: Alert | None = None, incident: Incident | None = None):
        self.dedup_key = dedup_key
        self.result = result  # created, folded, suppressed, acknowledged, resolved, ignored, duplicate
        self.alert = alert
        self._incident = incident

    @property
    def incident(self) -> Incident | None:
        if self._incident is None and self.alert is not None and self.alert.incident_id is not None:
            self._incident = db.session.get(Incident, self.alert.incident_id)
        return self._incident

    def __repr__(self) -> str:
        return f"Outcome({self.dedup_key!r}, {self.result!r})"


class InvalidEvent(DomainError):
    def __init__(self, errors: list[str], message: str = "Event object is invalid"):
        super().__init__(message)
        self.errors = errors


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 as PagerDuty takes it (2015-07-17T08:42:58.315+0000, …Z, or naive = UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one that falls outside years 1–9999 in UTC
        return None
    # A change at 0001-01-01 looked back four hours for incidents: OverflowError, a 500.
    return moment if clock.FIRST_YEAR <= moment.year <= clock.LAST_YEAR else None


def _links(value: Any, errors: list[str]) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, dict) and isinstance(v.get("href"), str) for v in value):
        errors.append("'links' must be a list of objects, each with an 'href'")
        return None
    return [{"href": v["href"][:2048], "text": str(v.get("text") or "")[:MAX_FIELD]} for v in value[:50]]


def _images(value: Any, errors: list[str]) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, dict) and isinstance(v.get("src"), str) for v in value):
        errors.append("'images' must be a list of objects, each with a 'src'")
        return None
    return [{"src": v["src"][:2048], "href": str(v.get("href") or "")[:2048], "alt": str(v.get("alt") or "")[:MAX_FIELD]}
            for v in value[:20]]


def _routing_key(body: dict, errors: list[str]) -> str:
    routing_key = body.get("routing_key")
    if routing_key is None or routing_key == "":
        errors.append("'routing_key' is missing or blank")
    elif not isinstance(routing_key, str):
        errors.append("'routing_key' must be a string")
    elif len(routing_key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    return routing_key if isinstance(routing_key, str) else ""


def _payload(body: dict, errors: list[str]) -> dict:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or is not an object")
        return {}
    return payload


def _summary(payload: dict, errors: list[str]) -> str:
    summary = _str(payload.get("summary"))
    if summary is None or not summary.strip():
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > MAX_SUMMARY:
        errors.append(f"'payload.summary' is too long (at most {MAX_SUMMARY} characters)")
    return (summary or "").strip()


def _timestamp(payload: dict, errors: list[str]) -> datetime | None:
    timestamp = payload.get("timestamp")
    parsed = parse_timestamp(timestamp)
    if timestamp not in (None, "") and parsed is None:
        errors.append("'payload.timestamp' is not an ISO 8601 timestamp")
    return parsed


def _details(payload: dict) -> dict | None:
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict):
        return {"details": details}  # PagerDuty accepts a string here; keep it
    return details


def _impact(value: Any) -> str | None:
    """An impact a severity matrix knows, from `custom_details.impact` or an
    Alertmanager `impact` label; anything else is ignored (the mapping decides)."""
    text = _str(value)
    text = text.strip().lower() if text else None
    return text if text in MATRIX_EFFECTS else None


def validate_event(body: Any) -> AlertEvent:
    """An Events API v2 body → AlertEvent, or InvalidEvent listing every problem."""
    errors: list[str] = []
    if not isinstance(body, dict):
        raise InvalidEvent(["The event must be a JSON object"])
    routing_key = _routing_key(body, errors)
    action = body.get("event_action")
    if action is None or action == "":
        errors.append("'event_action' is missing or blank")
    elif action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None:
        dedup_key = _str(dedup_key)
        if dedup_key is None:
            errors.append("'dedup_key' must be a string")
        elif len(dedup_key) > MAX_DEDUP_KEY:
            errors.append(f"'dedup_key' is too long (at most {MAX_DEDUP_KEY} characters)")
        elif dedup_key == "":
            dedup_key = None
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append(f"'dedup_key' is required for '{action}' events")
    event = AlertEvent(routing_key=routing_key, action=action or "", dedup_key=dedup_key, raw=body)
    if action == "trigger":
        payload = _payload(body, errors)
        summary = _summary(payload, errors)
        source = _str(payload.get("source"))
        if source is None or not source.strip():
            errors.append("'payload.source' is missing or blank")
        severity = payload.get("severity")
        if severity not in EVENT_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        parsed = _timestamp(payload, errors)
        details = _details(payload)
        event.summary = summary
        event.source = (source or "").strip()[:MAX_FIELD]
        event.severity = severity if severity in EVENT_SEVERITIES else "error"
        event.timestamp = parsed
        event.component = (_str(payload.get("component")) or "")[:MAX_FIELD] or None
        event.group = (_str(payload.get("group")) or "")[:MAX_FIELD] or None
        event.class_ = (_str(payload.get("class")) or "")[:MAX_FIELD] or None
        event.custom_details = details
        event.impact = _impact(details.get("impact")) if isinstance(details, dict) else None
        event.links = _links(body.get("links"), errors)
        event.images = _images(body.get("images"), errors)
        event.client = (_str(body.get("client")) or "")[:MAX_FIELD] or None
        event.client_url = (_str(body.get("client_url")) or "")[:1024] or None
    if errors:
        raise InvalidEvent(errors)
    return event


ALERTMANAGER_SEVERITIES = {"critical": "critical", "page": "critical", "high": "critical", "error": "error",
                           "major": "error", "warning": "warning", "warn": "warning", "minor": "warning",
                           "info": "info", "informational": "info", "none": "info", "low": "info"}


def parse_alertmanager(body: Any, routing_key: str) -> list[AlertEvent]:
    """An Alertmanager webhook (version 4) → one AlertEvent per alert.

    Each alert's fingerprint is its dedup key; `firing` triggers, `resolved` resolves.
    `startsAt` marks the occurrence, so a retried delivery of the same firing is the
    same event and changes nothing.
    """
    errors: list[str] = []
    if not isinstance(body, dict):
        raise InvalidEvent(["The webhook body must be a JSON object"], "Webhook payload is invalid")
    if str(body.get("version", "4")) != "4":
        errors.append(f"Unsupported webhook version {body.get('version')!r} (expected \"4\")")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        errors.append("'alerts' must be a non-empty list")
        alerts = []
    common_labels = body.get("commonLabels") if isinstance(body.get("commonLabels"), dict) else {}
    events = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            errors.append(f"alerts[{index}] must be an object")
            continue
        labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
        annotations = alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {}
        fingerprint = _str(alert.get("fingerprint"))
        status = alert.get("status")
        if not fingerprint:
            errors.append(f"alerts[{index}].fingerprint is missing")
        elif len(fingerprint) > MAX_DEDUP_KEY:
            errors.append(f"alerts[{index}].fingerprint is too long")
        if status not in ("firing", "resolved"):
            errors.append(f"alerts[{index}].status must be firing or resolved")
        if errors:
            continue
        name = str(labels.get("alertname") or common_labels.get("alertname") or "Alert")
        # A template whose labels were missing may leave an annotation blank: the next one then.
        written = (str(annotations.get(annotation) or "").strip() for annotation in ("summary", "description"))
        summary = next((text for text in written if text), name.strip() or "Alert")
        severity_label = str(labels.get("severity") or common_labels.get("severity") or "error").lower()
        starts_at = _str(alert.get("startsAt"))
        generator = _str(alert.get("generatorURL"))
        events.append(AlertEvent(
            routing_key=routing_key, action="trigger" if status == "firing" else "resolve",
            dedup_key=fingerprint, summary=summary[:MAX_SUMMARY],
            source=str(labels.get("instance") or labels.get("job") or body.get("externalURL") or "alertmanager")[:MAX_FIELD],
            severity=ALERTMANAGER_SEVERITIES.get(severity_label, "error"),
            timestamp=parse_timestamp(starts_at), component=_str(labels.get("job")), group=_str(labels.get("team")),
            impact=_impact(labels.get("impact") or common_labels.get("impact")),
            class_=name[:MAX_FIELD],
            custom_details={"labels": labels, "annotations": annotations},
            links=[{"href": generator[:2048], "text": "Source"}] if generator else None,
            client="Alertmanager", client_url=_str(body.get("externalURL")),
            origin="alertmanager", occurrence_ref=(starts_at or "")[:64] or None, raw=alert,
        ))
    if errors:
        raise InvalidEvent(errors, "Webhook payload is invalid")
    return events


# --- applying events --------------------------------------------------------------

def routable(routing_key: str):
    """Conditions under which an integration key routes: it exists, is not revoked,
    and its service is active (`services.service_for_key`'s rule)."""
    return (IntegrationKey.key == routing_key, IntegrationKey.revoked_at.is_(None), Service.active.is_(True))


def route(routing_key: str) -> tuple[Service, IntegrationKey] | None:
    """The active service an integration key routes to, or None. Reads the key and its
    service in one query, since it runs inside every event's write transaction."""
    if not routing_key or len(routing_key) != 32:
        return None
    row = db.session.execute(sa.select(IntegrationKey, Service).join(Service, Service.id == IntegrationKey.service_id)
                             .where(*routable(routing_key))).first()
    return None if row is None else (row[1], row[0])


# --- what the hot path shares (app.alerts.hotpath) --------------------------------

ALERTS = Alert.__table__


def _json_or_null(name: str):
    """A JSON parameter that is SQL NULL when None (for COALESCE), not JSON 'null'."""
    return sa.bindparam(name, type_=sa.JSON(none_as_null=True))


# What a repeat trigger changes on its open alert: one more occurrence, seen now, the
# latest severity and details; summary, links, images and occurrence kept when the
# repeat sends none.
FOLD = {
    "occurrences": ALERTS.c.occurrences + 1, "last_seen_at": sa.bindparam("p_now"),
    "severity": sa.bindparam("p_severity"), "custom_details": sa.bindparam("p_details", type_=ALERTS.c.custom_details.type),
    "summary": sa.func.coalesce(sa.bindparam("p_summary", type_=sa.String), ALERTS.c.summary),
    "links": sa.func.coalesce(_json_or_null("p_links"), ALERTS.c.links),
    "images": sa.func.coalesce(_json_or_null("p_images"), ALERTS.c.images),
    "occurrence_ref": sa.func.coalesce(sa.bindparam("p_ref", type_=sa.String), ALERTS.c.occurrence_ref),
}
_FOLD_BY_ID = sa.update(ALERTS).values(FOLD).where(ALERTS.c.id == sa.bindparam("p_alert_id"))


def fold_params(event: AlertEvent, now: datetime) -> dict:
    return {"p_now": now, "p_severity": event.severity, "p_details": event.custom_details,
            "p_summary": event.summary or None, "p_links": event.links or None, "p_images": event.images or None,
            "p_ref": event.occurrence_ref or None}


def _open_alert(service_id: int, dedup_key: str) -> Alert | None:
    return db.session.scalar(sa.select(Alert).where(
        Alert.service_id == service_id, Alert.dedup_key == dedup_key, Alert.status != AlertStatus.RESOLVED))


def maintenance_at(service_id, at: datetime):
    """Windows under way at `at` that cover the service (an id or a column)."""
    return (sa.select(MaintenanceWindow.id).join(maintenance_services)
            .where(maintenance_services.c.service_id == service_id,
                   MaintenanceWindow.state.notin_((MaintenanceState.CANCELLED, MaintenanceState.COMPLETED)),
                   MaintenanceWindow.starts_at <= at, MaintenanceWindow.ends_at > at))


def in_maintenance(service_id: int, at: datetime) -> MaintenanceWindow | None:
    window_id = db.session.scalar(maintenance_at(service_id, at).limit(1))
    return db.session.get(MaintenanceWindow, window_id) if window_id else None


# The doors events come in by (an alert's `origin`, a timeline entry's `via`), as people read them.
DOORS = {"events_v2": "Events API v2", "alertmanager": "Alertmanager webhook", "heartbeat": "Heartbeat"}


def integration_actor(door: str, key_name: str | None, service_name: str, ip: str | None = None) -> Actor:
    """Who an ingested event acts as, on the timeline and in the audit log: the door it
    came through and the key it named, e.g. `Alertmanager webhook, key “Prod” (payments-api)`.
    A key's name says only what was meant to send with it (by default "Events API v2",
    whatever then sends), so the door is always said; a key named after its door is not
    named again. The hot path builds the same actor from the same values."""
    door_name = DOORS.get(door, door)
    name = (key_name or "").strip()
    if not name or name.casefold() == door_name.casefold():
        return Actor.integration(f"{door_name} ({service_name})", ip=ip)
    return Actor.integration(f"{door_name}, key “{name}” ({service_name})", ip=ip)


def heartbeat_actor(heartbeat: Heartbeat) -> Actor:
    return Actor.integration(f"{DOORS['heartbeat']} “{heartbeat.name}” ({heartbeat.service.name})")


def new_alert(event: AlertEvent, service_id: int, key_id: int | None, dedup_key: str, now: datetime) -> dict:
    """A new alert's attributes, from its first event."""
    return {
        "service_id": service_id, "integration_key_id": key_id, "dedup_key": dedup_key,
        "status": AlertStatus.TRIGGERED, "origin": event.origin, "severity": event.severity, "summary": event.summary,
        "source": event.source, "component": event.component, "group": event.group, "class_": event.class_,
        "custom_details": event.custom_details, "links": event.links, "images": event.images, "client": event.client,
        "client_url": event.client_url, "occurrence_ref": event.occurrence_ref, "occurrences": 1,
        "event_at": event.timestamp, "created_at": now, "last_seen_at": now,
    }


def triggered_event(alert_id: int, alert: dict) -> dict:
    """The text and data of the timeline entry for an alert that opened or joined an incident."""
    return {"text": f"Alert from {alert['source']}: {alert['summary']}",
            "data": {"alert_id": alert_id, "severity": alert["severity"], "dedup_key": alert["dedup_key"]}}


def process(event: AlertEvent, service: Service, key: IntegrationKey | None, now: datetime, actor: Actor) -> Outcome:
    """Apply one event in the current transaction."""
    if event.action == "trigger":
        return _trigger(event, service, key, now, actor)
    alert = _open_alert(service.id, event.dedup_key)
    if alert is None:
        return Outcome(event.dedup_key, "ignored")
    if event.action == "acknowledge":
        return _acknowledge(alert, now, actor)
    return _resolve(alert, now, actor)


def new_dedup_key() -> str:
    """The dedup key of a trigger that names none (both paths): a new alert each time."""
    return uuid.uuid4().hex


def _trigger(event: AlertEvent, service: Service, key: IntegrationKey | None, now: datetime, actor: Actor) -> Outcome:
    dedup_key = event.dedup_key or new_dedup_key()
    existing = _open_alert(service.id, dedup_key) if event.dedup_key else None
    if existing is not None:
        if event.occurrence_ref and existing.occurrence_ref == event.occurrence_ref:
            return Outcome(dedup_key, "duplicate", existing)
        db.session.connection().execute(_FOLD_BY_ID, {**fold_params(event, now), "p_alert_id": existing.id})
        db.session.expire(existing)
        if existing.suppressed == "maintenance" and in_maintenance(service.id, now) is None:
            # Still firing after the window closed: now it is a real problem.
            existing.suppressed = None
            incident = _open_for(existing, event, service, now, actor)
            return Outcome(dedup_key, "created", existing, incident)
        return Outcome(dedup_key, "folded", existing)
    alert = Alert(**new_alert(event, service.id, key.id if key else None, dedup_key, now))
    severity = alert_severity(event, service)
    if severity is None:
        alert.suppressed = "info" if event.severity == "info" else "mapping"
    elif in_maintenance(service.id, now) is not None:  # asked before the alert is added: nothing to autoflush
        alert.suppressed = "maintenance"
    db.session.add(alert)
    if alert.suppressed:
        db.session.flush()
        return Outcome(dedup_key, "suppressed", alert)
    return Outcome(dedup_key, "created", alert, _open_for(alert, event, service, now, actor))


def alert_severity(event: AlertEvent, service: Service) -> int | None:
    """The severity an alert opens: the service's mapping of its PagerDuty severity
    and, when the event names its impact, the service's severity matrix; the highest
    (SEV-1 is highest) wins. None: the alert is recorded and opens nothing."""
    found = [n for n in (service.severity_for(event.severity),
                         matrix_severity(service.id, event.impact) if event.impact else None) if n is not None]
    return min(found, default=None)


def _open_for(alert: Alert, event: AlertEvent, service: Service, now: datetime, actor: Actor) -> Incident:
    """Open an incident for a new alert, or add it to the service's open one when grouped.

    A new alert is still pending here: it is inserted by the same flush that gives a
    new incident its id (or by the autoflush before the grouped incident's query).
    """
    incident = incidents.open_incident_for_service(service.id) if service.alert_grouping == "grouped" else None
    if incident is None:
        incident = incidents.open_incident(actor, service=service, title=alert.summary,
                                           severity=alert_severity(event, service), now=now,
                                           source="alert", via=event.origin, impact_started_at=event.timestamp,
                                           escalate_now=False)
    if alert.id is None or incident.id is None:
        db.session.flush()
    alert.incident_id = incident.id
    record_event(incident, EventKind.ALERT_TRIGGERED, actor, via=event.origin, at=now,
                 **triggered_event(alert.id, {"source": alert.source, "summary": alert.summary,
                                               "severity": alert.severity, "dedup_key": alert.dedup_key}))
    return incident


def _acknowledge(alert: Alert, now: datetime, actor: Actor) -> Outcome:
    incident = db.session.get(Incident, alert.incident_id) if alert.incident_id else None
    if alert.status == AlertStatus.TRIGGERED:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
        if incident is not None:
            record_event(incident, EventKind.ALERT_ACKNOWLEDGED, actor, via=alert.origin, at=now,
                         text=f"Alert acknowledged by {actor.label}: {alert.summary}", data={"alert_id": alert.id})
            incidents.acknowledge(actor, incident, now, via=alert.origin)
    return Outcome(alert.dedup_key, "acknowledged", alert, incident)


def _resolve(alert: Alert, now: datetime, actor: Actor) -> Outcome:
    # What the transaction did before is written now; what this does is written once,
    # at the commit, instead of bit by bit before each query below (a quarter of a
    # resolve's time). The queries read nothing this leaves unwritten: the alert
    # resolved here is left out by id.
    db.session.flush()
    # PostgreSQL: the alert, then its incident, locked in the hot path's order, before
    # asking whether the incident's other alerts are open (two resolves of its last two
    # alerts at once then see each other's). Resolved meanwhile: nothing left to do.
    db.session.refresh(alert, with_for_update=True)
    if alert.status == AlertStatus.RESOLVED:
        return Outcome(alert.dedup_key, "ignored")
    with db.session.no_autoflush:
        incident = db.session.get(Incident, alert.incident_id, with_for_update=True,
                                  populate_existing=True) if alert.incident_id else None
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
        if incident is not None and incident.status != Status.RESOLVED:
            record_event(incident, EventKind.ALERT_RESOLVED, actor, via=alert.origin, at=now,
                         **alert_resolved_event(alert.id, alert.summary))
            if incident.service.resolve_with_alerts and not _has_open_alerts(incident.id, besides=alert.id):
                incidents.resolve(actor, incident, now, via=alert.origin, note=RESOLVED_WITH_ALERTS)
    return Outcome(alert.dedup_key, "resolved", alert, incident)


RESOLVED_WITH_ALERTS = "every alert resolved"


def alert_resolved_event(alert_id: int, summary: str) -> dict:
    """The text and data of the timeline entry for an alert resolved by its source."""
    return {"text": f"Alert resolved: {summary}", "data": {"alert_id": alert_id}}


def _has_open_alerts(incident_id: int, *, besides: int) -> bool:
    return db.session.scalar(sa.select(Alert.id).where(
        Alert.incident_id == incident_id, Alert.id != besides, Alert.status != AlertStatus.RESOLVED).limit(1)) is not None


# --- change events ----------------------------------------------------------------

def validate_change(body: Any) -> dict:
    errors: list[str] = []
    if not isinstance(body, dict):
        raise InvalidEvent(["The event must be a JSON object"])
    routing_key = _routing_key(body, errors)
    payload = _payload(body, errors)
    summary = _summary(payload, errors)
    parsed = _timestamp(payload, errors)
    links = _links(body.get("links"), errors)
    if errors:
        raise InvalidEvent(errors)
    return {"routing_key": routing_key, "summary": summary, "timestamp": parsed,
            "source": (_str(payload.get("source")) or "")[:MAX_FIELD] or None,
            "custom_details": _details(payload), "links": links}


# How near an incident's start a change must be to be shown on it.
CHANGE_WINDOW = timedelta(hours=4)


def record_change(change: dict, service: Service, key: IntegrationKey | None, now: datetime, actor: Actor) -> ChangeEvent:
    at = min(change["timestamp"] or now, now)
    row = ChangeEvent(service_id=service.id, integration_key_id=key.id if key else None, summary=change["summary"],
                      source=change["source"], at=at, received_at=now, custom_details=change["custom_details"],
                      links=change["links"])
    db.session.add(row)
    # Open incidents on the service that started shortly before hear of it at once.
    open_now = db.session.scalars(sa.select(Incident).where(
        Incident.service_id == service.id, Incident.status != Status.RESOLVED,
        Incident.detected_at >= at - CHANGE_WINDOW)).all()
    for incident in open_now:
        record_event(incident, EventKind.CHANGE_EVENT, actor, via="events_v2", at=now,
                     text=f"Change on {service.name}: {row.summary}", data={"summary": row.summary})
    return row


def changes_near(incident: Incident, limit: int = 20) -> list[ChangeEvent]:
    """Changes on the incident's service from CHANGE_WINDOW before it began until it ended."""
    start = (incident.impact_started_at or incident.detected_at) - CHANGE_WINDOW
    stmt = sa.select(ChangeEvent).where(ChangeEvent.service_id == incident.service_id, ChangeEvent.at >= start)
    if incident.resolved_at:
        stmt = stmt.where(ChangeEvent.at <= incident.resolved_at)
    return db.session.scalars(stmt.order_by(ChangeEvent.at.desc()).limit(limit)).all()


# --- heartbeats --------------------------------------------------------------------

def ping(heartbeat: Heartbeat, now: datetime) -> Outcome | None:
    """A check-in: the heartbeat is up until interval + grace from now."""
    outcome = None
    if heartbeat.state == HeartbeatState.DOWN:
        event = AlertEvent(routing_key="", action="resolve", dedup_key=heartbeat.dedup_key, origin="heartbeat")
        outcome = process(event, heartbeat.service, None, now, heartbeat_actor(heartbeat))
    heartbeat.state = HeartbeatState.UP
    heartbeat.last_ping_at = now
    heartbeat.due_at = now + timedelta(seconds=heartbeat.interval_seconds + heartbeat.grace_seconds)
    return outcome


def miss(heartbeat: Heartbeat, now: datetime) -> Outcome | None:
    """The engine found silence past the grace: raise an alert on the service."""
    if not heartbeat.active or heartbeat.due_at is None or heartbeat.due_at > now or heartbeat.state == HeartbeatState.DOWN:
        return None
    heartbeat.state = HeartbeatState.DOWN
    heartbeat.due_at = None
    silent_since = heartbeat.last_ping_at or heartbeat.created_at
    event = AlertEvent(routing_key="", action="trigger", dedup_key=heartbeat.dedup_key, origin="heartbeat",
                       summary=f"Heartbeat '{heartbeat.name}' missed: no check-in since {silent_since:%Y-%m-%d %H:%M} UTC",
                       source=f"heartbeat:{heartbeat.name}", severity="critical", timestamp=silent_since,
                       custom_details={"interval_seconds": heartbeat.interval_seconds,
                                       "grace_seconds": heartbeat.grace_seconds})
    return process(event, heartbeat.service, None, now, heartbeat_actor(heartbeat))
