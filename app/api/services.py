"""Services and their integration keys over the API: read for all, configure for admins.
One service (GET with its ETag, PATCH, DELETE) is in app.api.services_rest."""
from __future__ import annotations

from flask import jsonify, url_for

from app.api import inputs, queries
from app.api.inputs import Field
from app.api.schemas import key_json, service_json
from app.api.views import bp, load
from app.auth.models import Role, Team
from app.errors import NotFound
from app.extensions import db
from app.services import service as configuration
from app.services.models import IntegrationKey, Service
from app.web import current_actor, requires

MAX_DESCRIPTION = 20_000

CREATE_FIELDS = {
    "name": Field(inputs.text(120, blank=False), required=True),
    "description": Field(inputs.text(MAX_DESCRIPTION)),
    "team_id": Field(inputs.identifier),
    "severity_mapping": Field(inputs.severity_mapping),
}
KEY_FIELDS = {"name": Field(inputs.text(120))}


def _service(service_id: int) -> Service:
    return load(Service, service_id, f"There is no service {service_id}.")


@bp.route("/services")
@requires(Role.VIEWER)
def list_services():
    return jsonify({"services": [service_json(row) for row in queries.services()]})


@bp.route("/services", methods=["POST"])
@requires(Role.ADMIN)
def create_service():
    """A new service comes with one integration key, shown whole in the answer."""
    values = inputs.body(CREATE_FIELDS)
    team_id = values.get("team_id")
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise inputs.BadInput([f"'team_id' names no team (there is no team {team_id})"])
    service = configuration.create_service(current_actor(), name=values["name"],
                                           description=values.get("description", ""), team_id=team_id,
                                           severity_mapping=values.get("severity_mapping"))
    db.session.commit()
    response = jsonify({**service_json(service), "integration_key": key_json(service.integration_keys[0], reveal=True)})
    response.status_code = 201
    response.headers["Location"] = url_for("api.show_service", service_id=service.id)
    return response


@bp.route("/services/<int:service_id>/integration_keys")
@requires(Role.VIEWER)
def list_integration_keys(service_id: int):
    """Revoked keys too. Viewers see only each key's start, as on the service page."""
    service = _service(service_id)
    reveal = current_actor().can(Role.RESPONDER)
    return jsonify({"integration_keys": [key_json(row, reveal=reveal) for row in service.integration_keys]})


@bp.route("/services/<int:service_id>/integration_keys", methods=["POST"])
@requires(Role.ADMIN)
def add_integration_key(service_id: int):
    service = _service(service_id)
    values = inputs.body(KEY_FIELDS)
    row = configuration.add_integration_key(current_actor(), service, name=values.get("name", ""))
    db.session.commit()
    response = jsonify(key_json(row, reveal=True))
    response.status_code = 201
    return response


@bp.route("/services/<int:service_id>/integration_keys/<int:key_id>/revoke", methods=["POST"])
@requires(Role.ADMIN)
def revoke_integration_key(service_id: int, key_id: int):
    """Events sent with a revoked key are refused. Revoking it again changes nothing."""
    service = _service(service_id)
    missing = f"Service {service.name} has no integration key {key_id}."
    row = load(IntegrationKey, key_id, missing)
    if row.service_id != service.id:
        raise NotFound(missing)
    inputs.body({})
    configuration.revoke_integration_key(current_actor(), row)
    db.session.commit()
    return jsonify(key_json(row, reveal=True))
