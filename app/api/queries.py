"""The API's list queries: filters, order and pages, written to stay cheap on large tables."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.alerts.models import Alert, AlertStatus, ChangeEvent
from app.extensions import db
from app.incidents import queries as incident_queries
from app.incidents.queries import Page
from app.services.models import Service

INCIDENT_STATUS_FILTERS = incident_queries.STATUS_FILTERS
ALERT_STATUS_FILTERS = {
    "open": (AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED),
    "triggered": (AlertStatus.TRIGGERED,),
    "acknowledged": (AlertStatus.ACKNOWLEDGED,),
    "resolved": (AlertStatus.RESOLVED,),
    "all": tuple(AlertStatus),
}


def incidents(*, status: str, severities: list[int], service_id: int | None, team_id: int | None,
              q: str | None, page: int, per_page: int) -> Page:
    """The incident list in the web page's order (see app.incidents.queries.list_page)."""
    return incident_queries.list_page(
        incident_queries.IncidentFilter(status=status, severities=severities, service_id=service_id,
                                        team_id=team_id, q=q or ""), page=page, per_page=per_page)


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
