"""The war room on the incident page: roles, links and summary, tasks, tactical
reports, decisions, responders from other teams, the communication plan; and the
roles guide.

Routes on the incidents blueprint. Like every incident action: a form post
answered with 303, or (htmx) with the page's live block; a form with errors comes
back 400 with just that form (`pages.form_error`).
"""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, request

from app import clock
from app.auth.models import Role, Team, User
from app.comms import plan as comms_plan
from app.errors import DomainError
from app.extensions import db
from app.forms import record_id
from app.incidents import roles, warroom
from app.incidents import service as incidents
from app.incidents.forms import ReportForm, RoleForm, TaskForm, TeamRequestForm, WarRoomForm
from app.incidents.pages import answer, bp, form_error, prepare_form
from app.web import attempt, current_actor, render, requires, submit

FORMS = ("role_form", "room_form", "task_form", "report_form", "team_form")


def _form(incident_id: int, name: str, form_class, act):
    """Validate `form_class`, call `act(incident, form)`, answer like every incident action."""
    incident = incidents.get_incident(incident_id)
    form = prepare_form(name, form_class(), incident)
    return submit(form, lambda: act(incident, form), success=None, to=lambda message: answer(incident, message)) \
        or form_error(incidents.get_incident(incident_id), name, **{name: form})


def _button(incident_id: int, act):
    """A button in the live block: nothing to type, so errors are flashed."""
    incident = incidents.get_incident(incident_id)
    message, refused = attempt(lambda: act(incident))
    if refused is not None:
        flash(refused.message, "error")
        return answer(incidents.get_incident(incident_id))
    return answer(incident, message)


@bp.route("/<int:incident_id>/roles", methods=["POST"])
@requires(Role.RESPONDER)
def assign_role(incident_id: int):
    def act(incident, form):
        user = db.session.get(User, form.user_id.data)
        changed = roles.assign(current_actor(), incident, form.role.data, user, clock.now(), via="web")
        return f"{user.name} is {roles.name_of(form.role.data)}." if changed else None
    return _form(incident_id, "role_form", RoleForm, act)


@bp.route("/<int:incident_id>/roles/proposals/<int:proposal_id>/accept", methods=["POST"])
@requires(Role.RESPONDER)
def accept_role(incident_id: int, proposal_id: int):
    return _button(incident_id, lambda incident: "Role assigned." if roles.accept(
        current_actor(), incident, proposal_id, clock.now(), via="web") else None)


@bp.route("/<int:incident_id>/roles/<role>/release", methods=["POST"])
@requires(Role.RESPONDER)
def release_role(incident_id: int, role: str):
    user = db.session.get(User, request.form.get("user_id", type=record_id) or 0)
    if user is None:
        abort(400)
    return _button(incident_id, lambda incident: "Role released." if roles.release(
        current_actor(), incident, role, user, clock.now(), via="web") else None)


@bp.route("/<int:incident_id>/roles/<role>/checklist", methods=["POST"])
@requires(Role.RESPONDER)
def check_role_item(incident_id: int, role: str):
    item, done = request.form.get("item", ""), request.form.get("done") == "1"
    return _button(incident_id, lambda incident: roles.check(current_actor(), incident, role, item, done,
                                                             clock.now()) and None)


# --- links, summary, tasks, reports, decisions -----------------------------------------------

@bp.route("/<int:incident_id>/war-room", methods=["POST"])
@requires(Role.RESPONDER)
def update_war_room(incident_id: int):
    def act(incident, form):
        changed = warroom.update_room(current_actor(), incident, clock.now(), via="web",
                                      **{name: getattr(form, name).data or "" for name in warroom.ROOM_FIELDS})
        return "War room updated." if changed else None
    return _form(incident_id, "room_form", WarRoomForm, act)


@bp.route("/<int:incident_id>/tasks", methods=["POST"])
@requires(Role.RESPONDER)
def add_task(incident_id: int):
    def act(incident, form):
        now = clock.now()
        due_at = now + timedelta(minutes=form.due_in.data) if form.due_in.data else None
        warroom.add_task(current_actor(), incident, now, title=form.title.data, owner_id=form.owner_id.data,
                         due_at=due_at, via="web")
        return "Task added."
    return _form(incident_id, "task_form", TaskForm, act)


@bp.route("/<int:incident_id>/tasks/<int:task_id>/done", methods=["POST"])
@requires(Role.RESPONDER)
def task_done(incident_id: int, task_id: int):
    done = request.form.get("done", "1") == "1"

    def act(incident):
        task = warroom.get_task(incident, task_id)
        warroom.change_task(current_actor(), task, clock.now(), via="web", done=done)
        return None
    return _button(incident_id, act)


@bp.route("/<int:incident_id>/reports", methods=["POST"])
@requires(Role.RESPONDER)
def add_report(incident_id: int):
    def act(incident, form):
        warroom.report(current_actor(), incident, clock.now(), conditions=form.conditions.data or "",
                       actions=form.actions.data or "", needs=form.needs.data or "",
                       executive_summary=form.executive_summary.data or "", via="web")
        return "Tactical report posted."
    return _form(incident_id, "report_form", ReportForm, act)


@bp.route("/<int:incident_id>/decisions/<int:event_id>", methods=["POST"])
@requires(Role.RESPONDER)
def flag_decision(incident_id: int, event_id: int):
    return _button(incident_id, lambda incident: "Flagged as a decision." if warroom.flag_decision(
        current_actor(), incident, event_id, clock.now()) else None)


# --- other teams ---------------------------------------------------------------------------------

@bp.route("/<int:incident_id>/teams", methods=["POST"])
@requires(Role.RESPONDER)
def request_team(incident_id: int):
    def act(incident, form):
        team = db.session.get(Team, form.team_id.data)
        if team is None:
            raise DomainError("Choose a team.", "team_id")
        warroom.request_team(current_actor(), incident, team, clock.now(), note=form.note.data or "", via="web")
        return f"Paging the {team.name} team."
    return _form(incident_id, "team_form", TeamRequestForm, act)


@bp.route("/<int:incident_id>/join", methods=["POST"])
@requires(Role.RESPONDER)
def join(incident_id: int):
    return _button(incident_id, lambda incident: "You have joined." if warroom.join(
        current_actor(), incident, clock.now(), via="web") else None)


# --- the communication plan ----------------------------------------------------------------------

@bp.route("/<int:incident_id>/comms-plan", methods=["POST"])
@requires(Role.RESPONDER)
def check_plan_item(incident_id: int):
    item, done = request.form.get("item", ""), request.form.get("done") == "1"
    return _button(incident_id, lambda incident: comms_plan.tick(current_actor(), incident, item, done,
                                                                 clock.now()) and None)


# --- the roles, as a guide (admins edit them at /admin/roles, app.comms.views) ---------------------------

@bp.route("/roles", methods=["GET"])
@requires(Role.VIEWER)
def role_guide():
    return render("incidents/roles.html", definitions=roles.definitions())
