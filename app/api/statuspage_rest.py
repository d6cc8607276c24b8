"""The status page's structure and what it says, over the API.

- `status_page/groups`: the headings components sit under (admins change them);
  deleting a group leaves its components ungrouped.
- `status_page/components/{component_id}`: PATCH changes a component (and its status
  set by hand), DELETE removes it with its history, as the admin page does. The
  POST-style routes of app.api.statuspage still work and are deprecated.
- `status_page/incidents`: what customers read about incidents, known by their
  public (Statuspage) id. POST publishes an incident for the first time; PATCH says
  something new (`body`, with a new `status` stage, title or component impacts) or
  publishes the post-mortem summary. Responders do this, as on the incident page.
- `status_page/maintenances`: maintenance windows announced on the page, by the
  window's id (the same as /maintenance_windows). POST schedules one on the page;
  PATCH posts an update, moves it to verifying, or ends it. Admins and the managers
  of its services' teams, as on the maintenance page.

Each change is the service function the pages call (app.statuspage.service,
app.statuspage.maintenance, app.services.maintenance), so it writes the same audit
entry and bumps the page's version; the caller (this view) commits once.
"""
from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from flask import request, url_for
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app import clock
from app.api.schemas import pagination_json, service_ref
from app.api.spec import Id, Input, Name, PageQuery, Pagination, Ref, Time, answer, check_if_match, endpoint
from app.api.statuspage import component_references, component_json
from app.api.views import bp, load
from app.auth.models import Role
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.incidents.models import Incident
from app.services import maintenance as windows
from app.services.models import MaintenanceState, MaintenanceWindow, Service
from app.statuspage import maintenance as page_maintenance
from app.statuspage import service as status_page
from app.statuspage.models import Component, ComponentGroup, MaintenanceUpdate, PublicIncident
from app.web import SOME_TEAM, current_actor, requires

TAG = "status page"
HandStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage"]
Stage = Literal["investigating", "identified", "monitoring", "resolved"]
MAX_IDS = 100


# --- groups ------------------------------------------------------------------------------------------

class ComponentGroupOut(BaseModel):
    """A heading on the page and the components under it, in page order."""

    model_config = ConfigDict(extra="forbid")

    id: int
    public_id: str
    name: str
    description: str
    position: int
    components: list[Ref]
    created_at: Time
    updated_at: Time


class ComponentGroupList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[ComponentGroupOut]
    pagination: Pagination


class NewComponentGroup(Input):
    name: Name
    description: str = Field("", max_length=2_000)
    position: int | None = Field(None, ge=0, le=10_000, description="Left out: after the last group.")


class ComponentGroupChange(Input):
    """The fields to change; those left out stay as they are."""

    name: Name | None = None
    description: str | None = Field(None, max_length=2_000)
    position: int | None = Field(None, ge=0, le=10_000)


def group_data(group: ComponentGroup) -> dict:
    return {"id": group.id, "public_id": group.public_id, "name": group.name, "description": group.description or "",
            "position": group.position, "components": [{"id": c.id, "name": c.name} for c in group.components],
            "created_at": group.created_at, "updated_at": group.updated_at}


def _group(group_id: int) -> ComponentGroup:
    return load(ComponentGroup, group_id, f"There is no component group {group_id}.")


def _one_group(group: ComponentGroup, status: int = 200, **headers):
    return answer(ComponentGroupOut, group_data(group), status, etag=True, headers=headers)


