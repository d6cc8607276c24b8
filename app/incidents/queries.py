"""Reading incidents: the filtered, urgency-sorted list, and what the incident page shows."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.alerts.models import Alert
from app.auth.models import User
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent, Status
from app.services.models import Service

STATUS_CHOICES = ("open", "triggered", "acknowledged", "resolved", "all")


@dataclass
class IncidentFilter:
    status: str = "open"
    severities: list[int] = field(default_factory=list)
    service_id: int | None = None
    team_id: int | None = None
    q: str = ""

    @classmethod
    def from_args(cls, args) -> "IncidentFilter":
        """From query-string arguments, ignoring what does not parse (a list, not an error page)."""
        status = args.get("status", "open")
        severities = []
        for raw in args.getlist("severity"):
            for part in str(raw).split(","):
                if part.strip() in ("1", "2", "3", "4"):
                    severities.append(int(part))
        def number(name):
            value = args.get(name, "")
            return int(value) if str(value).isdigit() else None
        return cls(status=status if status in STATUS_CHOICES else "open", severities=sorted(set(severities)),
                   service_id=number("service_id") or number("service"), team_id=number("team_id") or number("team"),
                   q=(args.get("q") or "").strip()[:200])


def urgency_order():
    """Triggered before acknowledged before resolved; then most severe; then newest."""
    rank = sa.case((Incident.status == Status.TRIGGERED, 0), (Incident.status == Status.ACKNOWLEDGED, 1), else_=2)
    return (rank, Incident.severity, Incident.created_at.desc(), Incident.id.desc())


def list_query(f: IncidentFilter) -> sa.Select:
    stmt = sa.select(Incident).options(selectinload(Incident.service))
    if f.status == "open":
        stmt = stmt.where(Incident.status != Status.RESOLVED)
    elif f.status in ("triggered", "acknowledged", "resolved"):
        stmt = stmt.where(Incident.status == f.status)
    if f.severities:
        stmt = stmt.where(Incident.severity.in_(f.severities))
    if f.service_id:
        stmt = stmt.where(Incident.service_id == f.service_id)
    if f.team_id:
        stmt = stmt.where(Incident.service_id.in_(sa.select(Service.id).where(Service.team_id == f.team_id)))
    if f.q:
        if f.q.lstrip("#").isdigit():
            stmt = stmt.where(sa.or_(Incident.id == int(f.q.lstrip("#")), Incident.title.ilike(f"%{f.q}%")))
        else:
            stmt = stmt.where(Incident.title.ilike(f"%{f.q}%"))
    return stmt.order_by(*urgency_order())


def list_version() -> str:
    """Changes whenever any incident changes: the live list polls with it."""
    latest, newest = db.session.execute(sa.select(sa.func.max(Incident.updated_at), sa.func.max(Incident.id))).one()
    return f"{latest.isoformat() if latest else '-'}.{newest or 0}"


def open_counts() -> dict[str, int]:
    rows = db.session.execute(sa.select(Incident.status, sa.func.count()).where(Incident.status != Status.RESOLVED)
                              .group_by(Incident.status)).all()
    counts = {"triggered": 0, "acknowledged": 0}
    counts.update({status.value if hasattr(status, "value") else status: n for status, n in rows})
    return counts


def alerts_of(incident: Incident) -> list[Alert]:
    return db.session.scalars(sa.select(Alert).where(Alert.incident_id == incident.id)
                              .order_by(Alert.created_at, Alert.id)).all()


def timeline(incident: Incident, limit: int | None = 300) -> list[IncidentEvent]:
    stmt = (sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
            .order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc()))
    if limit:
        stmt = stmt.limit(limit)
    return db.session.scalars(stmt).all()


def timeline_count(incident: Incident) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent)
                             .where(IncidentEvent.incident_id == incident.id))


def responders(incident: Incident) -> list[User]:
    """Everyone who acted on the incident, first to act first."""
    ids = db.session.scalars(
        sa.select(IncidentEvent.actor_user_id).where(IncidentEvent.incident_id == incident.id,
                                                     IncidentEvent.actor_user_id.isnot(None))
        .group_by(IncidentEvent.actor_user_id).order_by(sa.func.min(IncidentEvent.at))).all()
    if not ids:
        return []
    people = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}
    return [people[i] for i in ids if i in people]


def merged_from(incident: Incident) -> list[Incident]:
    return db.session.scalars(sa.select(Incident).where(Incident.merged_into_id == incident.id)
                              .order_by(Incident.id)).all()


def severity_history(incident: Incident) -> list[IncidentEvent]:
    """Every reclassification, oldest first: who, when, from what to what, why."""
    return db.session.scalars(sa.select(IncidentEvent).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == "severity_changed")
        .order_by(IncidentEvent.at, IncidentEvent.id)).all()
