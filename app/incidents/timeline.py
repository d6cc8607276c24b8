"""The one way anything gets onto an incident's timeline."""
from __future__ import annotations

from datetime import datetime

from app import clock
from app.audit.service import Actor
from app.extensions import db
from app.incidents.models import EventKind, Incident, IncidentEvent
from app.postmortems import search


def record_event(incident: Incident, kind: EventKind, actor: Actor, *, text: str = "",
                 via: str | None = None, data: dict | None = None, at: datetime | None = None) -> IncidentEvent:
    """Add a timeline entry and mark the incident changed (live pages pick it up).
    Entries that say something about the incident re-index it for knowledge search.

    Called inside the same transaction as the change it records.
    """
    at = at or clock.now()
    event = IncidentEvent(incident=incident, **event_values(kind, actor, text=text, via=via, data=data, at=at))
    db.session.add(event)
    touch(incident, at)
    if search.event_changes_text(event.kind, data):
        search.refresh(incident)
    return event


def event_values(kind: EventKind, actor: Actor, *, text: str = "", via: str | None = None,
                 data: dict | None = None, at: datetime) -> dict:
    """A timeline entry's columns: `record_event`'s, and ingestion's when it writes with Core."""
    return {"at": at, "kind": EventKind(kind).value, "actor_kind": actor.kind,
            "actor_user_id": actor.user.id if actor.user else None, "actor_label": actor.label[:200],
            "via": via, "text": text, "data": data}


def touch(incident: Incident, at: datetime) -> None:
    incident.updated_at = at
    incident.version = (incident.version or 0) + 1
