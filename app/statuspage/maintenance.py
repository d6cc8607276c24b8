"""Maintenance windows on the status page: announced windows put their components
under maintenance while in progress, and post the start and end updates by
themselves (the engine moves the window, app.services.maintenance calls here).
Subscribers are reminded before a window starts (a due time on the window).
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth import permissions
from app.errors import DomainError
from app.extensions import db
from app.services.models import MaintenanceState, MaintenanceWindow
from app.statuspage import service
from app.statuspage.models import Component, MaintenanceUpdate, StatusNotice, component_services, new_public_id

REMINDER_BEFORE = timedelta(hours=1)
AUTOMATIC = {
    MaintenanceState.IN_PROGRESS: "Scheduled maintenance is in progress. We will post an update when it is done.",
    MaintenanceState.VERIFYING: "The work is done and we are verifying that everything works as it should.",
    MaintenanceState.COMPLETED: "The scheduled maintenance has been completed.",
    MaintenanceState.CANCELLED: "This scheduled maintenance has been cancelled.",
}


def components_for_services(service_ids: list[int]) -> list[Component]:
    if not service_ids:
        return []
    return list(db.session.scalars(
        sa.select(Component).join(component_services, component_services.c.component_id == Component.id)
        .where(component_services.c.service_id.in_(service_ids)).distinct().order_by(Component.position, Component.id)))


def _post(window: MaintenanceWindow, status: str, body: str, now: datetime, *, sms: bool, before: dict) -> MaintenanceUpdate:
    affected = [{"code": c.public_id, "name": c.name, "old_status": before.get(c.id, c.status).value,
                 "new_status": c.status.value} for c in window.components]
    update = MaintenanceUpdate(maintenance_id=window.id, status=status, body=body, created_at=now, display_at=now,
                               affected_components=affected or None, deliver_notifications=True)
    db.session.add(update)
    db.session.flush()
    db.session.add(StatusNotice(kind="maintenance_update", maintenance_id=window.id, update_id=update.id,
                                component_ids=[c.id for c in window.components], sms=sms,
                                data={"status": status}, created_at=now, due_at=now))
    return update


def announce(window: MaintenanceWindow, now: datetime, *, components: list[Component] | None = None,
             reminder_before: timedelta | None = REMINDER_BEFORE) -> None:
    """Show a newly scheduled window on the status page (called by maintenance.schedule).

    Without chosen components, those linked to the window's services are used.
    """
    window.public = True
    window.public_id = window.public_id or new_public_id()
    window.updated_at = now
    window.components = list(components) if components else components_for_services([s.id for s in window.services])
    body = window.description.strip() if window.description and window.description.strip() else (
        f"{window.title}: planned maintenance. We will post updates here as the work goes on.")
    _post(window, "scheduled", body, now, sms=False, before={})
    if reminder_before is not None and window.starts_at - reminder_before > now:
        window.reminder_at = window.starts_at - reminder_before
    service.bump(now)


def window_moved(window: MaintenanceWindow, before: MaintenanceState, now: datetime) -> None:
    """After a window changed state (the engine's start and end, or a person ending it):
    components in or out of maintenance, and the automatic public update."""
    if window.state == before:
        return
    if window.state not in (MaintenanceState.SCHEDULED,):
        window.reminder_at = None
    if not window.public:
        return
    window.updated_at = now
    previous = {c.id: c.status for c in window.components}
    db.session.flush()
    for component in window.components:
        service.recompute(component, now)
    body = AUTOMATIC.get(window.state)
    if body:
        _post(window, window.state.value, body, now, sms=window.state == MaintenanceState.IN_PROGRESS,
              before=previous)
    service.bump(now)


def post_update(actor: Actor, window: MaintenanceWindow, body: str, now: datetime, *,
                verifying: bool = False) -> MaintenanceUpdate:
    """A person's update on an announced window; `verifying` moves an in-progress window on."""
    permissions.require(actor, window, "Only an admin or a manager of its services' teams may post its updates.")
    if not window.public:
        raise DomainError("This window is not on the status page.")
    body = (body or "").strip() or (AUTOMATIC[MaintenanceState.VERIFYING] if verifying else "")
    if not body:
        raise DomainError("Say what customers should know.", "body")
    if len(body) > service.MAX_BODY:
        raise DomainError(f"Keep an update under {service.MAX_BODY:,} characters.", "body")
    if verifying:
        if window.state != MaintenanceState.IN_PROGRESS:
            raise DomainError("Only a window in progress can move to verifying.")
        window.state = MaintenanceState.VERIFYING
    if window.state in (MaintenanceState.COMPLETED, MaintenanceState.CANCELLED):
        raise DomainError("That window is over.")
    window.updated_at = now
    update = _post(window, window.state.value, body, now, sms=False, before={})
    audit.record(actor, "maintenance.update", window, summary=f"Posted an update on maintenance “{window.title}”",
                 after={"state": window.state.value, "length": len(body)})
    service.bump(now)
    return update


# --- the engine's reminders ------------------------------------------------------------

def due_reminders(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(MaintenanceWindow.id).where(MaintenanceWindow.reminder_at <= now)
                              .order_by(MaintenanceWindow.reminder_at).limit(limit)).all()


def remind(window_id: int, now: datetime) -> bool:
    window = db.session.get(MaintenanceWindow, window_id)
    if window is None or window.reminder_at is None or window.reminder_at > now:
        return False
    window.reminder_at = None
    if not window.public or window.state != MaintenanceState.SCHEDULED or window.starts_at <= now:
        return True
    db.session.add(StatusNotice(kind="maintenance_reminder", maintenance_id=window.id,
                                component_ids=[c.id for c in window.components], created_at=now, due_at=now))
    return True
