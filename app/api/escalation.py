"""Escalation policies over the API: list, read, create, change, delete, and their
steps with targets set as one ordered list (PUT); and escalating an incident now.

A policy's steps are one thing to a client: "after N minutes, page these", in order.
So they are set whole, with `PUT /escalation_policies/{id}/steps` (or with `steps` in
the POST that creates the policy), and app.escalation.policies.replace_steps makes
the stored steps match through the same functions the policy page calls: each change
is checked and audited as there, and incidents escalating already keep the snapshot
they started with. Admins do everything; a manager of the policy's team changes it.

`POST /incidents/{id}/escalate` is the incident page's Escalate button: the next step
is paged at once (an acknowledged incident is triggered again).
"""
from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from flask import request, url_for
from pydantic import BaseModel, ConfigDict, Field

from app import clock
from app.api.schemas import pagination_json
from app.api.spec import (
    FieldErrors, Id, Input, Name, PageQuery, Pagination, Ref, Time, answer, check_if_match, endpoint,
)
from app.api.views import bp, load
from app.auth.models import Role, Team, User
from app.errors import Conflict, DomainError
from app.escalation import policies
from app.escalation import service as escalation
from app.escalation.models import EscalationPolicy, EscalationTarget
from app.extensions import db
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.services.models import Service
from app.web import current_actor, requires

MAX_DESCRIPTION = 2_000
MAX_TARGETS = 20


# --- shapes ---------------------------------------------------------------------------------------------

class Target(BaseModel):
    """Whom a step pages: a person, whoever is on call on a schedule, or every member of a team."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["user", "schedule", "team"]
    id: int
    name: str


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    position: int = Field(description="From 1, the order steps page in.")
    delay_minutes: int = Field(description="How long this step waits for an acknowledgement before the next.")
    mode: Literal["all", "round_robin"]
    targets: list[Target]


class EscalationPolicyOut(BaseModel):
    """A policy with its steps in order, and the services that use it."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    description: str
    repeat: int = Field(description="Rounds after the last step, from the first again, while nobody acknowledges.")
    team: Ref | None
    steps: list[Step]
    services: list[Ref]
    created_at: Time
    updated_at: Time


class EscalationPolicyList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    escalation_policies: list[EscalationPolicyOut]
    pagination: Pagination


class TargetIn(Input):
    kind: Literal["user", "schedule", "team"]
    id: Id


class StepIn(Input):
    delay_minutes: int = Field(10, ge=1, le=policies.MAX_DELAY)
    mode: Literal["all", "round_robin"] = "all"
    targets: list[TargetIn] = Field(default_factory=list, max_length=MAX_TARGETS)


class Steps(Input):
    """The whole ordered list of steps: what is not in it is removed (`[]` removes all)."""

    steps: list[StepIn] | None = Field(None, max_length=policies.MAX_STEPS)


class NewPolicy(Input):
    name: Name
    description: str = Field("", max_length=MAX_DESCRIPTION)
    repeat: int = Field(0, ge=0, le=policies.MAX_REPEAT)
    team_id: Id | None = None
    steps: list[StepIn] = Field(default_factory=list, max_length=policies.MAX_STEPS)


class PolicyChange(Input):
    """The fields to change; those left out stay as they are (`team_id: null` gives
    the policy to no team)."""

    name: Name | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    repeat: int | None = Field(None, ge=0, le=policies.MAX_REPEAT)
    team_id: Id | None = None


class Escalated(BaseModel):
    """Where the incident's escalation is after the jump."""

    model_config = ConfigDict(extra="forbid")

    incident_id: int
    status: str
    escalation_state: str | None = Field(description="active, stopped or exhausted (nobody left to page).")
    step: int | None = Field(description="The step paging now, from 1; null when the service has no policy.")
    round: int
    next_escalation_at: Time | None
    paged: list[Ref] = Field(description="Whom this step paged.")


