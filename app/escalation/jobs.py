"""The engine's escalation work: incidents whose next step is due."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.engine.core import Job
from app.escalation import service as escalation
from app.extensions import db
from app.incidents.models import Incident, Status
from app.incidents.service import begin_response


def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(Incident.id).where(Incident.next_escalation_at <= now)
                              .order_by(Incident.next_escalation_at).limit(limit)).all()


def run(incident_id: int, now: datetime) -> bool:
    incident = db.session.get(Incident, incident_id)
    if incident is None or incident.next_escalation_at is None or incident.next_escalation_at > now:
        return False
    if incident.escalation_state is None:  # opened by monitoring: paging begins here
        if incident.status != Status.TRIGGERED:
            incident.next_escalation_at = None
            return False
        begin_response(incident, now)
        return True
    return escalation.advance(incident, now)


JOBS = [Job("escalations", due, run)]
