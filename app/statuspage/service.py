"""The status page's rules: components and their status, public incidents and their
updates, post-mortems, branding. Plain functions with an explicit actor and time;
the caller commits once. Each change writes its audit entry, and every change that
customers can see bumps the page's version (`bump`) in the same transaction, which
is how every web process's cache learns that it must re-render.

`publish_update` is the one way anything is said publicly about an incident: the
incident page calls it, and so may the communications feature.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role
from app.auth.service import valid_time_zone
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents.models import EventKind, Incident
from app.incidents.timeline import record_event
from app.services.models import MaintenanceState, MaintenanceWindow, Service
from app.statuspage.models import (
    IMPACTS, Component, ComponentDay, ComponentGroup, ComponentStatus, ComponentStatusRange, PageSettings, PublicIncident,
    PublicIncidentComponent, PublicIncidentUpdate, Stage, StatusNotice, maintenance_components, worst,
)

SETTINGS_ID = 1
MAX_NAME = 120
MAX_TITLE = 255
MAX_BODY = 10_000
MAX_LOGO = 256 * 1024
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
              b"GIF89a": "image/gif"}
# An incident's impact follows the worst it did to a component (Statuspage's words).
IMPACT_OF = {ComponentStatus.DEGRADED: "minor", ComponentStatus.PARTIAL: "major", ComponentStatus.MAJOR: "critical"}
IMPACT_RANK = {"none": 0, "maintenance": 1, "minor": 2, "major": 3, "critical": 4}


def _admin(actor: Actor) -> None:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only admins configure the status page.")


def _responder(actor: Actor) -> None:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders publish to the status page.")


# --- the page's one row and its version --------------------------------------------

def get_settings() -> PageSettings:
    """The page's settings; a default (not saved) when none were ever written."""
    row = db.session.get(PageSettings, SETTINGS_ID)
    return row if row is not None else PageSettings(id=SETTINGS_ID, name="Firebreak", time_zone="UTC",
                                                     brand_color="#1f4e8c", about="", support_url="", version=0,
                                                     public_id="firebreak000")


def settings_for_update(now: datetime) -> PageSettings:
    row = db.session.get(PageSettings, SETTINGS_ID)
    if row is None:
        row = PageSettings(id=SETTINGS_ID, version=0, changed_at=now)
        db.session.add(row)
        db.session.flush()
    return row


