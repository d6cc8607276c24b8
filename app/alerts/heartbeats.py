"""Heartbeat monitors: configured per service by admins; pinged by jobs (see ingest.ping)."""
from __future__ import annotations

from datetime import datetime, timedelta

from app.alerts.models import Heartbeat, HeartbeatState
from app.audit import service as audit
from app.audit.service import Actor
from app.auth import permissions
from app.errors import DomainError, NotFound
from app.extensions import db
from app.services.models import Service


def get_heartbeat(heartbeat_id: int) -> Heartbeat:
    heartbeat = db.session.get(Heartbeat, heartbeat_id)
    if heartbeat is None:
        raise NotFound("No such heartbeat.")
    return heartbeat


def create(actor: Actor, service: Service, *, name: str, interval_seconds: int, grace_seconds: int,
           now: datetime) -> Heartbeat:
    """A new heartbeat waits for its first check-in for one interval + grace, then alarms."""
    permissions.require(actor, service, "Only an admin or a manager of its team may add heartbeats.")
    name = (name or "").strip()
    if not name:
        raise DomainError("Name the heartbeat after the job that checks in.", "name")
    if interval_seconds < 60:
        raise DomainError("Check-ins at least a minute apart.", "interval_minutes")
    if grace_seconds < 0:
        raise DomainError("Grace cannot be negative.", "grace_minutes")
    heartbeat = Heartbeat(service=service, name=name[:120], interval_seconds=interval_seconds,
                          grace_seconds=grace_seconds, state=HeartbeatState.WAITING, active=True, created_at=now,
                          due_at=now + timedelta(seconds=interval_seconds + grace_seconds))
    db.session.add(heartbeat)
    db.session.flush()
    audit.record(actor, "service.add_heartbeat", service,
                 summary=f"Added heartbeat {name!r} to {service.name} (every {interval_seconds // 60} min)",
                 after={"heartbeat_id": heartbeat.id, "interval_seconds": interval_seconds,
                        "grace_seconds": grace_seconds})
    return heartbeat


def remove(actor: Actor, heartbeat: Heartbeat) -> None:
    """Stop watching (kept for the record; its token stops working)."""
    permissions.require(actor, heartbeat.service, "Only an admin or a manager of its team may remove heartbeats.")
    if not heartbeat.active:
        return
    heartbeat.active = False
    heartbeat.due_at = None
    audit.record(actor, "service.remove_heartbeat", heartbeat.service,
                 summary=f"Removed heartbeat {heartbeat.name!r} from {heartbeat.service.name}",
                 before={"heartbeat_id": heartbeat.id, "active": True}, after={"heartbeat_id": heartbeat.id, "active": False})
