"""Maintenance windows over the API: list, read, schedule, change, end.

A window is planned work on services: while it is in progress, alerts on them open
no incident. Each change is the function the maintenance page calls
(app.services.maintenance: schedule, update, cancel), so the same rules and audit
entries hold: admins, and a manager of every one of the window's services' teams.
`public` announces the window on the status page (its components: those chosen, or
those of its services). DELETE ends it: one not yet started is cancelled, one under
way completes now; the window stays listed, with its state, for the record.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from flask import request, url_for
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from app import clock
from app.api.schemas import pagination_json
from app.api.spec import FieldErrors, Id, Input, PageQuery, Pagination, Ref, Time, answer, check_if_match, endpoint
from app.api.views import bp, load
from app.auth.models import Role, User
from app.errors import Conflict
from app.extensions import db
from app.services import maintenance
from app.services.models import MaintenanceWindow, Service
from app.statuspage.models import Component
from app.web import SOME_TEAM, current_actor, requires

MAX_DESCRIPTION = 4_000
MAX_IDS = 100
STATES = Literal["scheduled", "in_progress", "verifying", "completed", "cancelled"]


def _text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a date and time: ISO 8601 with a zone (Z or an offset)")
    return value


# Read from JSON text, not strictly (a strict datetime takes no string), but only from text.
Moment = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_text)]


class MaintenanceWindowOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    title: str
    description: str
    state: STATES
    starts_at: Time
    ends_at: Time
    public: bool = Field(description="Announced on the status page.")
    services: list[Ref] = Field(description="Alerts on these open no incident while the window is in progress.")
    components: list[Ref] = Field(description="Status-page components under maintenance while it runs.")
    created_by: Ref | None
    created_at: Time


class MaintenanceWindowList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maintenance_windows: list[MaintenanceWindowOut]
    pagination: Pagination


class WindowQuery(PageQuery):
    state: Literal["current", "all"] = Field("current", description="`current`: not yet over (scheduled, in "
                                                                    "progress, verifying); `all`: past ones too.")


class NewWindow(Input):
    title: str = Field(min_length=1, max_length=255)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    starts_at: Moment
    ends_at: Moment
    service_ids: list[Id] = Field(min_length=1, max_length=MAX_IDS)
    public: bool = False
    component_ids: list[Id] = Field(default_factory=list, max_length=MAX_IDS,
                                     description="With `public`: none given, the components of its services.")


class WindowChange(Input):
    """The fields to change; those left out stay. Once the window has started only
    `title`, `description` and `ends_at` may change."""

    title: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    service_ids: list[Id] | None = Field(None, min_length=1, max_length=MAX_IDS)


def _window(window_id: int) -> MaintenanceWindow:
    return load(MaintenanceWindow, window_id, f"There is no maintenance window {window_id}.")


def window_data(window: MaintenanceWindow) -> dict:
    creator = db.session.get(User, window.created_by_id) if window.created_by_id else None
    return {"id": window.id, "title": window.title, "description": window.description or "",
            "state": window.state.value, "starts_at": window.starts_at, "ends_at": window.ends_at,
            "public": window.public,
            # In the relationships' order, loaded or just assigned, so an answer's ETag is a later read's.
            "services": sorted(window.services, key=lambda s: (s.name, s.id)),
            "components": sorted(window.components, key=lambda c: (c.position, c.id)),
            "created_by": creator, "created_at": window.created_at}


def _one(window: MaintenanceWindow, status: int = 200, **headers):
    return answer(MaintenanceWindowOut, window_data(window), status, etag=True, headers=headers)


def _rows(model, ids: list[int], pointer: str, what: str) -> list:
    """The rows these ids name, in the order given; a 400 naming each id that names none."""
    found = {row.id: row for row in db.session.scalars(sa.select(model).where(model.id.in_(set(ids))))}
    missing = [{"detail": f"names no {what} (there is no {what} {ident})", "pointer": f"{pointer}/{index}"}
               for index, ident in enumerate(ids) if ident not in found]
    if missing:
        raise FieldErrors(missing)
    return list(dict.fromkeys(found[ident] for ident in ids))


def _blank(title: str | None) -> None:
    if title is not None and not title.strip():
        raise FieldErrors([{"detail": "must not be blank", "pointer": "/title"}])


@bp.route("/maintenance_windows")
@requires(Role.VIEWER)
@endpoint(query=WindowQuery, answers={200: MaintenanceWindowList}, tag="maintenance windows")
def list_maintenance_windows():
    """Maintenance windows, soonest start first."""
    query = request.context.query
    stmt = sa.select(MaintenanceWindow)
    if query.state == "current":
        stmt = stmt.where(MaintenanceWindow.state.in_(maintenance.ACTIVE))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
                              .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(MaintenanceWindowList, {"maintenance_windows": [window_data(w) for w in rows],
                                          "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/maintenance_windows/<int:window_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: MaintenanceWindowOut}, tag="maintenance windows")
def show_maintenance_window(window_id: int):
    """One window, with its ETag for If-Match."""
    return _one(_window(window_id))


@bp.route("/maintenance_windows", methods=["POST"])
@requires(Role.ADMIN, manages=SOME_TEAM)
@endpoint(body=NewWindow, answers={201: MaintenanceWindowOut}, tag="maintenance windows")
def create_maintenance_window():
    """Schedule a window on services; admins, or a manager for their own teams'
    services. One starting now or earlier is in progress at once."""
    body = request.context.json
    _blank(body.title)
    services = _rows(Service, body.service_ids, "/service_ids", "service")
    components = _rows(Component, body.component_ids, "/component_ids", "status-page component")
    window = maintenance.schedule(current_actor(), title=body.title, starts_at=body.starts_at, ends_at=body.ends_at,
                                  services=services, now=clock.now(), description=body.description,
                                  public=body.public, components=components)
    db.session.commit()
    return _one(window, 201, Location=url_for("api.show_maintenance_window", window_id=window.id))


@bp.route("/maintenance_windows/<int:window_id>", methods=["PATCH"])
@requires(Role.ADMIN, manages=(MaintenanceWindow, "window_id"))
@endpoint(body=WindowChange, answers={200: MaintenanceWindowOut}, tag="maintenance windows", refusals=(409,))
def update_maintenance_window(window_id: int):
    """Change a window not yet over (409 once over, or when changing the start or the
    services of one under way)."""
    window, body = _window(window_id), request.context.json
    check_if_match(MaintenanceWindowOut, window_data(window))
    sent = body.model_fields_set
    _blank(body.title)
    nulls = [name for name in sent if getattr(body, name) is None]
    if nulls:
        raise FieldErrors([{"detail": "must not be null", "pointer": f"/{name}"} for name in sorted(nulls)])
    services = _rows(Service, body.service_ids, "/service_ids", "service") if "service_ids" in sent \
        else list(window.services)
    maintenance.update(current_actor(), window, clock.now(),
                       title=body.title if "title" in sent else window.title,
                       description=body.description if "description" in sent else window.description,
                       starts_at=body.starts_at if "starts_at" in sent else window.starts_at,
                       ends_at=body.ends_at if "ends_at" in sent else window.ends_at, services=services)
    db.session.commit()
    return _one(window)


@bp.route("/maintenance_windows/<int:window_id>", methods=["DELETE"])
@requires(Role.ADMIN, manages=(MaintenanceWindow, "window_id"))
@endpoint(answers={204: None}, tag="maintenance windows", refusals=(409,))
def delete_maintenance_window(window_id: int):
    """End a window: cancelled before it starts, completed now once under way (as the
    page's End button). 409 when it is already over."""
    window = _window(window_id)
    check_if_match(MaintenanceWindowOut, window_data(window))
    if window.state not in maintenance.ACTIVE:
        raise Conflict(f"Maintenance “{window.title}” is already {window.state.value}.")
    maintenance.cancel(current_actor(), window, clock.now())
    db.session.commit()
    return "", 204

