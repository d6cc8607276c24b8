"""The triage wizard, the severity guide and model editor, the audience guides.

The wizard is a plain multi-step form: every step posts all answers so far (as
hidden fields) and gets the next step; htmx swaps just the wizard block. No
server-side state, so Back, a reload, or a phone losing signal loses nothing.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, request

from app import clock
from app.auth.models import Role, User
from app.errors import Conflict, DomainError
from app.escalation import service as escalation
from app.escalation.models import SeverityTrigger
from app.escalation.views import target_choices
from app.extensions import db
from app.forms import record_id
from app.services.models import Service
from app.triage import levels
from app.triage import service as triage
from app.triage.decide import EFFECTS, QUESTIONS, REACH, STEPS, Answers, decide
from app.web import current_actor, render, requires, see_other

bp = Blueprint("triage", __name__)

QUESTION = {q.key: q for q in QUESTIONS}
LAST_STEP = len(STEPS)  # the step after the questions: recommendation and confirmation


def _services() -> list[Service]:
    return db.session.scalars(sa.select(Service).where(Service.active.is_(True)).order_by(Service.name)).all()


def _answers(form, services: list[Service]) -> tuple[Answers, dict[str, str]]:
    """Answers from the posted form (every step's fields travel along), and errors."""
    errors = {}
    effects = {}
    for service in services:
        effect = form.get(f"svc-{service.id}", "operational")
        if effect not in EFFECTS:
            errors["services"] = "Choose how each service is affected."
            effect = "operational"
        effects[service.name] = effect
    reach = form.get("reach", "")
    flags = {}
    for key in ("data_loss", "security", "exposure", "workaround"):
        flags[key] = form.get(key) == "yes"
    return Answers(effects, reach if reach in REACH else "some", **flags), errors


def _step_errors(step: int, form, services) -> dict[str, str]:
    _, errors = _answers(form, services)
    keys = STEPS[step] if step < len(STEPS) else ()
    found = {k: v for k, v in errors.items() if k in keys}
    for key in keys:
        question = QUESTION[key]
        if question.kind == "choice" and form.get(key) not in {value for value, _ in question.options}:
            found[key] = "Choose one."
        if question.kind == "yesno" and form.get(key) not in ("yes", "no"):
            found[key] = "Answer yes or no."
    if step == 0 and not found and not any(form.get(f"svc-{s.id}", "operational") != "operational" for s in services):
        found["services"] = "Mark at least one affected service, or declare the incident by hand."
    return found


def _wizard(step: int, form, errors=None, status: int = 200):
    services = _services()
    answers, _ = _answers(form, services)
    recommendation = decide(answers, triage.matrix(services)) if step >= LAST_STEP else None
    affected = [s for s in services if answers.services.get(s.name, "operational") != "operational"]
    affected.sort(key=lambda s: EFFECTS.index(answers.services[s.name]))
    return render("triage/wizard.html", "wizard", step=step, steps=STEPS, questions=QUESTION, form=form,
                  services=services, answers=answers, recommendation=recommendation, affected=affected,
                  errors=errors or {}, effects=EFFECTS, levels=levels.current(), status=status)


@bp.route("/triage/new", methods=["GET", "POST"])
@requires(Role.RESPONDER)
def wizard():
    if request.method == "GET":
        return _wizard(0, {})
    form = request.form
    try:
        step = int(form.get("step", "0"))
    except ValueError:
        abort(400)
    step = max(0, min(step, LAST_STEP))
    if form.get("back"):
        return _wizard(max(step - 1, 0), form)
    if step < LAST_STEP:
        errors = _step_errors(step, form, _services())
        if errors:
            return _wizard(step, form, errors, status=400)
        return _wizard(step + 1, form)
    return _open(form)


def _open(form):
    services = _services()
    answers, _ = _answers(form, services)
    recommendation = decide(answers, triage.matrix(services))
    errors = {}
    severity = levels.parse(form.get("severity") or recommendation.severity)
    if severity is None:
        errors["severity"] = "Choose a severity."
    service = next((s for s in services if str(s.id) == form.get("service_id")), None)
    if service is None:
        errors["service_id"] = "Choose the service the incident belongs to."
    if errors:
        return _wizard(LAST_STEP, form, errors, status=400)
    try:
        incident = triage.open_from_triage(current_actor(), answers=answers, recommendation=recommendation,
                                           severity=severity, reason=form.get("reason", ""),
                                           title=form.get("title", ""), description=form.get("description", ""),
                                           service=service, now=clock.now())
    except DomainError as error:
        db.session.rollback()
        return _wizard(LAST_STEP, form, {error.field or "title": error.message}, status=400)
    db.session.commit()
    from app.incidents import roles
    proposed = roles.assignments(incident, roles.AssignmentState.PROPOSED)
    flash(f"Incident #{incident.id} opened as {incident.severity_name}; its people are being paged"
          + ("; the response roles are proposed: accept them in the war room." if proposed else "."), "success")
    response = see_other("incidents.show", incident_id=incident.id)
    if request.headers.get("HX-Request"):
        response.status_code = 200
        response.headers["HX-Redirect"] = response.headers["Location"]
    return response


# --- the severity guide and model ---------------------------------------------------

@bp.route("/severity")
@requires(Role.VIEWER)
def guide():
    owners = {u.id: u for u in db.session.scalars(sa.select(User))}
    rows = {row.level: row for row in db.session.scalars(sa.select(triage.SeverityLevel))}
    by_level: dict[int, list[str]] = {}
    for trigger in escalation.triggers():
        by_level.setdefault(trigger.severity, []).append(
            f"{escalation.describe_trigger(trigger)} {escalation.TRIGGER_WHEN[trigger.on]}")
    return render("triage/guide.html", levels=levels.current(), rows=rows, owners=owners, today=clock.now().date(),
                  triggers=by_level)


@bp.route("/severity/<int:level>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_level(level: int):
    row = triage.level_row(level)
    errors = {}
    if request.method == "POST":
        form = request.form
        try:
            fields = {
                "label": form.get("label", ""), "definition": form.get("definition", ""),
                "impact_criteria": form.get("impact_criteria", ""), "examples": form.get("examples", ""),
                "response_minutes": int(form.get("response_minutes", "")),
                "resolution_minutes": int(form.get("resolution_minutes", "")),
                "update_cadence_minutes": int(form["update_cadence_minutes"]) if form.get("update_cadence_minutes") else None,
                "postmortem": form.get("postmortem", ""), "urgency": form.get("urgency", ""),
                "owner_id": record_id(form.get("owner_id")),
                "next_review_on": date.fromisoformat(form["next_review_on"]) if form.get("next_review_on") else None,
            }
            triage.update_level(current_actor(), level, clock.now(), **fields)
        except ValueError:
            db.session.rollback()
            errors["form"] = "Minutes are whole numbers and the review date is a date."
        except DomainError as error:
            db.session.rollback()
            errors[error.field or "form"] = error.message
        else:
            db.session.commit()
            flash(f"SEV-{level} saved.", "success")
            return see_other("triage.guide")
    return _edit_page(row, form=request.form if errors else None, errors=errors, status=400 if errors else 200)


def _edit_page(row, *, form=None, errors=None, status: int = 200, trigger_error: str | None = None):
    people = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name)).all()
    return render("triage/edit_level.html", row=row, form=form, errors=errors or {}, people=people, status=status,
                  triggers=[(t, escalation.describe_trigger(t)) for t in escalation.triggers(row.level)],
                  when=escalation.TRIGGER_WHEN,
                  targets=[("managers", "The managers of the service's team"),
                           *((choice.value, choice.label) for choice in target_choices() if choice.value)],
                  trigger_error=trigger_error)


