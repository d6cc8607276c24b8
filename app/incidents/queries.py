"""Reading incidents: the filtered, urgency-sorted list, and what the incident page shows."""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.alerts.models import Alert
from app.auth.models import User
from app.extensions import db
from app.forms import record_id
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
            return record_id(args.get(name))
        return cls(status=status if status in STATUS_CHOICES else "open", severities=sorted(set(severities)),
                   service_id=number("service_id") or number("service"), team_id=number("team_id") or number("team"),
                   q=(args.get("q") or "").strip()[:200])


# The order incidents are listed in: what needs someone first.
URGENCY = (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.RESOLVED)
STATUS_FILTERS = {
    "open": (Status.TRIGGERED, Status.ACKNOWLEDGED),
    "triggered": (Status.TRIGGERED,),
    "acknowledged": (Status.ACKNOWLEDGED,),
    "resolved": (Status.RESOLVED,),
    "all": URGENCY,
}


@dataclass
class Page:
    """One page of a list, with what a pager needs."""

    items: list
    total: int
    page: int = 1
    per_page: int = 50

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def like(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (% and _ are not wildcards)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_page(f: IncidentFilter, page: int = 1, per_page: int = 50) -> Page:
    """Incidents by urgency: triggered, then acknowledged, then resolved; within each,
    by severity (SEV-1 first), then newest first.

    Each (status, severity) pair is a segment read backwards along
    ix_incidents_status_severity_created, which is exactly newest first, so a page
    costs one grouped count (on the index alone, unless filtered by service, team or
    text) and an index walk to the page, never a sort of the incidents; one more
    query loads the page with its service and people.
    """
    where = []
    if f.service_id is not None:
        where.append(Incident.service_id == f.service_id)
    if f.team_id is not None:
        where.append(Incident.service_id.in_(sa.select(Service.id).where(Service.team_id == f.team_id)))
    if f.q:
        text = Incident.title.ilike(like(f.q), escape="\\")
        number = f.q.lstrip("#")
        where.append(sa.or_(Incident.id == int(number), text) if number.isdecimal() and len(number) < 10 else text)
    statuses = STATUS_FILTERS[f.status]
    severities = f.severities or [1, 2, 3, 4]
    counts = {(row_status, severity): n for row_status, severity, n in db.session.execute(
        sa.select(Incident.status, Incident.severity, sa.func.count())
        .where(Incident.status.in_(statuses), Incident.severity.in_(severities), *where)
        .group_by(Incident.status, Incident.severity))}
    total = sum(counts.values())
    skip, ids = (page - 1) * per_page, []
    for segment_status in (s for s in URGENCY if s in statuses):
        for severity in severities:
            size = counts.get((segment_status, severity), 0)
            if size == 0:
                continue
            if skip >= size:
                skip -= size
                continue
            ids += db.session.scalars(
                sa.select(Incident.id).where(Incident.status == segment_status, Incident.severity == severity, *where)
                .order_by(Incident.created_at.desc(), Incident.id.desc())
                .offset(skip).limit(per_page - len(ids))).all()
            skip = 0
            if len(ids) >= per_page:
                break
        if len(ids) >= per_page:
            break
    if not ids:
        return Page([], total, page, per_page)
    rows = db.session.scalars(sa.select(Incident).where(Incident.id.in_(ids)).options(
        selectinload(Incident.service), selectinload(Incident.declared_by),
        selectinload(Incident.acknowledged_by), selectinload(Incident.resolved_by))).all()
    by_id = {row.id: row for row in rows}
    return Page([by_id[i] for i in ids if i in by_id], total, page, per_page)


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
