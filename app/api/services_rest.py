"""Services over the API, the REST way: one service with its ETag (with how it escalates
and its severity matrix), PATCH, and DELETE (deactivates). Listing, creating, and the
integration keys are in app.api.services.

A PATCH changes the fields sent and leaves the rest; inside `severity_mapping` and
`severity_matrix` too, the keys sent change (null: no severity) and the others stay.
Each part goes through the function its page calls: app.services.service.update_service
(name, team, mapping, settings, active), app.escalation.policies.set_service_policy
(policy and fallback team), app.triage.service.set_matrix (admins only, as on the
triage page), so the rules and the audit entries are the same. Admins change any
service; a manager of its team changes it too, but not its matrix.

DELETE deactivates, as the service page's Active box and `config apply --prune` do:
a service keeps its incidents and history, takes no new ones, and can be made active
again with `PATCH {"active": true}`. (Revoking an integration key is still
`POST /services/{id}/integration_keys/{key_id}/revoke`.)
"""
from __future__ import annotations

from typing import Annotated, Literal

from flask import request
from pydantic import BaseModel, ConfigDict, Field

from app.api.spec import Id, Input, Ref, Time, answer, check_if_match, endpoint, one_line
from app.api.views import bp, load
from app.auth.models import Role, Team
from app.escalation import policies
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.services import service as configuration
from app.services.models import EVENT_SEVERITIES, Service
from app.triage import service as triage
from app.web import current_actor, requires

MAX_DESCRIPTION = 20_000
Severity = Annotated[int, Field(ge=1, le=4)]
Minutes = Annotated[int, Field(ge=1, le=configuration.MAX_MINUTES)]


ServiceName = one_line(120)


class SeverityMapping(BaseModel):
    """The severity an event of each PagerDuty severity opens; null records the alert only."""

    model_config = ConfigDict(extra="forbid")

    critical: Severity | None
    error: Severity | None
    warning: Severity | None
    info: Severity | None


class SeverityMatrix(BaseModel):
    """The triage wizard's severity when this service is unavailable, degraded, or has a bug; null: none."""

    model_config = ConfigDict(extra="forbid")

    unavailable: Severity | None
    degraded: Severity | None
    bug: Severity | None


