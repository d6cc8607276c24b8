"""The engine's incident work: acknowledgement timeouts, auto-resolution, objectives
breached and what a resolution owes (its post-mortem draft, its search entries)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.engine.core import Job
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import Incident
from app.postmortems import service as postmortems


def _due(column):
    def due(now: datetime, limit: int) -> list[int]:
        return db.session.scalars(sa.select(Incident.id).where(column <= now).order_by(column).limit(limit)).all()
    return due


def _expire_ack(incident_id: int, now: datetime) -> bool:
    incident = db.session.get(Incident, incident_id)
    return incident is not None and incidents.expire_acknowledgement(incident, now)


def _auto_resolve(incident_id: int, now: datetime) -> bool:
    incident = db.session.get(Incident, incident_id)
    return incident is not None and incidents.auto_resolve(incident, now)


def _breach(which: str):
    def run(incident_id: int, now: datetime) -> bool:
        incident = db.session.get(Incident, incident_id)
        return incident is not None and incidents.record_breach(incident, which, now)
    return run


def _follow_up(incident_id: int, now: datetime) -> bool:
    # Locked (PostgreSQL): a reopening and resolving meanwhile is not overwritten.
    incident = db.session.get(Incident, incident_id, with_for_update=True)
    if incident is None or incident.followup_at is None or incident.followup_at > now:
        return False
    postmortems.follow_up(incident, now)
    return True


JOBS = [
    Job("ack_timeouts", _due(Incident.ack_timeout_at), _expire_ack, on_incidents=True),
    Job("auto_resolve", _due(Incident.auto_resolve_at), _auto_resolve, on_incidents=True),
    Job("response_breaches", _due(Incident.response_breach_at), _breach("response"), on_incidents=True),
    Job("resolution_breaches", _due(Incident.resolution_breach_at), _breach("resolution"), on_incidents=True),
]
# Last in a cycle: paging and its messages go before a storm of resolutions' drafts.
FOLLOWUP_JOBS = [Job("resolution_followups", _due(Incident.followup_at), _follow_up, on_incidents=True)]
