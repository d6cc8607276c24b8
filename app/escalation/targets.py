"""Who a target means at a moment: a person, whoever is on call on a schedule, a team."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.auth.models import Role, Team, TeamMembership, User
from app.extensions import db
from app.incidents.models import Incident


def name_of(kind: str, ref: int) -> str:
    if kind == "user":
        user = db.session.get(User, ref)
        return user.name if user else f"person {ref}"
    if kind == "team":
        team = db.session.get(Team, ref)
        return f"the {team.name} team" if team else f"team {ref}"
    if kind == "schedule":
        from app.oncall.models import Schedule
        schedule = db.session.get(Schedule, ref)
        return f"on call for {schedule.name}" if schedule else f"schedule {ref}"
    return kind


def on_call(schedule_id: int, at: datetime) -> list[User]:
    """Whoever is on call on the schedule at `at` (the oncall domain's pure answer)."""
    from app.oncall.compute import who_is_on_call
    from app.oncall.models import Schedule
    from app.oncall.specs import load_spec
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or schedule.archived_at is not None:
        return []  # an archived schedule puts nobody on call (a snapshot may still name it)
    assignment = who_is_on_call(load_spec(schedule, since=at), at)
    if assignment is None:
        return []
    user = db.session.get(User, assignment.user_id)
    return [user] if user is not None and user.active else []


def members(team_id: int, *, managers_only: bool = False) -> list[User]:
    stmt = sa.select(User).join(TeamMembership, TeamMembership.user_id == User.id).where(
        TeamMembership.team_id == team_id, User.active.is_(True))
    if managers_only:
        stmt = stmt.where(TeamMembership.is_manager.is_(True))
    return db.session.scalars(stmt.order_by(TeamMembership.id)).all()


def resolve(target: dict, at: datetime) -> list[User]:
    kind, ref = target["kind"], target["id"]
    if kind == "user":
        user = db.session.get(User, ref)
        return [user] if user is not None and user.active else []
    if kind == "schedule":
        return on_call(ref, at)
    if kind == "team":
        return members(ref)
    return []


def people(targets: list[dict], at: datetime, incident: Incident | None = None) -> list[User]:
    """Everyone the targets mean at `at`, each once, in target order."""
    out: list[User] = []
    for target in targets:
        for person in resolve(target, at):
            if person not in out:
                out.append(person)
    return out


def for_trigger(trigger, at: datetime, incident: Incident) -> list[User]:
    if trigger.kind == "managers":
        team_id = incident.service.team_id
        return members(team_id, managers_only=True) if team_id else []
    ref = {"user": trigger.user_id, "schedule": trigger.schedule_id, "team": trigger.team_id}.get(trigger.kind)
    return resolve({"kind": trigger.kind, "id": ref}, at) if ref else []


def fallback(incident: Incident) -> list[User]:
    """The service's fallback: its fallback team, else every active admin."""
    service = incident.service
    if service.fallback_team_id:
        found = members(service.fallback_team_id)
        if found:
            return found
    return db.session.scalars(sa.select(User).where(User.role == Role.ADMIN, User.active.is_(True))
                              .order_by(User.id)).all()