class ServiceOut(BaseModel):
    """A service with how it turns alerts into incidents and how they escalate."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    description: str
    team: Ref | None
    active: bool
    severity_mapping: SeverityMapping
    severity_matrix: SeverityMatrix
    escalation_policy: Ref | None
    fallback_team: Ref | None = Field(description="Paged when nobody on the policy can be reached; null: every admin.")
    alert_grouping: Literal["per_alert", "grouped"]
    resolve_with_alerts: bool
    ack_timeout_minutes: int | None
    auto_resolve_minutes: int | None
    created_at: Time


class MappingChange(Input):
    critical: Severity | None = None
    error: Severity | None = None
    warning: Severity | None = None
    info: Severity | None = None


class MatrixChange(Input):
    unavailable: Severity | None = None
    degraded: Severity | None = None
    bug: Severity | None = None


class ServiceChange(Input):
    """The fields to change; those left out stay as they are. Null clears what may be
    empty (team, policy, fallback team, the two timeouts)."""

    name: ServiceName | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    team_id: Id | None = None
    active: bool | None = None
    severity_mapping: MappingChange | None = None
    severity_matrix: MatrixChange | None = None
    escalation_policy_id: Id | None = None
    fallback_team_id: Id | None = None
    alert_grouping: Literal["per_alert", "grouped"] | None = None
    resolve_with_alerts: bool | None = None
    ack_timeout_minutes: Minutes | None = None
    auto_resolve_minutes: Minutes | None = None


SETTINGS = ("alert_grouping", "resolve_with_alerts", "ack_timeout_minutes", "auto_resolve_minutes")
NOT_NULL = ("name", "description", "active", "severity_mapping", "severity_matrix", "alert_grouping",
            "resolve_with_alerts")


def _service(service_id: int) -> Service:
    return load(Service, service_id, f"There is no service {service_id}.")


def service_data(service: Service) -> dict:
    matrix = triage.service_matrix(service)
    policy = db.session.get(EscalationPolicy, service.escalation_policy_id) if service.escalation_policy_id else None
    fallback = db.session.get(Team, service.fallback_team_id) if service.fallback_team_id else None
    return {"id": service.id, "name": service.name, "description": service.description or "", "team": service.team,
            "active": service.active,
            "severity_mapping": {name: service.severity_for(name) for name in EVENT_SEVERITIES},
            "severity_matrix": {effect: matrix.get(effect) for effect in triage.MATRIX_EFFECTS},
            "escalation_policy": policy, "fallback_team": fallback,
            **{name: getattr(service, name) for name in SETTINGS}, "created_at": service.created_at}


def _one(service: Service):
    return answer(ServiceOut, service_data(service), etag=True)


def _refuse_nulls(body: ServiceChange) -> None:
    from app.api.spec import FieldErrors
    nulls = [name for name in NOT_NULL if name in body.model_fields_set and getattr(body, name) is None]
    if nulls:
        raise FieldErrors([{"detail": "must not be null", "pointer": f"/{name}"} for name in nulls])


@bp.route("/services/<int:service_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: ServiceOut}, tag="services")
def show_service(service_id: int):
    """One service, with its escalation policy and severity matrix, and its ETag for If-Match."""
    return _one(_service(service_id))


@bp.route("/services/<int:service_id>", methods=["PATCH"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
@endpoint(body=ServiceChange, answers={200: ServiceOut}, tag="services", refusals=(409,))
def update_service(service_id: int):
    """Change a service: name, description, team, active, severity mapping, alert
    settings, escalation policy and fallback team, severity matrix (admins only). 409
    when the name is taken."""
    service, body = _service(service_id), request.context.json
    check_if_match(ServiceOut, service_data(service))
    _refuse_nulls(body)
    sent, actor = body.model_fields_set, current_actor()
    if sent & {"name", "description", "team_id", "active", "severity_mapping", *SETTINGS}:
        mapping = dict(service.severity_mapping or {})
        if body.severity_mapping is not None:
            mapping.update({key: getattr(body.severity_mapping, key) for key in body.severity_mapping.model_fields_set})
        configuration.update_service(
            actor, service, name=body.name if "name" in sent else service.name,
            description=body.description if "description" in sent else service.description,
            team_id=body.team_id if "team_id" in sent else service.team_id, severity_mapping=mapping,
            active=body.active if "active" in sent else service.active,
            **{name: getattr(body, name) for name in SETTINGS if name in sent})
    if sent & {"escalation_policy_id", "fallback_team_id"}:
        policies.set_service_policy(
            actor, service,
            body.escalation_policy_id if "escalation_policy_id" in sent else service.escalation_policy_id,
            body.fallback_team_id if "fallback_team_id" in sent else service.fallback_team_id)
    if body.severity_matrix is not None:
        cells = {effect: severity for effect, severity in triage.service_matrix(service).items()}
        cells.update({key: getattr(body.severity_matrix, key) for key in body.severity_matrix.model_fields_set})
        triage.set_matrix(actor, service, cells)
    db.session.commit()
    return _one(service)


@bp.route("/services/<int:service_id>", methods=["DELETE"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
@endpoint(answers={204: None}, tag="services")
def delete_service(service_id: int):
    """Deactivate a service: it keeps its incidents and history and takes no new
    incidents or events; `PATCH {"active": true}` brings it back. Deleting an inactive
    service changes nothing."""
    service = _service(service_id)
    check_if_match(ServiceOut, service_data(service))
    configuration.update_service(current_actor(), service, name=service.name, description=service.description,
                                 team_id=service.team_id, severity_mapping=service.severity_mapping, active=False)
    db.session.commit()
    return "", 204