@bp.route("/severity/<int:level>/triggers", methods=["POST"])
@requires(Role.ADMIN)
def add_trigger(level: int):
    row = triage.level_row(level)
    kind, _, ref = request.form.get("target", "").partition(":")
    try:
        escalation.add_trigger(current_actor(), level, on=request.form.get("on", ""), kind=kind,
                               ref=record_id(ref))
    except DomainError as error:
        db.session.rollback()
        return _edit_page(row, trigger_error=error.message, status=409 if isinstance(error, Conflict) else 400)
    db.session.commit()
    flash(f"SEV-{level} trigger added.", "success")
    return see_other("triage.edit_level", level=level, _anchor="triggers")


@bp.route("/severity/<int:level>/triggers/<int:trigger_id>/remove", methods=["POST"])
@requires(Role.ADMIN)
def remove_trigger(level: int, trigger_id: int):
    trigger = db.session.get(SeverityTrigger, trigger_id)
    if trigger is None or trigger.severity != level:
        abort(404)
    escalation.remove_trigger(current_actor(), trigger)
    db.session.commit()
    flash(f"SEV-{level} trigger removed.", "success")
    return see_other("triage.edit_level", level=level, _anchor="triggers")


@bp.route("/services/<int:service_id>/matrix", methods=["POST"])
@requires(Role.ADMIN)
def set_matrix(service_id: int):
    service = db.session.get(Service, service_id)
    if service is None:
        abort(404)
    cells = {}
    for effect in triage.MATRIX_EFFECTS:
        value = request.form.get(effect, "")
        cells[effect] = int(value) if value in ("1", "2", "3", "4") else None
    triage.set_matrix(current_actor(), service, cells)
    db.session.commit()
    flash("Severity matrix saved.", "success")
    return see_other("services.show", service_id=service_id)


GUIDES = {"new-team-member": "New team member", "incident-commander": "Incident commander",
          "manager": "Manager and leader"}


@bp.route("/guides/<audience>")
@requires(Role.VIEWER)
def audience_guide(audience: str):
    if audience not in GUIDES:
        abort(404)
    return render(f"triage/guide_{audience.replace('-', '_')}.html", title=GUIDES[audience], guides=GUIDES,
                  levels=levels.current())
