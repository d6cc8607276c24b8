"""Status page components over the API: read for all, configure for admins. The same
service functions as the admin pages (app.statuspage.service); the public,
Statuspage-compatible JSON is /api/v2 (app.statuspage.public_views)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import jsonify, url_for

from app import clock
from app.api import inputs
from app.api.inputs import Field, Invalid
from app.api.schemas import iso, service_ref
from app.api.views import bp, load
from app.auth.models import Role
from app.extensions import db
from app.services.models import Service
from app.statuspage import service as status_page
from app.statuspage.models import Component, ComponentGroup
from app.web import current_actor, requires

HAND_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage")


def component_json(component: Component) -> dict:
    return {
        "id": component.id,
        "public_id": component.public_id,
        "name": component.name,
        "description": component.description or "",
        "group": {"id": component.group.id, "name": component.group.name} if component.group else None,
        "services": [service_ref(s) for s in component.services],
        "position": component.position,
        "status": component.status.value,
        "status_set_by_hand": component.manual_status.value,
        "showcase": component.showcase,
        "only_show_if_degraded": component.only_show_if_degraded,
        "start_date": component.start_date.isoformat() if component.start_date else None,
        "created_at": iso(component.created_at),
        "updated_at": iso(component.updated_at),
    }


def _status(value: Any) -> str:
    if value not in HAND_STATUSES:
        raise Invalid(f"must be one of {', '.join(HAND_STATUSES)}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def _position(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise Invalid("must be a whole number from 0 to 10000")
    return value


def _group_id(value: Any) -> int:
    """A group's id, or 0 for no group."""
    if value == 0 and not isinstance(value, bool):
        return 0
    return inputs.identifier(value)


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise Invalid("must be an array of ids")
    return [inputs.identifier(item) for item in value]


FIELDS = {
    "name": Field(inputs.text(120, blank=False)),
    "description": Field(inputs.text(2_000)),
    "group_id": Field(_group_id),
    "service_ids": Field(_ids),
    "position": Field(_position),
    "showcase": Field(_flag),
    "only_show_if_degraded": Field(_flag),
}
CREATE_FIELDS = {**FIELDS, "name": Field(inputs.text(120, blank=False), required=True), "status": Field(_status)}


def component_references(values: dict) -> tuple[ComponentGroup | None, list[Service] | None]:
    """The group and services named, or a 400 saying which do not exist."""
    errors, group, services = [], None, None
    if values.get("group_id"):
        group = db.session.get(ComponentGroup, values["group_id"])
        if group is None:
            errors.append(f"'group_id' names no component group (there is no group {values['group_id']})")
    if "service_ids" in values:
        services = list(db.session.scalars(sa.select(Service).where(Service.id.in_(values["service_ids"]))))
        unknown = sorted(set(values["service_ids"]) - {s.id for s in services})
        if unknown:
            errors.append(f"'service_ids' names services that do not exist: {', '.join(map(str, unknown))}")
    if errors:
        raise inputs.BadInput(errors)
    return group, services


def _component(component_id: int) -> Component:
    return load(Component, component_id, f"There is no status page component {component_id}.")


@bp.route("/status_page/components")
@requires(Role.VIEWER)
def list_components():
    return jsonify({"components": [component_json(c) for c in status_page.components_in_order()]})


@bp.route("/status_page/components/<int:component_id>")
@requires(Role.VIEWER)
def show_component(component_id: int):
    return jsonify(component_json(_component(component_id)))


@bp.route("/status_page/components", methods=["POST"])
@requires(Role.ADMIN)
def create_component():
    values = inputs.body(CREATE_FIELDS)
    group, services = component_references(values)
    component = status_page.create_component(
        current_actor(), name=values["name"], now=clock.now(), description=values.get("description", ""),
        group=group, services=services or [], position=values.get("position"),
        showcase=values.get("showcase", True), only_show_if_degraded=values.get("only_show_if_degraded", False),
        status=values.get("status", "operational"))
    db.session.commit()
    response = jsonify(component_json(component))
    response.status_code = 201
    response.headers["Location"] = url_for("api.show_component", component_id=component.id)
    return response


@bp.route("/status_page/components/<int:component_id>", methods=["POST"])
@requires(Role.ADMIN)
def update_component(component_id: int):
    component = _component(component_id)
    values = inputs.body(FIELDS)
    group, services = component_references(values)
    changes = {key: values[key] for key in ("name", "description", "position", "showcase", "only_show_if_degraded")
               if key in values}
    if "group_id" in values:
        changes["group_id"] = group.id if group else None
    status_page.update_component(current_actor(), component, clock.now(), services=services, **changes)
    db.session.commit()
    return jsonify(component_json(component))


@bp.route("/status_page/components/<int:component_id>/status", methods=["POST"])
@requires(Role.ADMIN)
def set_component_status(component_id: int):
    """The status set by hand; what the page shows is the worst of it, open incidents and maintenance."""
    component = _component(component_id)
    values = inputs.body({"status": Field(_status, required=True)})
    status_page.set_component_status(current_actor(), component, values["status"], clock.now())
    db.session.commit()
    return jsonify(component_json(component))


@bp.route("/status_page/components/<int:component_id>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete_component(component_id: int):
    component = _component(component_id)
    inputs.body({})
    gone = component_json(component)
    status_page.delete_component(current_actor(), component, clock.now())
    db.session.commit()
    return jsonify(gone)
