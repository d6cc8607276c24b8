"""What the public sees, read from the database once per render: the page's
components, incidents and maintenance, the overall indicator, and the public URLs.

Only public records are read here (components, public incidents and their
updates, announced maintenance windows): nothing internal can leak into a page
that is built from these alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from app import clock
from app.extensions import db
from app.links import external_url
from app.services.models import MaintenanceState, MaintenanceWindow
from app.statuspage import service
from app.statuspage.models import (
    Component, ComponentGroup, ComponentStatus, MaintenanceUpdate, PageSettings, PublicIncident,
    PublicIncidentComponent, Stage, worst,
)

# Statuspage's indicator and its words.
DESCRIPTIONS = {
    "none": "All Systems Operational",
    "maintenance": "Service Under Maintenance",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
_FROM_COMPONENT = {ComponentStatus.OPERATIONAL: "none", ComponentStatus.MAINTENANCE: "maintenance",
                   ComponentStatus.DEGRADED: "minor", ComponentStatus.PARTIAL: "major",
                   ComponentStatus.MAJOR: "critical"}
UPCOMING = (MaintenanceState.SCHEDULED,)
ACTIVE = (MaintenanceState.IN_PROGRESS, MaintenanceState.VERIFYING)
SHOWN_MAINTENANCE = (MaintenanceState.SCHEDULED, MaintenanceState.IN_PROGRESS, MaintenanceState.VERIFYING,
                     MaintenanceState.COMPLETED)
WITH_CANCELLED = SHOWN_MAINTENANCE + (MaintenanceState.CANCELLED,)


# --- where the page lives ------------------------------------------------------------

def status_host() -> str:
    return (current_app.config.get("STATUS_PAGE_HOST") or "").strip().lower()


def status_base_url() -> str:
    """The page's own address: its host name when it has one, else /status on the app."""
    host = status_host()
    if host:
        base = current_app.config["PUBLIC_BASE_URL"]
        scheme = base.split("://", 1)[0] if "://" in base else "https"
        return f"{scheme}://{host}"
    return external_url("statuspage.index")


def status_url(path: str = "") -> str:
    """An absolute URL under the page: status_url('/incidents/abc')."""
    base = status_base_url()
    return base + path if path else (base + "/" if status_host() else base)


# --- reading ----------------------------------------------------------------------------

@dataclass
class Maintenance:
    """An announced window as the page and the JSON show it."""

    window: MaintenanceWindow
    updates: list[MaintenanceUpdate]

    @property
    def public_id(self) -> str:
        return self.window.public_id or f"mw{self.window.id}"

    @property
    def components(self) -> list[Component]:
        return self.window.components

    @property
    def status(self) -> str:
        return self.window.state.value

    @property
    def label(self) -> str:
        return {"scheduled": "Scheduled", "in_progress": "In progress", "verifying": "Verifying",
                "completed": "Completed", "cancelled": "Cancelled"}[self.status]


@dataclass
class Snapshot:
    settings: PageSettings
    zone: ZoneInfo
    now: datetime
    groups: list[ComponentGroup]
    components: list[Component]
    open_incidents: list[PublicIncident]
    active_maintenance: list[Maintenance]
    upcoming_maintenance: list[Maintenance]
    indicator: str = "none"
    by_group: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.indicator]

    def children(self, group: ComponentGroup) -> list[Component]:
        return self.by_group.get(group.id, [])

    @property
    def ungrouped(self) -> list[Component]:
        return self.by_group.get(None, [])

    def group_status(self, group: ComponentGroup) -> ComponentStatus:
        return worst(c.status for c in self.children(group))


def indicator(components: list[Component], incidents: list[PublicIncident]) -> str:
    """Statuspage's page indicator: the worst of what components show and what open
    incidents say (none < maintenance < minor < major < critical)."""
    levels = [_FROM_COMPONENT[c.status] for c in components]
    levels += [i.impact for i in incidents if i.is_open]
    return max(levels, key=lambda level: service.IMPACT_RANK.get(level, 0), default="none")


