"""Drills and game days: incidents flagged as exercises, run like real ones (they
page, they have timelines), kept out of every operational metric, and each
participant's assessment (0–100) recorded by whoever ran it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, User
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import Incident
from app.insights.models import DrillAssessment
from app.insights.surveys import responders
from app.services.models import Service

MAX_NOTE = 2000


def start_drill(actor: Actor, *, service: Service, title: str, severity, now: datetime,
                scenario: str = "") -> Incident:
    """Open an exercise: an incident like any other (it pages whoever the service's
    escalation policy pages), flagged so no operational figure counts it."""
    return incidents.open_incident(actor, service=service, title=title, severity=severity, now=now,
                                   description=scenario, source="web", via="web", is_exercise=True)


def participants(incident: Incident) -> list[User]:
    """Whoever acted in or was paged for the drill, and whoever was assessed."""
    people = {u.id: u for u in responders(incident)}
    for a in db.session.scalars(sa.select(DrillAssessment).where(DrillAssessment.incident_id == incident.id)):
        people.setdefault(a.user_id, a.user)
    return sorted(people.values(), key=lambda u: u.name)


def assessments(incident: Incident) -> dict[int, DrillAssessment]:
    return {a.user_id: a for a in db.session.scalars(
        sa.select(DrillAssessment).where(DrillAssessment.incident_id == incident.id))}


def assess(actor: Actor, incident: Incident, user: User, now: datetime, *, score, note: str = "") -> DrillAssessment:
    """Record (or change) one participant's score in a drill."""
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders assess drills.")
    if not incident.is_exercise:
        raise DomainError("Only drills and game days are assessed; this is a real incident.")
    try:
        score = int(str(score).strip())
    except (TypeError, ValueError):
        raise DomainError("A score is a whole number from 0 to 100.", "score") from None
    if not 0 <= score <= 100:
        raise DomainError("A score is a whole number from 0 to 100.", "score")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DomainError(f"Keep the note under {MAX_NOTE:,} characters.", "note")
    row = assessments(incident).get(user.id)
    before = {"score": row.score, "note": row.note} if row else None
    if row is None:
        row = DrillAssessment(incident_id=incident.id, user_id=user.id, score=score, note=note,
                              assessed_by=actor.label[:200], assessed_at=now)
        db.session.add(row)
    else:
        row.score, row.note, row.assessed_by, row.assessed_at = score, note, actor.label[:200], now
    audit.record(actor, "drill.assess", incident, summary=f"#{incident.id} drill: {user.name} scored {score}",
                 before=before, after={"user_id": user.id, "score": score, "note": note or None})
    return row


@dataclass(frozen=True)
class DrillRow:
    incident: Incident
    assessed: int
    mean: float | None


def recent(limit: int = 50) -> list[DrillRow]:
    """Drills, newest first, with how many were assessed and their mean score."""
    stats = (sa.select(DrillAssessment.incident_id, sa.func.count().label("n"),
                       sa.func.avg(DrillAssessment.score).label("mean"))
             .group_by(DrillAssessment.incident_id).subquery())
    rows = db.session.execute(
        sa.select(Incident, stats.c.n, stats.c.mean).outerjoin(stats, stats.c.incident_id == Incident.id)
        .where(Incident.is_exercise.is_(True)).order_by(Incident.detected_at.desc()).limit(limit)).all()
    return [DrillRow(i, int(n or 0), round(float(m), 1) if m is not None else None) for i, n, m in rows]
