"""The API's list queries: filters, order and pages, written to stay cheap on large tables."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.alerts.models import Alert, AlertStatus, ChangeEvent
from app.extensions import db
from app.incidents.models import Incident, Status
from app.services.models import Service
from app.triage import levels

# The order incidents are listed in: what needs someone first.
URGENCY = (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.RESOLVED)
INCIDENT_STATUS_FILTERS = {
    "open": (Status.TRIGGERED, Status.ACKNOWLEDGED),
    "triggered": (Status.TRIGGERED,),
    "acknowledged": (Status.ACKNOWLEDGED,),
    "resolved": (Status.RESOLVED,),
    "all": URGENCY,
}
ALERT_STATUS_FILTERS = {
    "open": (AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED),
    "triggered": (AlertStatus.TRIGGERED,),
    "acknowledged": (AlertStatus.ACKNOWLEDGED,),
    "resolved": (AlertStatus.RESOLVED,),
    "all": tuple(AlertStatus),
}


@dataclass
class Page:
    items: list
    total: int


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def incidents(*, status: str, severities: list[int], service_id: int | None, team_id: int | None,
              q: str | None, page: int, per_page: int) -> Page:
    """Incidents by urgency: triggered, then acknowledged, then resolved; within each,
    by severity (SEV-1 first), then newest first.

    Each (status, severity) pair is a segment read backwards along
    ix_incidents_status_severity_created, which is exactly newest first, so a page
    costs one grouped count (on the index alone, unless filtered by service, team or
    text) and an index walk to the page, never a sort of the incidents; one more
    query loads the page with its service and people.
    """
    where = []
    if service_id is not None:
        where.append(Incident.service_id == service_id)
    if team_id is not None:
        where.append(Incident.service_id.in_(sa.select(Service.id).where(Service.team_id == team_id)))
    if q:
        where.append(Incident.title.ilike(_like(q), escape="\\"))
    statuses = INCIDENT_STATUS_FILTERS[status]
    wanted_severities = severities or sorted(levels.LEVELS)
    counts = {(row_status, severity): n for row_status, severity, n in db.session.execute(
        sa.select(Incident.status, Incident.severity, sa.func.count())
        .where(Incident.status.in_(statuses), Incident.severity.in_(wanted_severities), *where)
        .group_by(Incident.status, Incident.severity))}
    total = sum(counts.values())

    skip, ids = (page - 1) * per_page, []
    segments = [(s, severity) for s in URGENCY if s in statuses for severity in wanted_severities]
    for segment_status, severity in segments:
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
    if not ids:
        return Page([], total)
    rows = db.session.scalars(sa.select(Incident).where(Incident.id.in_(ids)).options(
        selectinload(Incident.service), selectinload(Incident.declared_by),
        selectinload(Incident.acknowledged_by), selectinload(Incident.resolved_by))).all()
    by_id = {row.id: row for row in rows}
    return Page([by_id[i] for i in ids if i in by_id], total)


def _paged(stmt: sa.Select, page: int, per_page: int) -> Page:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)).all() if total else []
    return Page(list(items), total)


def alerts(*, status: str, service_id: int | None, incident_id: int | None, page: int, per_page: int) -> Page:
    """Newest first."""
    stmt = sa.select(Alert).options(selectinload(Alert.service))
    if status != "all":
        stmt = stmt.where(Alert.status.in_(ALERT_STATUS_FILTERS[status]))
    if service_id is not None:
        stmt = stmt.where(Alert.service_id == service_id)
    if incident_id is not None:
        stmt = stmt.where(Alert.incident_id == incident_id)
    return _paged(stmt.order_by(Alert.created_at.desc(), Alert.id.desc()), page, per_page)


def change_events(*, service_id: int | None, since: datetime | None, page: int, per_page: int) -> Page:
    """Newest first, by when the change happened."""
    stmt = sa.select(ChangeEvent).options(selectinload(ChangeEvent.service))
    if service_id is not None:
        stmt = stmt.where(ChangeEvent.service_id == service_id)
    if since is not None:
        stmt = stmt.where(ChangeEvent.at >= since)
    return _paged(stmt.order_by(ChangeEvent.at.desc(), ChangeEvent.id.desc()), page, per_page)


def services() -> list[Service]:
    """Active services first, then by name."""
    return list(db.session.scalars(sa.select(Service).options(selectinload(Service.team))
                                   .order_by(Service.active.desc(), Service.name)))
