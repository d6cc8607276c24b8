"""Teams over the API: list, read, create, change, delete; members and managers.

Admins do everything; a team's managers change its members and managers
(app.auth.permissions). Each change is the service function the Teams page calls, so
it writes the same audit entry.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import request, url_for
from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import pagination_json
from app.api.spec import Input, Name, PageQuery, Pagination, Time, answer, check_if_match, endpoint
from app.api.views import bp, load
from app.auth import service as people
from app.auth.models import Role, Team, TeamMembership, User
from app.errors import NotFound
from app.extensions import db
from app.web import current_actor, requires

MAX_DESCRIPTION = 2_000


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    email: str
    role: str
    is_manager: bool


class TeamOut(BaseModel):
    """A team with its members, managers marked."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    description: str
    created_at: Time
    members: list[Member]


class TeamList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teams: list[TeamOut]
    pagination: Pagination


class NewTeam(Input):
    name: Name
    description: str = Field("", max_length=MAX_DESCRIPTION)


class TeamChange(Input):
    """The fields to change; those left out stay as they are."""

    name: Name | None = None
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)


class Membership(Input):
    is_manager: bool = False


def _member(membership: TeamMembership) -> dict:
    user = membership.user
    return {"id": user.id, "name": user.name, "email": user.email, "role": user.role.value,
            "is_manager": membership.is_manager}


def team_data(team: Team) -> dict:
    return {"id": team.id, "name": team.name, "description": team.description or "", "created_at": team.created_at,
            "members": [_member(m) for m in team.memberships]}


def _team(team_id: int) -> Team:
    return load(Team, team_id, f"There is no team {team_id}.")


def _person(user_id: int) -> User:
    return load(User, user_id, f"There is no person {user_id}.")


def _one(team: Team, status: int = 200, **headers):
    return answer(TeamOut, team_data(team), status, etag=True, headers=headers)


@bp.route("/teams")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: TeamList}, tag="teams")
def list_teams():
    """Every team, by name."""
    query = request.context.query
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Team))
    teams = db.session.scalars(sa.select(Team).order_by(Team.name, Team.id)
                               .offset((query.page - 1) * query.per_page).limit(query.per_page)).all()
    return answer(TeamList, {"teams": [team_data(t) for t in teams],
                             "pagination": pagination_json(query.page, query.per_page, total)})


@bp.route("/teams/<int:team_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: TeamOut}, tag="teams")
def show_team(team_id: int):
    """One team, with its ETag for If-Match."""
    return _one(_team(team_id))


@bp.route("/teams", methods=["POST"])
@requires(Role.ADMIN)
@endpoint(body=NewTeam, answers={201: TeamOut}, tag="teams", refusals=(409,))
def create_team():
    """A new team (admins)."""
    body = request.context.json
    team = people.create_team(current_actor(), name=body.name, description=body.description)
    db.session.commit()
    return _one(team, 201, Location=url_for("api.show_team", team_id=team.id))


@bp.route("/teams/<int:team_id>", methods=["PATCH"])
@requires(Role.ADMIN)
@endpoint(body=TeamChange, answers={200: TeamOut}, tag="teams", refusals=(409,))
def update_team(team_id: int):
    """Change a team's name or description (admins); If-Match guards against a lost update."""
    team, body = _team(team_id), request.context.json
    check_if_match(TeamOut, team_data(team))
    sent = body.model_fields_set
    people.update_team(current_actor(), team, name=body.name if "name" in sent and body.name else team.name,
                       description=body.description if "description" in sent and body.description is not None
                       else team.description)
    db.session.commit()
    return _one(team)


@bp.route("/teams/<int:team_id>", methods=["DELETE"])
@requires(Role.ADMIN)
@endpoint(answers={204: None}, tag="teams", refusals=(409,))
def delete_team(team_id: int):
    """Delete a team that owns nothing (409 says what it still has)."""
    team = _team(team_id)
    check_if_match(TeamOut, team_data(team))
    people.delete_team(current_actor(), team)
    db.session.commit()
    return "", 204


@bp.route("/teams/<int:team_id>/members/<int:user_id>", methods=["PUT"])
@requires(Role.ADMIN, manages=(Team, "team_id"))
@endpoint(body=Membership, answers={200: TeamOut}, tag="teams")
def put_member(team_id: int, user_id: int):
    """Make someone a member (a manager with `is_manager`), or change whether a member
    manages: the same request twice is one change."""
    team, user, body = _team(team_id), _person(user_id), request.context.json
    check_if_match(TeamOut, team_data(team))
    actor = current_actor()
    if any(m.user_id == user.id for m in team.memberships):
        people.set_manager(actor, team, user, body.is_manager)
    else:
        people.add_member(actor, team, user, is_manager=body.is_manager)
    db.session.commit()
    db.session.refresh(team)
    return _one(team)


@bp.route("/teams/<int:team_id>/members/<int:user_id>", methods=["DELETE"])
@requires(Role.ADMIN, manages=(Team, "team_id"))
@endpoint(answers={204: None}, tag="teams")
def remove_member(team_id: int, user_id: int):
    """Take someone out of the team."""
    team, user = _team(team_id), _person(user_id)
    check_if_match(TeamOut, team_data(team))
    if not any(m.user_id == user.id for m in team.memberships):
        raise NotFound(f"{user.name} is not in {team.name}.")
    people.remove_member(current_actor(), team, user)
    db.session.commit()
    return "", 204
