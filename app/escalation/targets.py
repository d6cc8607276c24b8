"""Who a target means at a moment: a person, whoever is on call on a schedule, a team."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.auth.models import Role, Team, TeamMembership, User
from app.engine import memo
from app.extensions import db
from app.incidents.models import Incident


@dataclass(frozen=True)
class OnCall(memo.Key):
    """Who is on call on a schedule at a moment (`on_call`)."""

    schedule_id: int
    at: datetime


@dataclass(frozen=True)
class MembersOf(memo.Key):
    """A team's active members, or its managers (`members`)."""

    team_id: int
    managers_only: bool


@dataclass(frozen=True)
class Admins(memo.Key):
    """Every active admin (`admins`)."""


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
    return list(memo.remembered(OnCall(schedule_id, at), lambda: on_call_many([schedule_id], at)[schedule_id]))


def on_call_many(schedule_ids, at: datetime) -> dict[int, list[User]]:
    """`on_call` for many schedules, with one query per table for all of them.
    The people come with their contact methods (paging reads them next)."""
    from app.oncall.compute import who_is_on_call
    from app.oncall.models import Schedule
    from app.oncall.specs import load_specs
    ids = sorted(set(schedule_ids))
    found: dict[int, list[User]] = {schedule_id: [] for schedule_id in ids}
    if not ids:
        return found
    # An archived schedule puts nobody on call (a snapshot may still name it).
    schedules = db.session.scalars(sa.select(Schedule).where(Schedule.id.in_(ids),
                                                             Schedule.archived_at.is_(None))).all()
    memo.keep(schedules)
    assigned = {}
    for schedule_id, spec in load_specs(schedules, since=at).items():
        assignment = who_is_on_call(spec, at)
        if assignment is not None:
            assigned[schedule_id] = assignment.user_id
    users = {user.id: user for user in db.session.scalars(
        sa.select(User).where(User.id.in_(set(assigned.values()))).options(selectinload(User.contact_methods)))}
    for schedule_id, user_id in assigned.items():
        user = users.get(user_id)
        if user is not None and user.active:
            found[schedule_id] = [user]
    return found


def remember_on_call(schedule_ids, at: datetime) -> None:
    """Within a `memo.sharing` block: ask who is on call on all these schedules at
    once, so `on_call` answers from memory for each."""
    wanted = memo.missing(schedule_ids, lambda i: OnCall(i, at))
    for schedule_id, people_ in on_call_many(wanted, at).items():
        memo.current().put(OnCall(schedule_id, at), people_)


def members(team_id: int, *, managers_only: bool = False) -> list[User]:
    def ask() -> list[User]:
        stmt = sa.select(User).join(TeamMembership, TeamMembership.user_id == User.id).where(
            TeamMembership.team_id == team_id, User.active.is_(True))
        if managers_only:
            stmt = stmt.where(TeamMembership.is_manager.is_(True))
        return db.session.scalars(stmt.order_by(TeamMembership.id)).all()
    return list(memo.remembered(MembersOf(team_id, managers_only), ask))


def remember_members(team_ids, manager_team_ids=()) -> set[int]:
    """Within a `memo.sharing` block: the active members of these teams (and of
    those, the managers) with their contact methods, in one query, so `members`
    answers from memory for each. Returns the people's ids."""
    wanted = memo.missing({*team_ids, *manager_team_ids}, lambda t: MembersOf(t, False))
    if not wanted:
        return set()
    current = memo.current()
    rows = db.session.execute(
        sa.select(TeamMembership.team_id, TeamMembership.is_manager, User)
        .join(User, TeamMembership.user_id == User.id)
        .where(TeamMembership.team_id.in_(wanted), User.active.is_(True))
        .order_by(TeamMembership.id).options(selectinload(User.contact_methods))).all()
    for team_id in wanted:
        current.put(MembersOf(team_id, False), [user for team, _, user in rows if team == team_id])
        current.put(MembersOf(team_id, True), [user for team, manager, user in rows if team == team_id and manager])
    return {user.id for _, _, user in rows}


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
    return list(memo.remembered(Admins(), lambda: db.session.scalars(
        sa.select(User).where(User.role == Role.ADMIN, User.active.is_(True)).order_by(User.id)).all()))


def people_on(policy, now: datetime) -> set[int]:
    """Everyone the policy may page from now on: the people its steps name, everyone
    its schedules may put on call, and the members of its teams."""
    from app.oncall.models import Schedule
    from app.oncall.queries import people_on as on_schedule
    ids: set[int] = set()
    for step in policy.steps:
        for target in step.targets:
            if target.kind == "user":
                ids.add(target.user_id)
            elif target.kind == "team":
                ids.update(user.id for user in members(target.team_id))
            elif target.kind == "schedule" and (schedule := db.session.get(Schedule, target.schedule_id)) is not None:
                ids |= on_schedule(schedule, now)
    return ids