def _incident_query():
    return sa.select(PublicIncident).options(
        selectinload(PublicIncident.updates),
        selectinload(PublicIncident.affected).selectinload(PublicIncidentComponent.component))


def open_incidents() -> list[PublicIncident]:
    return list(db.session.scalars(_incident_query().where(PublicIncident.status != Stage.RESOLVED)
                                   .order_by(PublicIncident.created_at.desc())))


def recent_incidents(limit: int = 50) -> list[PublicIncident]:
    return list(db.session.scalars(_incident_query().order_by(PublicIncident.created_at.desc(),
                                                              PublicIncident.id.desc()).limit(limit)))


def incidents_between(start: datetime, end: datetime) -> list[PublicIncident]:
    """Incidents that began in [start, end), newest first."""
    return list(db.session.scalars(_incident_query().where(PublicIncident.started_at >= start,
                                                           PublicIncident.started_at < end)
                                   .order_by(PublicIncident.started_at.desc(), PublicIncident.id.desc())))


def incidents_page(page: int, limit: int, *, per_page: int) -> list[PublicIncident]:
    """Up to `limit` incidents from page `page` (of `per_page`), newest first: ask for one
    more than a page to learn whether there is a next one."""
    return list(db.session.scalars(_incident_query().order_by(PublicIncident.started_at.desc(),
                                                              PublicIncident.id.desc())
                                   .offset((page - 1) * per_page).limit(limit)))


def incident_by_public_id(public_id: str) -> PublicIncident | None:
    return db.session.scalar(_incident_query().where(PublicIncident.public_id == public_id))


def maintenances(states=SHOWN_MAINTENANCE, limit: int = 50, *, public_id: str | None = None,
                 order_desc: bool = True) -> list[Maintenance]:
    stmt = (sa.select(MaintenanceWindow).options(selectinload(MaintenanceWindow.components))
            .where(MaintenanceWindow.public.is_(True), MaintenanceWindow.state.in_(states)))
    if public_id is not None:
        stmt = stmt.where(MaintenanceWindow.public_id == public_id)
    order = MaintenanceWindow.starts_at.desc() if order_desc else MaintenanceWindow.starts_at
    windows = list(db.session.scalars(stmt.order_by(order, MaintenanceWindow.id.desc()).limit(limit)))
    updates: dict[int, list[MaintenanceUpdate]] = {w.id: [] for w in windows}
    if windows:
        for update in db.session.scalars(sa.select(MaintenanceUpdate)
                                         .where(MaintenanceUpdate.maintenance_id.in_(list(updates)))
                                         .order_by(MaintenanceUpdate.display_at.desc(), MaintenanceUpdate.id.desc())):
            updates[update.maintenance_id].append(update)
    return [Maintenance(w, updates[w.id]) for w in windows]


def snapshot(now: datetime | None = None) -> Snapshot:
    now = now or clock.now()
    settings = service.get_settings()
    try:
        zone = ZoneInfo(settings.time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    groups = list(db.session.scalars(sa.select(ComponentGroup).order_by(ComponentGroup.position, ComponentGroup.id)))
    components = service.components_in_order()
    by_group: dict = {}
    for component in components:
        by_group.setdefault(component.group_id, []).append(component)
    incidents = open_incidents()
    active = maintenances(ACTIVE, order_desc=False)
    upcoming = maintenances(UPCOMING, order_desc=False)
    snap = Snapshot(settings=settings, zone=zone, now=now, groups=groups, components=components,
                    open_incidents=incidents, active_maintenance=active, upcoming_maintenance=upcoming,
                    by_group=by_group)
    snap.indicator = indicator(components, incidents)
    return snap


def known_ids() -> tuple[frozenset[str], frozenset[str]]:
    """Every public incident id and announced maintenance id: unknown ones are answered
    404 from memory, so made-up ids cost no query."""
    incidents = frozenset(db.session.scalars(sa.select(PublicIncident.public_id)))
    windows = frozenset(db.session.scalars(sa.select(MaintenanceWindow.public_id)
                                           .where(MaintenanceWindow.public.is_(True),
                                                  MaintenanceWindow.public_id.isnot(None))))
    return incidents, windows
