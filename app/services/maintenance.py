"""Maintenance windows: planned work during which alerts on its services page nobody."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth import permissions
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.services.models import MaintenanceState, MaintenanceWindow, Service

ACTIVE = (MaintenanceState.SCHEDULED, MaintenanceState.IN_PROGRESS, MaintenanceState.VERIFYING)


def get_window(window_id: int) -> MaintenanceWindow:
    window = db.session.get(MaintenanceWindow, window_id)
    if window is None:
        raise NotFound("No such maintenance window.")
    return window


def _checked(actor: Actor, title: str, starts_at: datetime, ends_at: datetime, services: list[Service],
             now: datetime, ended: str) -> str:
    """The window's title, once its times, services and the actor's right to them check out."""
    title = (title or "").strip()
    if not title:
        raise DomainError("Give the maintenance a title.", "title")
    if ends_at <= starts_at:
        raise DomainError("The window must end after it starts.", "ends_at")
    if ends_at <= now:
        raise DomainError(ended, "ends_at")
    if not services:
        raise DomainError("Choose at least one service.", "services")
    for service in services:
        if not permissions.may(actor, service):
            raise Forbidden(f"Only an admin or a manager of its team may put {service.name} under maintenance.",
                            "services")
    return title


def schedule(actor: Actor, *, title: str, starts_at: datetime, ends_at: datetime, services: list[Service],
             now: datetime, description: str = "", public: bool = False, components: list | None = None,
             ) -> MaintenanceWindow:
    """A new window. `public` announces it on the status page, putting `components`
    (default: the components of its services) under maintenance while it runs."""
    title = _checked(actor, title, starts_at, ends_at, services, now, "The window has already ended.")
    window = MaintenanceWindow(title=title[:255], description=description or "", starts_at=starts_at,
                               ends_at=ends_at, state=MaintenanceState.SCHEDULED, next_transition_at=starts_at,
                               created_by_id=actor.user.id if actor.user else None, created_at=now)
    window.services = list(services)
    db.session.add(window)
    db.session.flush()
    audit.record(actor, "maintenance.schedule", window,
                 summary=f"Scheduled maintenance “{window.title}” on {', '.join(s.name for s in services)}",
                 after={"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
                        "services": [s.id for s in services], "public": bool(public)})
    if public:
        from app.statuspage import maintenance as status_page
        status_page.announce(window, now, components=components)
    advance(window, now)
    return window


def update(actor: Actor, window: MaintenanceWindow, now: datetime, *, title: str, description: str,
           starts_at: datetime, ends_at: datetime, services: list[Service]) -> None:
    """Change a window not yet over. Until it starts everything may change; once under
    way only its title, details and end (to finish sooner or later, not in the past).
    Its status-page components stay as announced; a start moved earlier than now
    starts it at once, as `schedule` does."""
    permissions.require(actor, window, "Only an admin or a manager of its services' teams may change this maintenance.")
    if window.state not in ACTIVE:
        raise Conflict("That window is already over.")
    title = (title or "").strip()
    if not title:
        raise DomainError("Give the maintenance a title.", "title")
    started = window.state != MaintenanceState.SCHEDULED
    if started and clock.utc(starts_at) != clock.utc(window.starts_at):
        raise Conflict("The window has started: only its end can move.", "starts_at")
    if started and {s.id for s in services} != {s.id for s in window.services}:
        raise Conflict("The window has started: its services stay as they are.", "services")
    _checked(actor, title, starts_at, ends_at, services, now, "The end must be in the future.")
    fields = ("title", "description", "starts_at", "ends_at", "services")

    def shown() -> dict:
        return {"title": window.title, "description": window.description or "",
                "starts_at": clock.utc(window.starts_at).isoformat(), "ends_at": clock.utc(window.ends_at).isoformat(),
                "services": sorted(s.id for s in window.services)}
    before = shown()
    window.title, window.description = title[:255], description or ""
    window.starts_at, window.ends_at = starts_at, ends_at
    window.services = list(services)
    window.next_transition_at = starts_at if window.state == MaintenanceState.SCHEDULED else ends_at
    before, after = audit.changed(before, shown())
    if not after:
        return
    audit.record(actor, "maintenance.update", window, summary=f"Changed maintenance “{window.title}”: "
                 + ", ".join(name for name in fields if name in after), before=before, after=after)
    if window.public:
        from app.statuspage import maintenance as status_page
        from app.statuspage import service as status_service
        window.updated_at = now
        if window.state == MaintenanceState.SCHEDULED:
            reminder = window.starts_at - status_page.REMINDER_BEFORE
            window.reminder_at = reminder if reminder > now else None
        status_service.bump(now)
    advance(window, now)


def cancel(actor: Actor, window: MaintenanceWindow, now: datetime) -> None:
    permissions.require(actor, window, "Only an admin or a manager of its services' teams may change this maintenance.")
    if window.state not in ACTIVE:
        raise DomainError("That window is already over.")
    before = window.state.value
    if window.state == MaintenanceState.SCHEDULED:
        window.state = MaintenanceState.CANCELLED
    else:  # ending early
        window.state = MaintenanceState.COMPLETED
        window.ends_at = now
    window.next_transition_at = None
    audit.record(actor, "maintenance.cancel", window, summary=f"Ended maintenance “{window.title}”",
                 before={"state": before}, after={"state": window.state.value})
    _moved(window, MaintenanceState(before), now)


def _moved(window: MaintenanceWindow, before: MaintenanceState, now: datetime) -> None:
    """The status page follows: components in or out of maintenance, the public update."""
    from app.statuspage import maintenance as status_page
    status_page.window_moved(window, before, now)


def advance(window: MaintenanceWindow, now: datetime) -> bool:
    """Move a window along when its next transition is due (the engine's job)."""
    if window.next_transition_at is None or window.next_transition_at > now:
        return False
    before = window.state
    if window.state == MaintenanceState.SCHEDULED and now < window.ends_at:
        window.state = MaintenanceState.IN_PROGRESS
        window.next_transition_at = window.ends_at
    elif window.state in ACTIVE:
        window.state = MaintenanceState.COMPLETED
        window.next_transition_at = None
    else:
        window.next_transition_at = None
        return False
    audit.record(Actor.system(), "maintenance.advance", window,
                 summary=f"Maintenance “{window.title}” is {window.state.value.replace('_', ' ')}",
                 before={"state": before.value}, after={"state": window.state.value})
    _moved(window, before, now)
    return True


def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(MaintenanceWindow.id).where(MaintenanceWindow.next_transition_at <= now)
                              .order_by(MaintenanceWindow.next_transition_at).limit(limit)).all()


def run(window_id: int, now: datetime) -> bool:
    window = db.session.get(MaintenanceWindow, window_id)
    return window is not None and advance(window, now)