def bump(now: datetime) -> None:
    """The public page changed: one atomic increment, so two changes committed close
    together are never counted as one (a cache could then miss the second)."""
    changed = db.session.execute(
        sa.update(PageSettings).where(PageSettings.id == SETTINGS_ID)
        .values(version=PageSettings.version + 1, changed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not changed:
        row = settings_for_update(now)
        row.version = 1
        row.changed_at = now
    else:
        row = db.session.get(PageSettings, SETTINGS_ID)
        if row is not None:
            db.session.refresh(row, ["version", "changed_at"])


def read_version() -> int:
    return db.session.scalar(sa.select(PageSettings.version).where(PageSettings.id == SETTINGS_ID)) or 0


def page_zone() -> ZoneInfo:
    try:
        return ZoneInfo(get_settings().time_zone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


# --- components ----------------------------------------------------------------------

def get_component(component_id: int) -> Component:
    component = db.session.get(Component, component_id)
    if component is None:
        raise NotFound("No such component.")
    return component


def get_group(group_id: int) -> ComponentGroup:
    group = db.session.get(ComponentGroup, group_id)
    if group is None:
        raise NotFound("No such component group.")
    return group


def components_in_order() -> list[Component]:
    """Every component in page order: groups by position, then their components."""
    rows = db.session.scalars(sa.select(Component).outerjoin(ComponentGroup)
                              .order_by(sa.func.coalesce(ComponentGroup.position, Component.position),
                                        ComponentGroup.id.is_(None), ComponentGroup.id,
                                        Component.position, Component.id)).all()
    return list(rows)


def _clean_name(name: str | None, what: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(f"Give the {what} a name.", "name")
    if len(name) > MAX_NAME:
        raise DomainError(f"Keep the name under {MAX_NAME} characters.", "name")
    return name


def _unique_name(model, name: str, exclude_id: int | None) -> None:
    clash = sa.select(model.id).where(sa.func.lower(model.name) == name.lower())
    if exclude_id is not None:
        clash = clash.where(model.id != exclude_id)
    if db.session.scalar(clash) is not None:
        raise Conflict(f"There is already one called {name}.", "name")


def _status(value) -> ComponentStatus:
    try:
        return ComponentStatus(value)
    except ValueError:
        raise DomainError("Status must be operational, degraded_performance, partial_outage, major_outage "
                          "or under_maintenance.", "status") from None


def _next_position(model, **where) -> int:
    stmt = sa.select(sa.func.max(model.position))
    for column, value in where.items():
        stmt = stmt.where(getattr(model, column) == value if value is not None else getattr(model, column).is_(None))
    return (db.session.scalar(stmt) or 0) + 1


COMPONENT_FIELDS = ["name", "description", "group_id", "position", "only_show_if_degraded", "showcase", "start_date"]


def create_component(actor: Actor, *, name: str, now: datetime, description: str = "",
                     group: ComponentGroup | None = None, services: list[Service] = (), position: int | None = None,
                     only_show_if_degraded: bool = False, showcase: bool = True, start_date: date | None = None,
                     status: ComponentStatus | str = ComponentStatus.OPERATIONAL) -> Component:
    _admin(actor)
    name = _clean_name(name, "component")
    _unique_name(Component, name, None)
    status = _status(status)
    if status == ComponentStatus.MAINTENANCE:
        raise DomainError("Maintenance comes from a maintenance window, not by hand.", "status")
    component = Component(name=name, description=(description or "").strip(), group=group,
                          group_id=group.id if group else None,
                          position=position if position is not None else _next_position(
                              Component, group_id=group.id if group else None),
                          status=status, manual_status=status, only_show_if_degraded=bool(only_show_if_degraded),
                          showcase=bool(showcase), start_date=start_date, created_at=now, updated_at=now)
    component.services = list(services)
    db.session.add(component)
    db.session.flush()
    db.session.add(ComponentStatusRange(component_id=component.id, status=status, started_at=now))
    audit.record(actor, "statuspage.component.create", component, summary=f"Added status page component {name}",
                 after={**audit.snapshot(component, COMPONENT_FIELDS), "services": [s.id for s in services]})
    bump(now)
    return component


def update_component(actor: Actor, component: Component, now: datetime, *, services: list[Service] | None = None,
                     **values) -> None:
    _admin(actor)
    unknown = set(values) - set(COMPONENT_FIELDS)
    if unknown:
        raise DomainError(f"Unknown component field {sorted(unknown)[0]}.")
    before = audit.snapshot(component, COMPONENT_FIELDS)
    if "name" in values:
        values["name"] = _clean_name(values["name"], "component")
        _unique_name(Component, values["name"], component.id)
    if "group_id" in values and values["group_id"] is not None:
        get_group(values["group_id"])
    for key, value in values.items():
        setattr(component, key, value.strip() if key == "description" and value else value)
    if services is not None:
        component.services = list(services)
    component.updated_at = now
    after = audit.snapshot(component, COMPONENT_FIELDS)
    old, new = audit.changed(before, after)
    audit.record(actor, "statuspage.component.update", component, summary=f"Changed component {component.name}",
                 before=old, after={**new, **({"services": [s.id for s in services]} if services is not None else {})})
    bump(now)


def delete_component(actor: Actor, component: Component, now: datetime) -> None:
    """Gone from the page, with its history; incidents that affected it keep their text."""
    _admin(actor)
    audit.record(actor, "statuspage.component.delete", component, summary=f"Removed component {component.name}",
                 before=audit.snapshot(component, COMPONENT_FIELDS))
    db.session.delete(component)
    bump(now)


def create_group(actor: Actor, *, name: str, now: datetime, description: str = "",
                 position: int | None = None) -> ComponentGroup:
    _admin(actor)
    name = _clean_name(name, "group")
    _unique_name(ComponentGroup, name, None)
    group = ComponentGroup(name=name, description=(description or "").strip(),
                           position=position if position is not None else _next_position(ComponentGroup),
                           created_at=now, updated_at=now)
    db.session.add(group)
    db.session.flush()
    audit.record(actor, "statuspage.group.create", group, summary=f"Added component group {name}",
                 after={"name": name, "position": group.position})
    bump(now)
    return group


def update_group(actor: Actor, group: ComponentGroup, now: datetime, *, name: str | None = None,
                 description: str | None = None, position: int | None = None) -> None:
    _admin(actor)
    before = {"name": group.name, "description": group.description, "position": group.position}
    if name is not None:
        name = _clean_name(name, "group")
        _unique_name(ComponentGroup, name, group.id)
        group.name = name
    if description is not None:
        group.description = description.strip()
    if position is not None:
        group.position = position
    group.updated_at = now
    old, new = audit.changed(before, {"name": group.name, "description": group.description, "position": group.position})
    audit.record(actor, "statuspage.group.update", group, summary=f"Changed component group {group.name}",
                 before=old, after=new)
    bump(now)


def delete_group(actor: Actor, group: ComponentGroup, now: datetime) -> None:
    """Its components stay, ungrouped."""
    _admin(actor)
    for component in list(group.components):
        component.group_id = None
        component.group = None
    audit.record(actor, "statuspage.group.delete", group, summary=f"Removed component group {group.name}",
                 before={"name": group.name})
    db.session.delete(group)
    bump(now)


def _open_range(component: Component) -> ComponentStatusRange | None:
    return db.session.scalar(sa.select(ComponentStatusRange).where(
        ComponentStatusRange.component_id == component.id, ComponentStatusRange.ended_at.is_(None))
        .order_by(ComponentStatusRange.started_at.desc()).limit(1))


def _in_maintenance(component: Component) -> bool:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(maintenance_components)
        .join(MaintenanceWindow, MaintenanceWindow.id == maintenance_components.c.maintenance_id)
        .where(maintenance_components.c.component_id == component.id,
               MaintenanceWindow.state.in_((MaintenanceState.IN_PROGRESS, MaintenanceState.VERIFYING)))) > 0


def _incident_impacts(component: Component) -> list[ComponentStatus]:
    return list(db.session.scalars(
        sa.select(PublicIncidentComponent.impact).join(PublicIncident)
        .where(PublicIncidentComponent.component_id == component.id, PublicIncident.status != Stage.RESOLVED)))


def effective_status(manual: ComponentStatus, impacts: list[ComponentStatus], in_maintenance: bool) -> ComponentStatus:
    """What the page shows: the worst of the status set by hand, what open incidents
    say, and maintenance (an outage during maintenance still shows as the outage)."""
    return worst([manual, *impacts, *([ComponentStatus.MAINTENANCE] if in_maintenance else [])])


def recompute(component: Component, now: datetime) -> bool:
    """Bring `status` in line with its inputs, keeping the history as time ranges."""
    new = effective_status(component.manual_status, _incident_impacts(component), _in_maintenance(component))
    if new == component.status:
        return False
    old = component.status
    current = _open_range(component)
    if current is not None:
        current.ended_at = now
    db.session.add(ComponentStatusRange(component_id=component.id, status=new, started_at=now))
    component.status = new
    component.updated_at = now
    db.session.flush()
    db.session.add(StatusNotice(kind="component_update", component_id=component.id, component_ids=[component.id],
                                data={"old_status": old.value, "new_status": new.value}, created_at=now, due_at=now))
    return True


def set_component_status(actor: Actor, component: Component, status, now: datetime) -> bool:
    """Set a component's status by hand (incidents and maintenance may still show worse)."""
    _admin(actor)
    status = _status(status)
    if status == ComponentStatus.MAINTENANCE:
        raise DomainError("Maintenance comes from a maintenance window, not by hand.", "status")
    if status == component.manual_status:
        return False
    before = component.manual_status.value
    component.manual_status = status
    recompute(component, now)
    audit.record(actor, "statuspage.component.status", component,
                 summary=f"Set {component.name} to {status.label.lower()}", before={"status": before},
                 after={"status": status.value, "shown": component.status.value})
    bump(now)
    return True


# --- public incidents ----------------------------------------------------------------

def public_incident_for(incident: Incident) -> PublicIncident | None:
    return db.session.scalar(sa.select(PublicIncident).where(PublicIncident.incident_id == incident.id))


def _clean_body(body: str | None) -> str:
    body = (body or "").strip()
    if not body:
        raise DomainError("Say what customers should know.", "body")
    if len(body) > MAX_BODY:
        raise DomainError(f"Keep an update under {MAX_BODY:,} characters.", "body")
    return body


def _clean_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise DomainError("Give the incident a public title: what customers notice.", "title")
    if len(title) > MAX_TITLE:
        raise DomainError(f"Keep the public title under {MAX_TITLE} characters.", "title")
    return title


def _resolve_components(components: dict) -> dict[Component, ComponentStatus | None]:
    """{Component, id or public id: status or None (not affected)} → checked."""
    resolved: dict[Component, ComponentStatus | None] = {}
    for key, value in components.items():
        if isinstance(key, Component):
            component = key
        elif isinstance(key, int):
            component = db.session.get(Component, key)
        else:
            component = db.session.scalar(sa.select(Component).where(Component.public_id == str(key)))
        if component is None:
            raise DomainError(f"There is no component {key}.", "components")
        if value in (None, "", "none"):
            resolved[component] = None
            continue
        status = _status(value)
        if status not in (*IMPACTS, ComponentStatus.OPERATIONAL):
            raise DomainError("An incident says a component is operational, degraded, in partial or in major outage.",
                              "components")
        resolved[component] = status
    return resolved


def publish_update(actor: Actor, incident: Incident, stage, body: str, now: datetime, *,
                   title: str | None = None, components: dict | None = None,
                   notify: bool = True) -> PublicIncidentUpdate:
    """Say something on the status page about `incident`: the first call makes its
    public record (a public `title` is then needed), later ones add updates.

    `components` maps components (objects, ids or public ids) to what the incident
    does to them now (`degraded_performance`, `partial_outage`, `major_outage`,
    `operational`) or None for "not affected"; leave it out to keep them as they
    are. Resolving sets every affected component back to operational. Subscribers
    hear of it unless `notify` is false. Nothing internal is copied: only the
    title, the stage and the body given here become public.
    """
    _responder(actor)
    try:
        stage = Stage(stage)
    except ValueError:
        raise DomainError("The stage is investigating, identified, monitoring or resolved.", "stage") from None
    body = _clean_body(body)
    public = public_incident_for(incident)
    first = public is None
    if first:
        public = PublicIncident(incident_id=incident.id, name=_clean_title(title), status=stage, impact="none",
                                created_at=now, updated_at=now, started_at=now)
        db.session.add(public)
        db.session.flush()
    elif title is not None and title.strip():
        public.name = _clean_title(title)
    was_open = public.is_open
    wanted = _resolve_components(components) if components is not None else None

    current = {row.component: row for row in public.affected}
    if wanted is not None:
        for component, status in wanted.items():
            row = current.get(component)
            if status is None:
                if row is not None:
                    public.affected.remove(row)
                    del current[component]
            elif row is None:
                row = PublicIncidentComponent(incident=public, component=component, component_id=component.id,
                                              impact=status)  # joins public.affected through the backref
                db.session.add(row)
                current[component] = row
            else:
                row.impact = status
    if stage == Stage.RESOLVED:
        for row in current.values():
            row.impact = ComponentStatus.OPERATIONAL

    public.status = stage
    public.updated_at = now
    if stage == Stage.MONITORING and public.monitoring_at is None:
        public.monitoring_at = now
    if stage == Stage.RESOLVED:
        public.resolved_at = now
    else:
        public.resolved_at = None
    derived = max((IMPACT_OF.get(row.impact, "none") for row in current.values()), key=IMPACT_RANK.get, default="none")
    if IMPACT_RANK[derived] > IMPACT_RANK.get(public.impact, 0):
        public.impact = derived
    db.session.flush()

    before = {component.id: component.status for component in current}
    removed = [c for c in (wanted or {}) if wanted[c] is None]
    for component in [*current, *removed]:
        recompute(component, now)
    affected = [{"code": c.public_id, "name": c.name, "old_status": before[c.id].value, "new_status": c.status.value}
                for c in sorted(current, key=lambda c: (c.position, c.id))]
    update = PublicIncidentUpdate(incident=public, public_incident_id=public.id, status=stage, body=body,
                                  created_at=now, display_at=now, affected_components=affected or None,
                                  deliver_notifications=bool(notify),
                                  created_by_id=actor.user.id if actor.user else None)
    db.session.add(update)
    db.session.flush()

    record_event(incident, EventKind.PUBLIC_UPDATE, actor, via="web", at=now,
                 text=f"Status page: {stage.label}" + (f" — “{public.name}”" if first else "") + f": {body[:300]}",
                 data={"public_incident": public.public_id, "stage": stage.value})
    audit.record(actor, "statuspage.publish", public,
                 summary=f"Published “{public.name}” ({stage.value}) for #{incident.id}",
                 after={"stage": stage.value, "components": {c.public_id: r.impact.value for c, r in current.items()}})
    if notify:
        resolved_now = stage == Stage.RESOLVED and was_open
        db.session.add(StatusNotice(kind="incident_update", public_incident_id=public.id, update_id=update.id,
                                    component_ids=[c.id for c in current], sms=first or resolved_now,
                                    data={"first": first, "resolved": resolved_now}, created_at=now, due_at=now))
    bump(now)
    return update


def publish_postmortem(actor: Actor, incident: Incident, body: str, now: datetime) -> PublicIncident:
    """The public post-mortem summary, shown with the incident; subscribers get it by email."""
    _responder(actor)
    public = public_incident_for(incident)
    if public is None:
        raise DomainError("Publish the incident on the status page first.", "postmortem")
    body = (body or "").strip()
    if len(body) > 50_000:
        raise DomainError("Keep the summary under 50,000 characters.", "postmortem")
    first = public.postmortem_published_at is None and bool(body)
    public.postmortem = body
    public.postmortem_published_at = now if body else None
    public.updated_at = now
    audit.record(actor, "statuspage.postmortem", public, summary=f"Published the post-mortem of “{public.name}”"
                 if body else f"Withdrew the post-mortem of “{public.name}”", after={"length": len(body)})
    if first:
        db.session.add(StatusNotice(kind="postmortem", public_incident_id=public.id,
                                    component_ids=[row.component_id for row in public.affected],
                                    created_at=now, due_at=now))
    bump(now)
    return public


# --- branding ------------------------------------------------------------------------

SETTING_FIELDS = ["name", "time_zone", "brand_color", "about", "support_url"]


def _clean_color(value: str) -> str:
    value = (value or "").strip().lower()
    if len(value) != 7 or value[0] != "#" or any(c not in "0123456789abcdef" for c in value[1:]):
        raise DomainError("Give the colour as #rrggbb.", "brand_color")
    return value


def update_settings(actor: Actor, now: datetime, **values) -> PageSettings:
    _admin(actor)
    unknown = set(values) - set(SETTING_FIELDS)
    if unknown:
        raise DomainError(f"Unknown setting {sorted(unknown)[0]}.")
    row = settings_for_update(now)
    before = audit.snapshot(row, SETTING_FIELDS)
    if "name" in values:
        values["name"] = _clean_name(values["name"], "page")
    if "time_zone" in values and not valid_time_zone(values["time_zone"]):
        raise DomainError("Unknown time zone.", "time_zone")
    if "brand_color" in values:
        values["brand_color"] = _clean_color(values["brand_color"])
    if "support_url" in values:
        url = (values["support_url"] or "").strip()
        if url and not url.startswith(("https://", "http://", "mailto:")):
            raise DomainError("The support link starts with https://, http:// or mailto:.", "support_url")
        values["support_url"] = url[:255]
    if "about" in values:
        values["about"] = (values["about"] or "").strip()[:2000]
    for key, value in values.items():
        setattr(row, key, value)
    if "time_zone" in values and values["time_zone"] != before["time_zone"]:
        # Days are the page's days: roll them up again in the new zone (the ranges remain).
        db.session.execute(sa.delete(ComponentDay))
        row.rollup_due_at = now
    old, new = audit.changed(before, audit.snapshot(row, SETTING_FIELDS))
    audit.record(actor, "statuspage.settings", row, summary="Changed the status page settings", before=old, after=new)
    bump(now)
    return row


def set_logo(actor: Actor, data: bytes | None, now: datetime) -> PageSettings:
    """PNG, JPEG or GIF up to 256 KB, checked by its first bytes (no SVG: it can script)."""
    _admin(actor)
    row = settings_for_update(now)
    if data:
        if len(data) > MAX_LOGO:
            raise DomainError("Keep the logo under 256 KB.", "logo")
        kind = next((mime for magic, mime in LOGO_TYPES.items() if data.startswith(magic)), None)
        if kind is None:
            raise DomainError("The logo must be a PNG, JPEG or GIF image.", "logo")
        row.logo, row.logo_type, row.logo_hash = data, kind, hashlib.sha256(data).hexdigest()[:16]
        summary = "Uploaded a status page logo"
    else:
        row.logo, row.logo_type, row.logo_hash = None, None, None
        summary = "Removed the status page logo"
    audit.record(actor, "statuspage.logo", row, summary=summary, after={"logo": row.logo_hash})
    bump(now)
    return row