class Escalate(Input):
    """An empty object: escalating takes no input."""


# --- reading ---------------------------------------------------------------------------------------------

def _policy(policy_id: int) -> EscalationPolicy:
    return load(EscalationPolicy, policy_id, f"There is no escalation policy {policy_id}.")


def _name(target: EscalationTarget) -> str:
    if target.kind == "schedule":
        from app.oncall.models import Schedule
        return db.session.get(Schedule, target.schedule_id).name
    return (target.user if target.kind == "user" else target.team).name


def policy_data(policy: EscalationPolicy) -> dict:
    users = db.session.scalars(sa.select(Service).where(Service.escalation_policy_id == policy.id)
                               .order_by(Service.name, Service.id)).all()
    return {"id": policy.id, "name": policy.name, "description": policy.description or "", "repeat": policy.repeat,
            "team": policy.team, "created_at": policy.created_at, "updated_at": policy.updated_at,
            "services": users,
            "steps": [{"id": step.id, "position": step.position + 1, "delay_minutes": step.delay_minutes,
                       "mode": step.mode,
                       "targets": [{"kind": t.kind, "id": t.ref, "name": _name(t)} for t in step.targets]}
                      for step in policy.steps]}


def _one(policy: EscalationPolicy, status: int = 200, **headers):
    return answer(EscalationPolicyOut, policy_data(policy), status, etag=True, headers=headers)


def _set_steps(policy: EscalationPolicy, steps: list[StepIn], pointer: str) -> None:
    """Check every target first, so the answer points at each one that is wrong."""
    errors = []
    for i, step in enumerate(steps):
        for j, target in enumerate(step.targets):
            try:
                policies.find_target(target.kind, target.id)
            except DomainError as error:
                errors.append({"detail": error.message, "pointer": f"{pointer}/{i}/targets/{j}"})
    if errors:
        raise FieldErrors(errors)
    policies.replace_steps(current_actor(), policy,
                           [(s.delay_minutes, s.mode, [(t.kind, t.id) for t in s.targets]) for s in steps], clock.now())


# --- routes -------------------------------------------------------------------------------------------------

