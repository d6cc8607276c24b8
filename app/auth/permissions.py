"""Who may change a team's configuration: the one rule, asked by the access check
(app.web.enforce_access), by the service functions (again, so the API, commands and
views all meet it) and by templates (to show edit controls only where they work).

A global admin may change everything. A responder (or admin) marked manager of a team
(TeamMembership.is_manager) may change what that team owns: the team's members, its
schedules, escalation policies and services, and the maintenance windows whose every
service is the team's. An object owned by no team (team_id NULL) stays the admins'.
A viewer marked manager manages nothing: changing configuration needs a responder.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.audit.service import Actor
from app.auth.models import Role, Team, TeamMembership, User
from app.errors import Forbidden
from app.extensions import db
from app.forms import choices_from

# The least role a manager needs for the flag to count.
MANAGER_ROLE = Role.RESPONDER
REFUSED = "Only an admin or a manager of its team may change this."


def managed_team_ids(user: User | None) -> set[int]:
    """The teams `user` manages (empty for a viewer, an inactive person or nobody)."""
    if user is None or not user.can(MANAGER_ROLE):
        return set()
    return set(db.session.scalars(sa.select(TeamMembership.team_id).where(
        TeamMembership.user_id == user.id, TeamMembership.is_manager.is_(True))))


def owners(obj: Any) -> set[int | None]:
    """The teams `obj` belongs to: a team itself; a maintenance window, its services'
    teams; anything else, its `team_id`. None among them means an admin's object."""
    if isinstance(obj, Team):
        return {obj.id}
    services = getattr(obj, "services", None)
    if services is not None and not hasattr(obj, "team_id"):
        return {service.team_id for service in services} or {None}
    return {obj.team_id}


def can_manage_team(user: User | None, team: Team | int | None) -> bool:
    """May `user` change `team` (its members, invitations and what it owns)?"""
    if user is None or not user.is_authenticated:
        return False
    if user.can(Role.ADMIN):
        return True
    team_id = team.id if isinstance(team, Team) else team
    return team_id is not None and team_id in managed_team_ids(user)


def manages(user: User | None, obj: Any) -> bool:
    """May `user` change `obj` (a team, schedule, escalation policy, service or
    maintenance window)? Admins always; managers when every owner is their team."""
    if user is None or not user.is_authenticated:
        return False
    if user.can(Role.ADMIN):
        return True
    teams = owners(obj)
    return None not in teams and teams <= managed_team_ids(user)


def manages_some_team(user: User | None) -> bool:
    """An admin, or a manager of at least one team: may open the pages that create
    team-owned things (which team it goes to is checked as it is created)."""
    return user is not None and user.is_authenticated and (user.can(Role.ADMIN) or bool(managed_team_ids(user)))


def team_choices(user: User) -> list:
    """The teams a form may give a schedule or service to: every one, or none, for an
    admin; the teams they manage for a manager."""
    teams = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    if user.can(Role.ADMIN):
        return choices_from(teams, blank="No team")
    mine = managed_team_ids(user)
    return choices_from([team for team in teams if team.id in mine])


def may(actor: Actor, obj: Any) -> bool:
    """`manages` for whoever acts: the system and integrations act on their own paths."""
    return actor.can(Role.ADMIN) or (actor.user is not None and manages(actor.user, obj))


def require(actor: Actor, obj: Any, message: str = REFUSED) -> None:
    """Raise Forbidden unless `actor` may change `obj`."""
    if not may(actor, obj):
        raise Forbidden(message)


def require_team(actor: Actor, team_id: int | None, message: str = REFUSED) -> None:
    """Raise Forbidden unless `actor` may give something to team `team_id` (None:
    no team, which only an admin may choose)."""
    if actor.can(Role.ADMIN):
        return
    if team_id is None or actor.user is None or not can_manage_team(actor.user, team_id):
        raise Forbidden(message)
