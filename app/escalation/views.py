"""Escalation policy pages: read and preview for everyone, edit for admins."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, request, url_for
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app import clock
from app.auth.forms import EmptyForm
from app.auth.models import Role, Team, User
from app.errors import DomainError
from app.escalation import policies, targets
from app.notify import reach
from app.escalation.models import EscalationPolicy, EscalationTarget
from app.escalation.service import preview, snapshot
from app.extensions import db
from app.forms import choices, record_id
from app.services.models import Service
from app.web import act_and_flash, current_actor, render, requires, see_other, submit

bp = Blueprint("escalation", __name__, url_prefix="/escalation-policies")

MODES = choices([("all", "page everyone"), ("round_robin", "round robin: one at a time, in turn")])


class PolicyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    repeat = IntegerField("Repeat the whole policy", default=0, validators=[Optional(), NumberRange(min=0, max=9)],
                          description="Extra rounds after the last step if still nobody acknowledges.")


class StepForm(FlaskForm):
    delay_minutes = IntegerField("Escalate after (minutes)", default=10, validators=[DataRequired(), NumberRange(min=1, max=1440)])
    mode = SelectField("How", choices=MODES, default="all")


class TargetForm(FlaskForm):
    target = SelectField("Add", validators=[DataRequired()])


def target_choices() -> list:
    from app.oncall.models import Schedule
    options = [("", "Choose a person, schedule or team")]
    options += [(f"schedule:{s.id}", f"On call: {s.name}") for s in db.session.scalars(
        sa.select(Schedule).where(Schedule.archived_at.is_(None)).order_by(Schedule.name))]
    options += [(f"user:{u.id}", u.name) for u in db.session.scalars(
        sa.select(User).where(User.active.is_(True), User.role != Role.VIEWER).order_by(User.name))]
    options += [(f"team:{t.id}", f"Team: {t.name}") for t in db.session.scalars(sa.select(Team).order_by(Team.name))]
    return choices(options)


@bp.route("/")
@requires(Role.VIEWER)
def index():
    rows = db.session.scalars(sa.select(EscalationPolicy).order_by(EscalationPolicy.name)).all()
    used = {}
    for service in db.session.scalars(sa.select(Service).where(Service.escalation_policy_id.isnot(None))):
        used.setdefault(service.escalation_policy_id, []).append(service)
    return render("escalation/index.html", policies=rows, used=used)


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def create():
    form = PolicyForm()

    def create_it() -> EscalationPolicy:
        policy = policies.create_policy(current_actor(), name=form.name.data, description=form.description.data,
                                        repeat=form.repeat.data or 0, now=clock.now())
        policies.add_step(current_actor(), policy, delay_minutes=10, mode="all", now=clock.now())
        return policy
    return submit(form, create_it,
                  success=lambda policy: f"Policy {policy.name} created. Add who its first step pages.",
                  to=lambda policy: url_for("escalation.show", policy_id=policy.id)) \
        or render("escalation/new.html", form=form, status=400 if form.errors else 200)


def _show(policy: EscalationPolicy, status: int = 200, **forms):
    target_form = TargetForm(formdata=None)
    target_form.target.choices = target_choices()
    now = clock.now()
    services = db.session.scalars(sa.select(Service).where(Service.escalation_policy_id == policy.id)
                                  .order_by(Service.name)).all()
    return render("escalation/show.html", policy=policy, now=now, services=services,
                  preview=preview(snapshot(policy), now, targets.resolve),
                  form=forms.get("form") or PolicyForm(formdata=None, obj=policy),
                  step_form=forms.get("step_form") or StepForm(formdata=None), target_form=target_form,
                  modes=MODES, button=EmptyForm(formdata=None), status=status,
                  unpageable=reach.unpageable(targets.people_on(policy, now)))


@bp.route("/<int:policy_id>")
@requires(Role.VIEWER)
def show(policy_id: int):
    return _show(policies.get_policy(policy_id))


def _act(policy_id: int, action, message: str | None = None):
    policy = policies.get_policy(policy_id)
    act_and_flash(lambda: action(policy), message)
    return see_other("escalation.show", policy_id=policy_id)


@bp.route("/<int:policy_id>/edit", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def edit(policy_id: int):
    policy = policies.get_policy(policy_id)
    form = PolicyForm()
    return submit(form, lambda: policies.update_policy(current_actor(), policy, name=form.name.data,
                                                       description=form.description.data,
                                                       repeat=form.repeat.data or 0, now=clock.now()),
                  success="Policy saved.", to=url_for("escalation.show", policy_id=policy_id)) or _show(policies.get_policy(policy_id), status=400, form=form)


@bp.route("/<int:policy_id>/steps", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def add_step(policy_id: int):
    form = StepForm()
    if not form.validate_on_submit():
        return _show(policies.get_policy(policy_id), status=400, step_form=form)
    return _act(policy_id, lambda p: policies.add_step(current_actor(), p, delay_minutes=form.delay_minutes.data,
                                                       mode=form.mode.data, now=clock.now()), "Step added.")


@bp.route("/<int:policy_id>/steps/<int:step_id>", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def update_step(policy_id: int, step_id: int):
    form = StepForm()
    if not form.validate_on_submit():
        flash("Give a delay of 1 to 1440 minutes.", "error")
        return see_other("escalation.show", policy_id=policy_id)
    return _act(policy_id, lambda p: policies.update_step(current_actor(), policies.get_step(p, step_id),
                                                          delay_minutes=form.delay_minutes.data, mode=form.mode.data,
                                                          now=clock.now()), "Step saved.")


@bp.route("/<int:policy_id>/steps/<int:step_id>/remove", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def remove_step(policy_id: int, step_id: int):
    return _act(policy_id, lambda p: policies.remove_step(current_actor(), policies.get_step(p, step_id), clock.now()),
                "Step removed.")


@bp.route("/<int:policy_id>/steps/<int:step_id>/move", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def move_step(policy_id: int, step_id: int):
    direction = -1 if request.form.get("direction") == "up" else 1
    return _act(policy_id, lambda p: policies.move_step(current_actor(), policies.get_step(p, step_id), direction,
                                                        clock.now()))


@bp.route("/<int:policy_id>/steps/<int:step_id>/targets", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def add_target(policy_id: int, step_id: int):
    kind, _, ref = (request.form.get("target") or "").partition(":")
    ident = record_id(ref)
    if ident is None:
        flash("Choose who the step pages.", "error")
        return see_other("escalation.show", policy_id=policy_id)
    return _act(policy_id, lambda p: policies.add_target(current_actor(), policies.get_step(p, step_id), kind,
                                                         ident, clock.now()))


@bp.route("/<int:policy_id>/targets/<int:target_id>/remove", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def remove_target(policy_id: int, target_id: int):
    def action(policy):
        target = db.session.get(EscalationTarget, target_id)
        if target is None or target.step.policy_id != policy.id:
            raise DomainError("No such target.")
        policies.remove_target(current_actor(), target, clock.now())
    return _act(policy_id, action)


@bp.route("/<int:policy_id>/delete", methods=["POST"])
@requires(Role.ADMIN, manages=(EscalationPolicy, "policy_id"))
def delete(policy_id: int):
    policy = policies.get_policy(policy_id)
    if not act_and_flash(lambda: policies.delete_policy(current_actor(), policy), "Policy deleted."):
        return see_other("escalation.show", policy_id=policy_id)
    return see_other("escalation.index")
