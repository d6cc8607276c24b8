"""The incident page as a whole: its blueprint, what the page and its live block
show (the war room's part included), and how an action is answered: the live block
for htmx or 303 back, or a refused form with its errors. Shared by the routes in
views.py (the incident) and response_views.py (the war room)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, make_response
from flask_login import current_user

from app import clock
from app.alerts.ingest import changes_near
from app.auth.models import Role, Team, User
from app.comms import plan as comms_plan
from app.comms import updates as comms_updates
from app.extensions import db, htmx
from app.forms import choices, choices_from
from app.incidents import queries, roles, warroom
from app.incidents.forms import (
    MergeForm, MilestonesForm, NoteForm, RenameForm, ReopenForm, ReportForm, ResolveForm, RoleForm, SeverityForm,
    TaskForm, TeamRequestForm, WarRoomForm,
)
from app.incidents.models import Incident
from app.incidents.objectives import objectives
from app.notify import queries as notify_queries
from app.postmortems import views as postmortem_views
from app.statuspage.incident_views import public_section
from app.templating import viewer_zone
from app.web import render, see_other

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def poll(incident: Incident | None = None) -> str:
    """Open incidents, and resolved ones whose follow-up (the draft) is on its way, are
    polled often; others ten times less."""
    seconds = current_app.config["LIVE_POLL_SECONDS"]
    often = incident is None or incident.is_open or incident.followup_at is not None
    return f"every {seconds if often else seconds * 10}s"


def unchanged():
    response = make_response("", 204)
    response.headers["Cache-Control"] = "no-store"
    return response


def page_context(incident: Incident, **forms) -> dict:
    zone = viewer_zone()
    milestones_form = forms.pop("milestones_form", None)
    if milestones_form is None:
        milestones_form = MilestonesForm(formdata=None)
        milestones_form.fill(incident, zone)
    severity_form = forms.pop("severity_form", None) or SeverityForm(formdata=None, severity=str(incident.severity))
    return {
        "incident": incident,
        "note_form": forms.pop("note_form", None) or NoteForm(formdata=None),
        "severity_form": severity_form,
        "resolve_form": ResolveForm(formdata=None),
        "reopen_form": ReopenForm(formdata=None),
        "merge_form": forms.pop("merge_form", None) or MergeForm(formdata=None),
        "rename_form": forms.pop("rename_form", None) or RenameForm(formdata=None, title=incident.title),
        "milestones_form": milestones_form,
        **warroom_forms(incident, forms),
        **live_context(incident),
        **postmortem_views.incident_context(incident),
        **public_section(incident),
    }


def page_with(incident: Incident, status: int = 200, **context):
    """The whole incident page with some of its forms replaced (a form with errors, without htmx)."""
    return render("incidents/show.html", status=status, **{**page_context(incident), **context})


def live_context(incident: Incident) -> dict:
    now = clock.now()
    return {
        "incident": incident,
        "now": now,
        "objectives": objectives(incident),
        "alerts": queries.alerts_of(incident),
        "events": queries.timeline(incident),
        "event_total": queries.timeline_count(incident),
        "responders": queries.responders(incident),
        "merged_from": queries.merged_from(incident),
        "changes": changes_near(incident),
        "severity_history": queries.severity_history(incident),
        "log": notify_queries.log_for_incident(incident.id),
        "poll": poll(incident),
        "can_act": current_user.can(Role.RESPONDER),
        **postmortem_views.review_of(incident),
        **warroom_live(incident, now),
    }


def answer(incident: Incident, message: str | None = None):
    """After an action: the live block for htmx, else 303 back to the page."""
    if htmx:
        response = render("incidents/show.html", "live", **live_context(incident))
        if message:
            response.headers["HX-Trigger"] = '{"firebreak:done": null}'
        return response
    if message:
        flash(message, "success")
    return see_other("incidents.show", incident_id=incident.id)


def form_error(incident: Incident, block: str, **forms):
    """A form with its errors: just that form for htmx, else the whole page (400)."""
    context = page_context(incident, **forms)
    if htmx:
        response = render("incidents/show.html", block, status=400, **context)
        response.headers["HX-Retarget"] = f"#{block.replace('_', '-')}"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return render("incidents/show.html", status=400, **context)


# --- the war room's part -------------------------------------------------------------

def assignable_people() -> list[User]:
    """Who may hold a role or own a task: active people above viewer."""
    return db.session.scalars(sa.select(User).where(User.active.is_(True), User.role != Role.VIEWER)
                              .order_by(User.name)).all()


def prepare_form(name: str, form, incident: Incident, people: list[User] | None = None):
    """A war room form with its choices filled in."""
    if name == "role_form":
        form.role.choices = choices((spec.key, spec.name) for spec in roles.definitions())
        form.user_id.choices = choices_from(people if people is not None else assignable_people())
    elif name == "task_form":
        form.owner_id.choices = choices_from(people if people is not None else assignable_people(), blank="Nobody yet")
    elif name == "team_form":
        teams = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
        form.team_id.choices = choices_from(teams)
    return form


def warroom_forms(incident: Incident, forms: dict) -> dict:
    """The war room's forms (outside the live block), fresh unless `forms` holds one with errors."""
    people = assignable_people()
    room = warroom.room(incident)
    fresh = {
        "role_form": lambda: RoleForm(formdata=None),
        "room_form": lambda: WarRoomForm(formdata=None, obj=room),
        "task_form": lambda: TaskForm(formdata=None),
        "report_form": lambda: ReportForm(formdata=None),
        "team_form": lambda: TeamRequestForm(formdata=None),
    }
    return {name: prepare_form(name, forms.pop(name, None) or make(), incident, people) for name, make in fresh.items()}


def warroom_live(incident: Incident, now) -> dict:
    """What the live block shows of the response; cheap enough to poll."""
    me = current_user._get_current_object() if current_user.is_authenticated else None
    return {
        "room": warroom.room(incident),
        "role_board": roles.board(incident),
        "my_roles": roles.roles_of(incident, me),
        "tasks": warroom.tasks(incident),
        "report": warroom.latest_report(incident),
        "decisions": warroom.decisions(incident),
        "team_requests": warroom.requests(incident),
        "joined": warroom.joined_people(incident),
        "comms": comms_updates.status(incident),
        "comms_log": comms_updates.log(incident),
        "comms_plan": comms_plan.progress(incident, now),
    }