@bp.route("/status_page/groups")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: ComponentGroupList}, tag=TAG)
def list_component_groups():
    """Every component group, in page order."""
    query = request.context.query
    total = db.session.scalar(sa.select(sa.func.count()).select_from(ComponentGroup))
    groups = db.session.scalars(sa.select(ComponentGroup).order_by(ComponentGroup.position, ComponentGroup.id)
                                .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(ComponentGroupList, {"groups": [group_data(g) for g in groups],
                              "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/status_page/groups/<int:group_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: ComponentGroupOut}, tag=TAG)
def show_component_group(group_id: int):
    """One component group, with its ETag for If-Match."""
    return _one_group(_group(group_id))


@bp.route("/status_page/groups", methods=["POST"])
@requires(Role.ADMIN)
@endpoint(body=NewComponentGroup, answers={201: ComponentGroupOut}, tag=TAG, refusals=(409,))
def create_component_group():
    """A new group (admins); names are unique whatever their letter case."""
    body = request.context.json
    group = status_page.create_group(current_actor(), name=body.name, now=clock.now(), description=body.description,
                                     position=body.position)
    db.session.commit()
    return _one_group(group, 201, Location=url_for("api.show_component_group", group_id=group.id))


@bp.route("/status_page/groups/<int:group_id>", methods=["PATCH"])
@requires(Role.ADMIN)
@endpoint(body=ComponentGroupChange, answers={200: ComponentGroupOut}, tag=TAG, refusals=(409,))
def update_component_group(group_id: int):
    """Rename, describe or move a group (admins)."""
    group, body = _group(group_id), request.context.json
    check_if_match(ComponentGroupOut, group_data(group))
    status_page.update_group(current_actor(), group, clock.now(), name=body.name, description=body.description,
                             position=body.position)
    db.session.commit()
    return _one_group(group)


@bp.route("/status_page/groups/<int:group_id>", methods=["DELETE"])
@requires(Role.ADMIN)
@endpoint(answers={204: None}, tag=TAG)
def delete_component_group(group_id: int):
    """Remove a group; its components stay on the page, ungrouped."""
    group = _group(group_id)
    check_if_match(ComponentGroupOut, group_data(group))
    status_page.delete_group(current_actor(), group, clock.now())
    db.session.commit()
    return "", 204


# --- components: change and remove ---------------------------------------------------------------

class StatusPageComponent(BaseModel):
    """A component: `status` is what the page shows (the worst of the status set by
    hand, open incidents and maintenance); `status_set_by_hand` is the admins'."""

    model_config = ConfigDict(extra="forbid")

    id: int
    public_id: str
    name: str
    description: str
    group: Ref | None
    services: list[Ref]
    position: int
    status: str
    status_set_by_hand: str
    showcase: bool
    only_show_if_degraded: bool
    start_date: str | None
    created_at: str | None
    updated_at: str | None


class StatusPageComponentChange(Input):
    """The fields to change; those left out stay as they are. `group_id` null takes it
    out of its group; `service_ids` replaces its services."""

    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=2_000)
    group_id: Id | None = None
    service_ids: list[Id] | None = Field(None, max_length=MAX_IDS)
    position: int | None = Field(None, ge=0, le=10_000)
    showcase: bool | None = None
    only_show_if_degraded: bool | None = None
    status: HandStatus | None = Field(None, description="The status set by hand.")


def _component(component_id: int) -> Component:
    return load(Component, component_id, f"There is no status page component {component_id}.")


@bp.route("/status_page/components/<int:component_id>", methods=["PATCH"])
@requires(Role.ADMIN)
@endpoint(body=StatusPageComponentChange, answers={200: StatusPageComponent}, tag=TAG, refusals=(409,))
def change_component(component_id: int):
    """Change a component, or the status set by hand (admins)."""
    component, body = _component(component_id), request.context.json
    check_if_match(StatusPageComponent, component_json(component))
    sent = body.model_fields_set
    for name in ("name", "position", "showcase", "only_show_if_degraded", "status"):
        if name in sent and getattr(body, name) is None:
            raise DomainError(f"'{name}' may not be null.", name)
    values = {name: getattr(body, name) for name in ("group_id", "service_ids") if name in sent}
    if values.get("service_ids") is None:
        values.pop("service_ids", None)
    group, services = component_references(values)
    changes = {name: getattr(body, name) for name in ("name", "position", "showcase", "only_show_if_degraded")
               if name in sent}
    if "description" in sent:
        changes["description"] = body.description or ""
    if "group_id" in sent:
        changes["group_id"] = group.id if group else None
    actor, now = current_actor(), clock.now()
    if changes or services is not None:
        status_page.update_component(actor, component, now, services=services, **changes)
    if body.status is not None:
        status_page.set_component_status(actor, component, body.status, now)
    db.session.commit()
    return answer(StatusPageComponent, component_json(component), etag=True)


@bp.route("/status_page/components/<int:component_id>", methods=["DELETE"])
@requires(Role.ADMIN)
@endpoint(answers={204: None}, tag=TAG)
def remove_component(component_id: int):
    """Remove a component with its history; incidents that affected it keep their text."""
    component = _component(component_id)
    check_if_match(StatusPageComponent, component_json(component))
    status_page.delete_component(current_actor(), component, clock.now())
    db.session.commit()
    return "", 204


# --- public incidents --------------------------------------------------------------------------------

class AffectedComponent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    impact: str


class PublicIncidentUpdateOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_id: str
    status: str
    body: str
    display_at: Time
    notified: bool


class PublicIncidentOut(BaseModel):
    """What customers read about an incident; `incident_id` is the internal incident
    (null once that was deleted). Updates newest first."""

    model_config = ConfigDict(extra="forbid")

    public_id: str
    incident_id: int | None
    title: str
    status: Stage
    impact: str
    components: list[AffectedComponent]
    started_at: Time
    monitoring_at: Time | None
    resolved_at: Time | None
    updated_at: Time
    postmortem: str
    postmortem_published_at: Time | None
    updates: list[PublicIncidentUpdateOut]


class PublicIncidentList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incidents: list[PublicIncidentOut]
    pagination: Pagination


class ComponentImpact(Input):
    """What the incident does to a component now; `status` null: not affected."""

    id: Id = Field(description="The component's id.")
    status: Literal["operational", "degraded_performance", "partial_outage", "major_outage"] | None


class NewPublicIncident(Input):
    incident_id: Id = Field(description="The incident to publish; it must not be on the page yet.")
    title: str = Field(min_length=1, max_length=255, description="The public title: what customers notice.")
    status: Stage = "investigating"
    body: str = Field(min_length=1, max_length=status_page.MAX_BODY)
    components: list[ComponentImpact] = Field([], max_length=MAX_IDS)
    notify: bool = Field(True, description="Tell subscribers.")


class PublicIncidentChange(Input):
    """A new update (`body`, with the `status` stage, title and component impacts it
    brings; left out: as they are), or the post-mortem summary (`postmortem`; empty
    withdraws it), or both."""

    body: str | None = Field(None, min_length=1, max_length=status_page.MAX_BODY)
    status: Stage | None = None
    title: str | None = Field(None, min_length=1, max_length=255)
    components: list[ComponentImpact] | None = Field(None, max_length=MAX_IDS)
    notify: bool = True
    postmortem: str | None = Field(None, max_length=50_000)


def public_incident_data(public: PublicIncident) -> dict:
    return {
        "public_id": public.public_id, "incident_id": public.incident_id, "title": public.name,
        "status": public.status.value, "impact": public.impact,
        "components": [{"id": row.component.id, "name": row.component.name, "impact": row.impact.value}
                       for row in sorted(public.affected, key=lambda r: (r.component.position, r.component_id))],
        "started_at": public.started_at, "monitoring_at": public.monitoring_at, "resolved_at": public.resolved_at,
        "updated_at": public.updated_at, "postmortem": public.postmortem or "",
        "postmortem_published_at": public.postmortem_published_at,
        "updates": [{"public_id": u.public_id, "status": u.status.value, "body": u.body, "display_at": u.display_at,
                     "notified": u.deliver_notifications} for u in public.updates],
    }


def _public_incident(public_id: str) -> PublicIncident:
    public = db.session.scalar(sa.select(PublicIncident).where(PublicIncident.public_id == public_id))
    if public is None:
        raise NotFound(f"There is no status page incident {public_id}.")
    return public


def _impacts(impacts: list[ComponentImpact] | None) -> dict | None:
    if impacts is None:
        return None
    unknown = sorted({i.id for i in impacts} - set(db.session.scalars(
        sa.select(Component.id).where(Component.id.in_([i.id for i in impacts])))))
    if unknown:
        raise DomainError(f"'components' names components that do not exist: {', '.join(map(str, unknown))}",
                          "components")
    return {i.id: i.status for i in impacts}


def _one_incident(public: PublicIncident, status: int = 200, **headers):
    return answer(PublicIncidentOut, public_incident_data(public), status, etag=True, headers=headers)


@bp.route("/status_page/incidents")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: PublicIncidentList}, tag=TAG)
def list_public_incidents():
    """Every incident on the status page, newest first."""
    query = request.context.query
    total = db.session.scalar(sa.select(sa.func.count()).select_from(PublicIncident))
    rows = db.session.scalars(sa.select(PublicIncident).order_by(PublicIncident.started_at.desc(),
                                                                 PublicIncident.id.desc())
                              .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(PublicIncidentList, {"incidents": [public_incident_data(p) for p in rows],
                                       "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/status_page/incidents/<public_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: PublicIncidentOut}, tag=TAG)
def show_public_incident(public_id: str):
    """One incident as the page tells it, with its ETag for If-Match."""
    return _one_incident(_public_incident(public_id))


@bp.route("/status_page/incidents", methods=["POST"])
@requires(Role.RESPONDER)
@endpoint(body=NewPublicIncident, answers={201: PublicIncidentOut}, tag=TAG, refusals=(409,))
def publish_incident():
    """Put an incident on the status page with its first update (409 if it is there
    already: PATCH that one)."""
    body = request.context.json
    incident = db.session.get(Incident, body.incident_id)
    if incident is None:
        raise DomainError(f"'incident_id' names no incident (there is no incident {body.incident_id}).",
                          "incident_id")
    if status_page.public_incident_for(incident) is not None:
        raise Conflict(f"Incident #{incident.id} is on the status page already: add an update to it instead.")
    update = status_page.publish_update(current_actor(), incident, body.status, body.body, clock.now(),
                                        title=body.title, components=_impacts(body.components), notify=body.notify)
    db.session.commit()
    public = update.incident
    return _one_incident(public, 201, Location=url_for("api.show_public_incident", public_id=public.public_id))


@bp.route("/status_page/incidents/<public_id>", methods=["PATCH"])
@requires(Role.RESPONDER)
@endpoint(body=PublicIncidentChange, answers={200: PublicIncidentOut}, tag=TAG, refusals=(409,))
def update_public_incident(public_id: str):
    """Say something new about an incident on the page, or publish its post-mortem."""
    public, body = _public_incident(public_id), request.context.json
    check_if_match(PublicIncidentOut, public_incident_data(public))
    sent = body.model_fields_set
    if body.body is None and body.postmortem is None:
        raise DomainError("Send a `body` (a new update) or a `postmortem`.", "body")
    if body.body is None and sent & {"status", "title", "components"}:
        raise DomainError("A change of stage, title or components goes with a `body` saying it.", "body")
    incident = db.session.get(Incident, public.incident_id) if public.incident_id else None
    if incident is None:
        raise Conflict("The internal incident of this one was deleted: it can no longer change.")
    actor, now = current_actor(), clock.now()
    if body.body is not None:
        status_page.publish_update(actor, incident, body.status or public.status.value, body.body, now,
                                   title=body.title, components=_impacts(body.components), notify=body.notify)
    if body.postmortem is not None:
        status_page.publish_postmortem(actor, incident, body.postmortem, now)
    db.session.commit()
    db.session.refresh(public)
    return _one_incident(public)


# --- maintenances ------------------------------------------------------------------------------------

class StatusMaintenanceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_id: str
    status: str
    body: str
    display_at: Time


class StatusMaintenance(BaseModel):
    """A maintenance window as the page shows it; `id` is the window's. Updates newest first."""

    model_config = ConfigDict(extra="forbid")

    id: int
    public_id: str
    title: str
    description: str
    state: Literal["scheduled", "in_progress", "verifying", "completed", "cancelled"]
    starts_at: Time
    ends_at: Time
    services: list[Ref]
    components: list[Ref]
    updates: list[StatusMaintenanceUpdate]


class StatusMaintenanceList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maintenances: list[StatusMaintenance]
    pagination: Pagination


class NewStatusMaintenance(Input):
    title: str = Field(min_length=1, max_length=255)
    description: str = Field("", max_length=status_page.MAX_BODY, description="The first public update; "
                                                                                "left out, one is written.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    service_ids: list[Id] = Field(min_length=1, max_length=MAX_IDS, description="Alerts on these page nobody "
                                                                                 "while it runs.")
    component_ids: list[Id] | None = Field(None, max_length=MAX_IDS, description="Under maintenance while it "
                                                                                  "runs; left out: its services'.")


class StatusMaintenanceChange(Input):
    """An update for customers (`body`), and or a move: `verifying` (the work is done),
    `completed` (ends one in progress now), `cancelled` (one not started)."""

    body: str | None = Field(None, min_length=1, max_length=status_page.MAX_BODY)
    state: Literal["verifying", "completed", "cancelled"] | None = None


def maintenance_data(window: MaintenanceWindow) -> dict:
    updates = db.session.scalars(sa.select(MaintenanceUpdate).where(MaintenanceUpdate.maintenance_id == window.id)
                                 .order_by(MaintenanceUpdate.display_at.desc(), MaintenanceUpdate.id.desc())).all()
    return {"id": window.id, "public_id": window.public_id, "title": window.title,
            "description": window.description or "", "state": window.state.value, "starts_at": window.starts_at,
            "ends_at": window.ends_at, "services": [service_ref(s) for s in window.services],
            "components": [{"id": c.id, "name": c.name} for c in window.components],
            "updates": [{"public_id": u.public_id, "status": u.status, "body": u.body, "display_at": u.display_at}
                        for u in updates]}


def _maintenance(window_id: int) -> MaintenanceWindow:
    window = load(MaintenanceWindow, window_id, f"There is no maintenance {window_id} on the status page.")
    if not window.public:
        raise NotFound(f"There is no maintenance {window_id} on the status page.")
    return window


def _one_maintenance(window: MaintenanceWindow, status: int = 200, **headers):
    return answer(StatusMaintenance, maintenance_data(window), status, etag=True, headers=headers)


def _rows(model, ids: list[int], field: str) -> list:
    rows = db.session.scalars(sa.select(model).where(model.id.in_(ids))).all()
    unknown = sorted(set(ids) - {row.id for row in rows})
    if unknown:
        raise DomainError(f"'{field}' names ids that do not exist: {', '.join(map(str, unknown))}", field)
    return sorted(rows, key=lambda row: ids.index(row.id))


@bp.route("/status_page/maintenances")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: StatusMaintenanceList}, tag=TAG)
def list_maintenances():
    """Every maintenance announced on the page, latest start first."""
    query = request.context.query
    shown = sa.select(MaintenanceWindow).where(MaintenanceWindow.public.is_(True))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(shown.subquery()))
    rows = db.session.scalars(shown.order_by(MaintenanceWindow.starts_at.desc(), MaintenanceWindow.id.desc())
                              .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(StatusMaintenanceList, {"maintenances": [maintenance_data(w) for w in rows],
                                    "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/status_page/maintenances/<int:window_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: StatusMaintenance}, tag=TAG)
def show_maintenance(window_id: int):
    """One announced maintenance, with its ETag for If-Match."""
    return _one_maintenance(_maintenance(window_id))


@bp.route("/status_page/maintenances", methods=["POST"])
@requires(Role.ADMIN, manages=SOME_TEAM)
@endpoint(body=NewStatusMaintenance, answers={201: StatusMaintenance}, tag=TAG)
def create_maintenance():
    """Schedule maintenance and announce it on the page (admins, and managers of the
    teams of all its services)."""
    body = request.context.json
    services = _rows(Service, body.service_ids, "service_ids")
    components = _rows(Component, body.component_ids, "component_ids") if body.component_ids else None
    window = windows.schedule(current_actor(), title=body.title, starts_at=clock.utc(body.starts_at),
                              ends_at=clock.utc(body.ends_at), services=services, now=clock.now(),
                              description=body.description, public=True, components=components)
    db.session.commit()
    return _one_maintenance(window, 201, Location=url_for("api.show_maintenance", window_id=window.id))


@bp.route("/status_page/maintenances/<int:window_id>", methods=["PATCH"])
@requires(Role.ADMIN, manages=(MaintenanceWindow, "window_id"))
@endpoint(body=StatusMaintenanceChange, answers={200: StatusMaintenance}, tag=TAG, refusals=(409,))
def update_maintenance(window_id: int):
    """Post an update on an announced maintenance, or move it on (409 once it is over,
    or for a move its state does not allow)."""
    window, body = _maintenance(window_id), request.context.json
    check_if_match(StatusMaintenance, maintenance_data(window))
    if body.body is None and body.state is None:
        raise DomainError("Send a `body` (an update for customers) or a `state`.", "body")
    if window.state in (MaintenanceState.COMPLETED, MaintenanceState.CANCELLED):
        raise Conflict("That maintenance is over.")
    allowed = {"verifying": (MaintenanceState.IN_PROGRESS,), "cancelled": (MaintenanceState.SCHEDULED,),
               "completed": (MaintenanceState.IN_PROGRESS, MaintenanceState.VERIFYING)}
    if body.state is not None and window.state not in allowed[body.state]:
        raise Conflict(f"A maintenance that is {window.state.value.replace('_', ' ')} cannot become {body.state}.")
    actor, now = current_actor(), clock.now()
    if body.state == "verifying":
        page_maintenance.post_update(actor, window, body.body or "", now, verifying=True)
    else:
        if body.body is not None:
            page_maintenance.post_update(actor, window, body.body, now)
        if body.state is not None:
            windows.cancel(actor, window, now)
    db.session.commit()
    return _one_maintenance(window)
