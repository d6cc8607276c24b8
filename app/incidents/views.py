"""Incident pages: the live list, the live incident page, and every action on it.

Every action is a plain form post answered with 303; with htmx, the same post is
answered with the page's live block (or the form with its errors), so the page
updates in place. Live pages poll with the version they show and get 204 when
nothing changed, which costs one indexed read and holds no worker.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, make_response, request, url_for
from flask_login import current_user

from app import clock
from app.alerts.ingest import changes_near
from app.auth.models import Role, Team
from app.engine import memo
from app.errors import DomainError
from app.extensions import db, htmx
from app.forms import add_error, choices_from, record_id
from app.incidents import queries, roles
from app.incidents import service as incidents
from app.incidents.forms import (
    DeclareForm, MergeForm, MilestonesForm, NoteForm, RenameForm, ReopenForm, ResolveForm, SeverityForm, to_local,
)
from app.incidents.models import EventKind, Incident
from app.escalation import service as escalation
from app.incidents.objectives import objectives
from app.notify import queries as notify_queries
from app.postmortems import views as postmortem_views
from app.services.models import Service
from app.statuspage.incident_views import public_section
from app.templating import viewer_zone
from app.web import current_actor, render, requires, see_other

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _poll(incident: Incident | None = None) -> str:
    """Open incidents, and resolved ones whose follow-up (the draft) is on its way, are
    polled often; others ten times less."""
    seconds = current_app.config["LIVE_POLL_SECONDS"]
    often = incident is None or incident.is_open or incident.followup_at is not None
    return f"every {seconds if often else seconds * 10}s"


@bp.route("/")
@requires(Role.VIEWER)
def index():
    filters = queries.IncidentFilter.from_args(request.args)
    version = queries.list_version()
    if htmx and request.args.get("since") == version:
        return _unchanged()
    number = record_id(request.args.get("page"))
    page = queries.list_page(filters, page=number if number and number < 100_000 else 1)
    services = db.session.scalars(sa.select(Service).order_by(Service.name)).all()
    teams = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    return render("incidents/index.html", "list", page=page, filters=filters, services=services, teams=teams,
                  version=version, counts=queries.open_counts(), now=clock.now(), poll=_poll(),
                  statuses=queries.STATUS_CHOICES)


def _unchanged():
    response = make_response("", 204)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_context(incident: Incident, **forms) -> dict:
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
        **response_views.forms_context(incident, forms),
        **_live_context(incident),
        **postmortem_views.incident_context(incident),
        **public_section(incident),
    }


def page_with(incident: Incident, status: int = 200, **context):
    """The whole incident page with some of its forms replaced (a form with errors, without htmx)."""
    return render("incidents/show.html", status=status, **{**_page_context(incident), **context})


def _live_context(incident: Incident) -> dict:
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
        "poll": _poll(incident),
        "can_act": current_user.can(Role.RESPONDER),
        **postmortem_views.review_of(incident),
        **response_views.live_context(incident, now),
    }


@bp.route("/<int:incident_id>")
@requires(Role.VIEWER)
def show(incident_id: int):
    incident = incidents.get_incident(incident_id)
    if htmx and request.args.get("v") is not None and request.args.get("v") == str(incident.version):
        return _unchanged()
    # A read: the page's parts ask for the incident's roles and the role names
    # several times over; asked once (see `app.engine.memo`).
    with memo.sharing():
        roles.remember_assignments([incident.id])
        if htmx and request.args.get("v") is not None:
            return render("incidents/show.html", "live", **_live_context(incident))
        return render("incidents/show.html", **_page_context(incident))


def _answer(incident: Incident, message: str | None = None):
    """After an action: the live block for htmx, else 303 back to the page."""
    if htmx:
        response = render("incidents/show.html", "live", **_live_context(incident))
        if message:
            response.headers["HX-Trigger"] = '{"firebreak:done": null}'
        return response
    if message:
        flash(message, "success")
    return see_other("incidents.show", incident_id=incident.id)


def _form_error(incident: Incident, block: str, **forms):
    """A form with its errors: just that form for htmx, else the whole page (400)."""
    context = _page_context(incident, **forms)
    if htmx:
        response = render("incidents/show.html", block, status=400, **context)
        response.headers["HX-Retarget"] = f"#{block.replace('_', '-')}"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return render("incidents/show.html", status=400, **context)


def _simple_action(incident_id: int, action, message: str):
    """Acknowledge, resolve, reopen: buttons with nothing to get wrong but the state."""
    incident = incidents.get_incident(incident_id)
    try:
        changed = action(incident)
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _answer(incidents.get_incident(incident_id))
    db.session.commit()
    return _answer(incident, message if changed else None)


@bp.route("/<int:incident_id>/acknowledge", methods=["POST"])
@requires(Role.RESPONDER)
def acknowledge(incident_id: int):
    return _simple_action(incident_id, lambda i: incidents.acknowledge(current_actor(), i, clock.now(), via="web"),
                          "Acknowledged.")


@bp.route("/<int:incident_id>/resolve", methods=["POST"])
@requires(Role.RESPONDER)
def resolve(incident_id: int):
    return _simple_action(incident_id, lambda i: incidents.resolve(current_actor(), i, clock.now(), via="web",
                                                                       note=(request.form.get("note") or "").strip() or None),
                          "Resolved.")


@bp.route("/<int:incident_id>/reopen", methods=["POST"])
@requires(Role.RESPONDER)
def reopen(incident_id: int):
    return _simple_action(incident_id, lambda i: incidents.reopen(current_actor(), i, clock.now(), via="web",
                                                                      reason=(request.form.get("reason") or "").strip()),
                          "Reopened.")


@bp.route("/<int:incident_id>/escalate", methods=["POST"])
@requires(Role.RESPONDER)
def escalate(incident_id: int):
    def escalate_now(incident: Incident) -> bool:
        escalation.escalate_now(current_actor(), incident, clock.now(), via="web")
        return True
    return _simple_action(incident_id, escalate_now, "Escalated.")


def _form_post(incident_id: int, form_class, block: str, act, message):
    """A form on the incident page: validate, act, commit, answer; or the form again
    with its errors beside the fields. `message(incident, result)` says what happened."""
    incident = incidents.get_incident(incident_id)
    form = form_class()
    if form.validate_on_submit():
        try:
            result = act(incident, form)
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
        else:
            db.session.commit()
            return _answer(incident, message(incident, result))
    return _form_error(incidents.get_incident(incident_id), block, **{block: form})


@bp.route("/<int:incident_id>/notes", methods=["POST"])
@requires(Role.RESPONDER)
def add_note(incident_id: int):
    return _form_post(incident_id, NoteForm, "note_form",
                      lambda i, f: incidents.add_note(current_actor(), i, f.text.data, clock.now(), via="web",
                                                      decision=bool(f.decision.data)),
                      lambda i, event: "Decision recorded." if event.kind == EventKind.DECISION else "Note added.")


@bp.route("/<int:incident_id>/severity", methods=["POST"])
@requires(Role.RESPONDER)
def change_severity(incident_id: int):
    return _form_post(incident_id, SeverityForm, "severity_form",
                      lambda i, f: incidents.change_severity(current_actor(), i, f.severity.data, clock.now(),
                                                             reason=f.reason.data, via="web"),
                      lambda i, changed: f"Severity is now {i.severity_name}." if changed else None)


@bp.route("/<int:incident_id>/title", methods=["POST"])
@requires(Role.RESPONDER)
def rename(incident_id: int):
    return _form_post(incident_id, RenameForm, "rename_form",
                      lambda i, f: incidents.rename(current_actor(), i, f.title.data, clock.now(), via="web"),
                      lambda i, _: "Title changed.")


@bp.route("/<int:incident_id>/merge", methods=["POST"])
@requires(Role.RESPONDER)
def merge(incident_id: int):
    incident = incidents.get_incident(incident_id)
    form = MergeForm()
    if form.validate_on_submit():
        try:
            target = incidents.get_incident(form.target.data)
            incidents.merge(current_actor(), incident, target, clock.now(), via="web")
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
        else:
            db.session.commit()
            flash(f"#{incident.id} is merged into #{target.id}.", "success")
            if htmx:
                response = make_response("", 204)
                response.headers["HX-Redirect"] = url_for("incidents.show", incident_id=target.id)
                return response
            return see_other("incidents.show", incident_id=target.id)
    return _form_error(incidents.get_incident(incident_id), "merge_form", merge_form=form)


@bp.route("/<int:incident_id>/milestones", methods=["POST"])
@requires(Role.RESPONDER)
def milestones(incident_id: int):
    zone = viewer_zone()

    def correct(incident: Incident, form: MilestonesForm) -> dict:
        # Inputs show minutes: a field left as shown keeps its stored seconds.
        values = {name: value for name, value in form.values(zone).items()
                  if to_local(value, zone) != to_local(getattr(incident, name), zone)}
        return incidents.update_milestones(current_actor(), incident, clock.now(), via="web", **values)

    return _form_post(incident_id, MilestonesForm, "milestones_form", correct,
                      lambda i, changed: "Milestones corrected." if changed else None)


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.RESPONDER)
def declare():
    form = DeclareForm()
    active = db.session.scalars(sa.select(Service).where(Service.active.is_(True)).order_by(Service.name)).all()
    form.service_id.choices = choices_from(active)
    if request.method == "GET" and record_id(request.args.get("service_id")):
        form.service_id.data = record_id(request.args["service_id"])
    if form.validate_on_submit():
        service = db.session.get(Service, form.service_id.data)
        zone = viewer_zone()
        started = form.impact_started_at.data.replace(tzinfo=zone) if form.impact_started_at.data else None
        try:
            now = clock.now()
            if started is not None and started > now:
                raise DomainError("Impact cannot start in the future.", "impact_started_at")
            incident = incidents.open_incident(current_actor(), service=service, title=form.title.data,
                                               severity=form.severity.data, now=now,
                                               description=form.description.data or "", source="web", via="web",
                                               impact_started_at=started, is_exercise=bool(form.is_exercise.data))
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
        else:
            db.session.commit()
            flash(f"Incident #{incident.id} declared.", "success")
            return see_other("incidents.show", incident_id=incident.id)
    return render("incidents/new.html", form=form, status=400 if form.errors else 200)


from app.incidents import response_views  # noqa: E402  (the war room's routes, on this blueprint)
