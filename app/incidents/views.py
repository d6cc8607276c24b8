"""Incident pages: the live list, the live incident page, and every action on it.

Every action is a plain form post answered with 303; with htmx, the same post is
answered with the page's live block (or the form with its errors), so the page
updates in place. Live pages poll with the version they show and get 204 when
nothing changed, which costs one indexed read and holds no worker.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash, make_response, request, url_for

from app import clock
from app.auth.models import Role, Team
from app.engine import memo
from app.errors import DomainError
from app.escalation import service as escalation
from app.extensions import db, htmx
from app.forms import choices_from, record_id
from app.incidents import queries, roles
from app.incidents import service as incidents
from app.incidents.forms import DeclareForm, MergeForm, MilestonesForm, NoteForm, RenameForm, SeverityForm, to_local
from app.incidents.models import EventKind, Incident
from app.incidents.pages import answer, bp, form_error, live_context, page_context, poll, unchanged
from app.services.models import Service
from app.templating import viewer_zone
from app.web import attempt, current_actor, render, requires, submit


@bp.route("/")
@requires(Role.VIEWER)
def index():
    filters = queries.IncidentFilter.from_args(request.args)
    version = queries.list_version()
    if htmx and request.args.get("since") == version:
        return unchanged()
    number = record_id(request.args.get("page"))
    page = queries.list_page(filters, page=number if number and number < 100_000 else 1)
    services = db.session.scalars(sa.select(Service).order_by(Service.name)).all()
    teams = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    return render("incidents/index.html", "list", page=page, filters=filters, services=services, teams=teams,
                  version=version, counts=queries.open_counts(), now=clock.now(), poll=poll(),
                  statuses=queries.STATUS_CHOICES)


@bp.route("/<int:incident_id>")
@requires(Role.VIEWER)
def show(incident_id: int):
    incident = incidents.get_incident(incident_id)
    if htmx and request.args.get("v") is not None and request.args.get("v") == str(incident.version):
        return unchanged()
    # A read: the page's parts ask for the incident's roles and the role names
    # several times over; asked once (see `app.engine.memo`).
    with memo.sharing():
        roles.remember_assignments([incident.id])
        if htmx and request.args.get("v") is not None:
            return render("incidents/show.html", "live", **live_context(incident))
        return render("incidents/show.html", **page_context(incident))


def _simple_action(incident_id: int, action, message: str):
    """Acknowledge, resolve, reopen: buttons with nothing to get wrong but the state."""
    incident = incidents.get_incident(incident_id)
    changed, refused = attempt(lambda: action(incident))
    if refused is not None:
        flash(refused.message, "error")
        return answer(incidents.get_incident(incident_id))
    return answer(incident, message if changed else None)


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
    return submit(form, lambda: act(incident, form), success=None,
                  to=lambda result: answer(incident, message(incident, result))) \
        or form_error(incidents.get_incident(incident_id), block, **{block: form})


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

    def merge_into() -> Incident:
        target = incidents.get_incident(form.target.data)
        incidents.merge(current_actor(), incident, target, clock.now(), via="web")
        return target

    def go_to(target: Incident):
        if htmx:
            response = make_response("", 204)
            response.headers["HX-Redirect"] = url_for("incidents.show", incident_id=target.id)
            return response
        return url_for("incidents.show", incident_id=target.id)
    return submit(form, merge_into, success=lambda target: f"#{incident.id} is merged into #{target.id}.", to=go_to) \
        or form_error(incidents.get_incident(incident_id), "merge_form", merge_form=form)


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

    def declare_it() -> Incident:
        started = form.impact_started_at.data.replace(tzinfo=viewer_zone()) if form.impact_started_at.data else None
        now = clock.now()
        if started is not None and started > now:
            raise DomainError("Impact cannot start in the future.", "impact_started_at")
        return incidents.open_incident(current_actor(), service=db.session.get(Service, form.service_id.data),
                                       title=form.title.data, severity=form.severity.data, now=now,
                                       description=form.description.data or "", source="web", via="web",
                                       impact_started_at=started, is_exercise=bool(form.is_exercise.data))
    return submit(form, declare_it, success=lambda incident: f"Incident #{incident.id} declared.",
                  to=lambda incident: url_for("incidents.show", incident_id=incident.id)) or render("incidents/new.html", form=form, status=400 if form.errors else 200)


from app.incidents import response_views  # noqa: E402  (the war room's routes, on this blueprint)