@bp.route("/escalation_policies")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: EscalationPolicyList}, tag="escalation policies")
def list_escalation_policies():
    """Every escalation policy, by name."""
    query = request.context.query
    total = db.session.scalar(sa.select(sa.func.count()).select_from(EscalationPolicy))
    rows = db.session.scalars(sa.select(EscalationPolicy).order_by(EscalationPolicy.name, EscalationPolicy.id)
                              .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(EscalationPolicyList, {"escalation_policies": [policy_data(p) for p in rows],
                                         "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/escalation_policies/<int:policy_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: EscalationPolicyOut}, tag="escalation policies")
def show_escalation_policy(policy_id: int):
    """One policy, with its ETag for If-Match."""
    return _one(_policy(policy_id))


@bp.route("/escalation_policies", methods=["POST"])
@requires(Role.ADMIN)
@endpoint(body=NewPolicy, answers={201: EscalationPolicyOut}, tag="escalation policies", refusals=(409,))
def create_escalation_policy():
    """A new policy (admins), with its steps if given: 409 when the name is taken."""
    body, actor, now = request.context.json, current_actor(), clock.now()
    if body.team_id is not None and db.session.get(Team, body.team_id) is None:
        raise FieldErrors([{"detail": f"names no team (there is no team {body.team_id})", "pointer": "/team_id"}])
    policy = policies.create_policy(actor, name=body.name, now=now, description=body.description,
                                    repeat=body.repeat, team_id=body.team_id)
    _set_steps(policy, body.steps, "/steps")
    db.session.commit()
    return _one(policy, 201, Location=url_for("api.show_escalation_policy", policy_id=policy.id))


@bp.route("/escalation_policies/<int:policy_id>", methods=["PATCH"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
@endpoint(body=PolicyChange, answers={200: EscalationPolicyOut}, tag="escalation policies", refusals=(409,))
def update_escalation_policy(policy_id: int):
    """Change a policy's name, description, repeat or team; its steps: PUT …/steps."""
    policy, body = _policy(policy_id), request.context.json
    check_if_match(EscalationPolicyOut, policy_data(policy))
    sent, actor, now = body.model_fields_set, current_actor(), clock.now()
    nulls = sorted(name for name in ("name", "description", "repeat") if name in sent and getattr(body, name) is None)
    if nulls:
        raise FieldErrors([{"detail": "must not be null", "pointer": f"/{name}"} for name in nulls])
    if {"name", "description", "repeat"} & sent:
        policies.update_policy(actor, policy, name=body.name if "name" in sent else policy.name,
                               description=body.description if "description" in sent else policy.description,
                               repeat=body.repeat if "repeat" in sent else policy.repeat, now=now)
    if "team_id" in sent:
        policies.set_policy_team(actor, policy, body.team_id, now)
    db.session.commit()
    return _one(policy)


@bp.route("/escalation_policies/<int:policy_id>/steps", methods=["PUT"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
@endpoint(body=Steps, answers={200: EscalationPolicyOut}, tag="escalation policies", refusals=(409,))
def put_escalation_steps(policy_id: int):
    """Set the policy's steps, in order, each with its targets: the same list twice is
    one change. Steps are kept by position; those past the end go."""
    policy, body = _policy(policy_id), request.context.json
    if body.steps is None:  # required, but an unknown policy is a 404 first
        raise FieldErrors([{"detail": "is missing", "pointer": "/steps"}])
    check_if_match(EscalationPolicyOut, policy_data(policy))
    _set_steps(policy, body.steps, "/steps")
    db.session.commit()
    db.session.refresh(policy)
    return _one(policy)


@bp.route("/escalation_policies/<int:policy_id>", methods=["DELETE"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
@endpoint(answers={204: None}, tag="escalation policies", refusals=(409,))
def delete_escalation_policy(policy_id: int):
    """Delete a policy no service uses (409 names those that do)."""
    policy = _policy(policy_id)
    check_if_match(EscalationPolicyOut, policy_data(policy))
    policies.delete_policy(current_actor(), policy)
    db.session.commit()
    return "", 204


@bp.route("/incidents/<int:incident_id>/escalate", methods=["POST"])
@requires(Role.RESPONDER)
@endpoint(body=Escalate, answers={200: Escalated}, tag="incidents", refusals=(409,))
def escalate_incident(incident_id: int):
    """Page the next step now, as the incident page's Escalate button does: an
    acknowledged incident is triggered again; past the last step, escalation starts
    over. Writes the `escalated` timeline event (via `api`) and the audit entry. The
    body is `{}`. 409 for a resolved incident."""
    incident = load(Incident, incident_id, f"There is no incident #{incident_id}.")
    if incident.status == Status.RESOLVED:
        raise Conflict(f"Incident #{incident.id} is resolved: reopen it to escalate.")
    escalation.escalate_now(current_actor(), incident, clock.now(), via="api")
    db.session.commit()
    return answer(Escalated, escalated_data(incident))


def escalated_data(incident: Incident) -> dict:
    paged = db.session.scalar(sa.select(IncidentEvent).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EventKind.ESCALATED,
        IncidentEvent.via == "engine").order_by(IncidentEvent.id.desc()).limit(1))
    ids = (paged.data or {}).get("users") or [] if paged is not None else []
    people = db.session.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.name)).all() if ids else []
    return {"incident_id": incident.id, "status": incident.status.value, "escalation_state": incident.escalation_state,
            "step": incident.escalation_step + 1 if incident.escalation_snapshot else None,
            "round": (incident.escalation_round or 0) + 1, "next_escalation_at": incident.next_escalation_at,
            "paged": people}
