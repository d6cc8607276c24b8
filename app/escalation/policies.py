"""Editing escalation policies (admins). Every change is audited; incidents already
escalating keep the snapshot they started with."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth import permissions
from app.auth.models import Team, User
from app.errors import Conflict, DomainError, NotFound
from app.escalation.models import TARGET_KINDS, EscalationPolicy, EscalationStep, EscalationTarget
from app.extensions import db
from app.services.models import Service

MAX_STEPS = 10
MAX_REPEAT = 9
MAX_DELAY = 24 * 60


def _admin(actor: Actor, owned: EscalationPolicy | Service) -> None:
    """An admin, or a manager of the policy's (or service's) team (app.auth.permissions)."""
    permissions.require(actor, owned, "Only an admin or a manager of its team may change this.")


def get_policy(policy_id: int) -> EscalationPolicy:
    policy = db.session.get(EscalationPolicy, policy_id)
    if policy is None:
        raise NotFound("No such escalation policy.")
    return policy


def get_step(policy: EscalationPolicy, step_id: int) -> EscalationStep:
    step = db.session.get(EscalationStep, step_id)
    if step is None or step.policy_id != policy.id:
        raise NotFound("No such step.")
    return step


def _clean(name: str, repeat, policy_id: int | None = None) -> tuple[str, int]:
    name = (name or "").strip()
    if not name:
        raise DomainError("Name the policy.", "name")
    clash = sa.select(EscalationPolicy).where(sa.func.lower(EscalationPolicy.name) == name.lower())
    if policy_id is not None:
        clash = clash.where(EscalationPolicy.id != policy_id)
    if db.session.scalar(clash):
        raise Conflict("A policy with that name exists.", "name")
    try:
        repeat = int(repeat or 0)
    except (TypeError, ValueError):
        raise DomainError("Repeat is a number of times.", "repeat") from None
    if not 0 <= repeat <= MAX_REPEAT:
        raise DomainError(f"Repeat 0 to {MAX_REPEAT} times.", "repeat")
    return name[:120], repeat


def create_policy(actor: Actor, *, name: str, now: datetime, description: str = "", repeat: int = 0,
                  team_id: int | None = None) -> EscalationPolicy:
    permissions.require_team(actor, team_id, "Only an admin, or a manager for their own team, may make a policy.")
    name, repeat = _clean(name, repeat)
    policy = EscalationPolicy(name=name, description=description or "", repeat=repeat, team_id=team_id,
                              created_at=now, updated_at=now)
    db.session.add(policy)
    db.session.flush()
    audit.record(actor, "escalation.create", policy, summary=f"Created escalation policy {name}",
                 after={"name": name, "repeat": repeat})
    return policy


def update_policy(actor: Actor, policy: EscalationPolicy, *, name: str, description: str, repeat: int,
                  now: datetime) -> None:
    _admin(actor, policy)
    before = {"name": policy.name, "description": policy.description, "repeat": policy.repeat}
    policy.name, policy.repeat = _clean(name, repeat, policy.id)
    policy.description = description or ""
    policy.updated_at = now
    before, after = audit.changed(before, {"name": policy.name, "description": policy.description,
                                           "repeat": policy.repeat})
    if after:
        audit.record(actor, "escalation.update", policy, summary=f"Changed escalation policy {policy.name}",
                     before=before, after=after)


def set_policy_team(actor: Actor, policy: EscalationPolicy, team_id: int | None, now: datetime) -> None:
    """Give a policy to a team (its managers may then change it), or to none."""
    _admin(actor, policy)
    permissions.require_team(actor, team_id,
                             "Only an admin, or a manager for their own team, may give a policy to a team.")
    if team_id is not None and db.session.get(Team, team_id) is None:
        raise DomainError("No such team.", "team_id")
    if policy.team_id == team_id:
        return
    audit.record(actor, "escalation.update", policy, summary=f"Changed the team of escalation policy {policy.name}",
                 before={"team_id": policy.team_id}, after={"team_id": team_id})
    policy.team_id, policy.updated_at = team_id, now


def add_step(actor: Actor, policy: EscalationPolicy, *, delay_minutes: int, mode: str, now: datetime) -> EscalationStep:
    _admin(actor, policy)
    if len(policy.steps) >= MAX_STEPS:
        raise DomainError(f"At most {MAX_STEPS} steps.")
    delay_minutes, mode = _step_values(delay_minutes, mode)
    step = EscalationStep(policy=policy, position=len(policy.steps), delay_minutes=delay_minutes, mode=mode)
    db.session.add(step)
    db.session.flush()
    policy.updated_at = now
    audit.record(actor, "escalation.add_step", policy, summary=f"Added step {step.position + 1} to {policy.name}",
                 after={"step_id": step.id, "delay_minutes": delay_minutes, "mode": mode})
    return step


def _step_values(delay_minutes, mode) -> tuple[int, str]:
    try:
        delay_minutes = int(delay_minutes)
    except (TypeError, ValueError):
        raise DomainError("Give the minutes before escalating.", "delay_minutes") from None
    if not 1 <= delay_minutes <= MAX_DELAY:
        raise DomainError(f"Between 1 and {MAX_DELAY} minutes.", "delay_minutes")
    if mode not in ("all", "round_robin"):
        raise DomainError("Page everyone, or round robin.", "mode")
    return delay_minutes, mode


def update_step(actor: Actor, step: EscalationStep, *, delay_minutes: int, mode: str, now: datetime) -> None:
    _admin(actor, step.policy)
    before = {"delay_minutes": step.delay_minutes, "mode": step.mode}
    step.delay_minutes, step.mode = _step_values(delay_minutes, mode)
    step.policy.updated_at = now
    before, after = audit.changed(before, {"delay_minutes": step.delay_minutes, "mode": step.mode})
    if after:
        audit.record(actor, "escalation.update_step", step.policy,
                     summary=f"Changed step {step.position + 1} of {step.policy.name}", before=before, after=after)


def remove_step(actor: Actor, step: EscalationStep, now: datetime) -> None:
    _admin(actor, step.policy)
    policy = step.policy
    position = step.position
    # delete-orphan deletes the step and its targets at the flush; deleting it as well
    # (targets not loaded) made the flush fail ("Failed to add object to the flush context").
    policy.steps.remove(step)
    for index, other in enumerate(policy.steps):
        other.position = index
    policy.updated_at = now
    audit.record(actor, "escalation.remove_step", policy, summary=f"Removed step {position + 1} of {policy.name}")


def move_step(actor: Actor, step: EscalationStep, direction: int, now: datetime) -> None:
    _admin(actor, step.policy)
    steps = list(step.policy.steps)
    index = steps.index(step)
    other = index + direction
    if not 0 <= other < len(steps):
        return
    steps[index].position, steps[other].position = other, index
    step.policy.updated_at = now
    audit.record(actor, "escalation.move_step", step.policy,
                 summary=f"Moved step {index + 1} of {step.policy.name} to {other + 1}")


def replace_steps(actor: Actor, policy: EscalationPolicy, steps: list[tuple[int, str, list[tuple[str, int]]]],
                  now: datetime) -> None:
    """Make the policy's steps exactly `steps`, in order: each (delay_minutes, mode,
    [(target kind, id), …]). The steps already there are changed in place by
    position (so a round robin keeps its turn), the rest added or removed, all through
    the functions above, so each change is checked and audited as on the page; a step
    whose targets differ gets them anew in the order given. Nothing is written unless
    every step and target is good."""
    _admin(actor, policy)
    if len(steps) > MAX_STEPS:
        raise DomainError(f"At most {MAX_STEPS} steps.", "steps")
    for index, (delay_minutes, mode, wanted) in enumerate(steps):
        try:
            _step_values(delay_minutes, mode)
            for kind, ref in wanted:
                find_target(kind, ref)
        except DomainError as error:
            raise DomainError(f"Step {index + 1}: {error.message}", error.field) from None
        if len(set(wanted)) != len(wanted):
            raise Conflict(f"Step {index + 1} names a target twice.", "steps")
    current = list(policy.steps)
    for extra in current[len(steps):][::-1]:
        remove_step(actor, extra, now)
    for index, (delay_minutes, mode, wanted) in enumerate(steps):
        if index < len(current):
            step = current[index]
            if (step.delay_minutes, step.mode) != (delay_minutes, mode):
                update_step(actor, step, delay_minutes=delay_minutes, mode=mode, now=now)
        else:
            step = add_step(actor, policy, delay_minutes=delay_minutes, mode=mode, now=now)
        if [(t.kind, t.ref) for t in step.targets] != list(wanted):
            for target in list(step.targets):
                remove_target(actor, target, now)
            for kind, ref in wanted:
                add_target(actor, step, kind, ref, now)


def find_target(kind: str, ref: int | None):
    """The person, team or schedule a target names; DomainError when there is none."""
    if kind not in TARGET_KINDS:
        raise DomainError("A target is a person, a schedule or a team.", "target")
    if kind == "user":
        found = db.session.get(User, ref) if ref else None
    elif kind == "team":
        found = db.session.get(Team, ref) if ref else None
    else:
        from app.oncall.models import Schedule
        found = db.session.get(Schedule, ref) if ref else None
        if found is not None and found.archived_at is not None:
            raise DomainError(f"{found.name} is archived: it puts nobody on call.", "target")
    if found is None:
        raise DomainError("No such target.", "target")
    return found


def add_target(actor: Actor, step: EscalationStep, kind: str, ref: int, now: datetime) -> EscalationTarget:
    _admin(actor, step.policy)
    find_target(kind, ref)
    if any(t.kind == kind and t.ref == ref for t in step.targets):
        raise Conflict("That target is already on this step.", "target")
    target = EscalationTarget(step=step, kind=kind, **{f"{kind}_id": ref})
    db.session.add(target)
    db.session.flush()
    step.policy.updated_at = now
    from app.escalation.targets import name_of
    audit.record(actor, "escalation.add_target", step.policy,
                 summary=f"Step {step.position + 1} of {step.policy.name} now pages {name_of(kind, ref)}",
                 after={"step_id": step.id, "kind": kind, "ref": ref})
    return target


def remove_target(actor: Actor, target: EscalationTarget, now: datetime) -> None:
    _admin(actor, target.step.policy)
    step = target.step
    from app.escalation.targets import name_of
    summary = f"Step {step.position + 1} of {step.policy.name} no longer pages {name_of(target.kind, target.ref)}"
    step.targets.remove(target)
    db.session.delete(target)
    step.policy.updated_at = now
    audit.record(actor, "escalation.remove_target", step.policy, summary=summary)


def set_service_policy(actor: Actor, service: Service, policy_id: int | None, fallback_team_id: int | None) -> None:
    _admin(actor, service)
    if policy_id is not None and db.session.get(EscalationPolicy, policy_id) is None:
        raise DomainError("No such escalation policy.", "escalation_policy_id")
    if fallback_team_id is not None and db.session.get(Team, fallback_team_id) is None:
        raise DomainError("No such team.", "fallback_team_id")
    before = {"escalation_policy_id": service.escalation_policy_id, "fallback_team_id": service.fallback_team_id}
    service.escalation_policy_id, service.fallback_team_id = policy_id, fallback_team_id
    before, after = audit.changed(before, {"escalation_policy_id": policy_id, "fallback_team_id": fallback_team_id})
    if after:
        audit.record(actor, "service.escalation", service, summary=f"Set how {service.name} escalates",
                     before=before, after=after)


def delete_policy(actor: Actor, policy: EscalationPolicy) -> None:
    _admin(actor, policy)
    users = db.session.scalars(sa.select(Service.name).where(Service.escalation_policy_id == policy.id)).all()
    if users:
        raise Conflict(f"{', '.join(users)} still use{'s' if len(users) == 1 else ''} this policy.")
    audit.record(actor, "escalation.delete", policy, summary=f"Deleted escalation policy {policy.name}",
                 before={"name": policy.name})
    db.session.delete(policy)
