"""Services: list and read for everyone signed in, configure for admins."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, request, url_for
from flask_login import current_user

from app import clock
from app.alerts import heartbeats
from app.alerts.models import ChangeEvent, Heartbeat
from app.auth import permissions
from app.auth.forms import EmptyForm
from app.auth.models import Role, Team
from app.errors import DomainError, NotFound
from app.escalation import policies, targets
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.forms import optional_id_choice
from app.incidents.models import Incident
from app.notify import reach
from app.services import service as services
from app.triage import service as triage
from app.services.forms import HeartbeatForm, KeyForm, ServiceForm
from app.services.models import IntegrationKey, Service
from app.web import SOME_TEAM, act_and_flash, current_actor, render, requires, see_other, submit

bp = Blueprint("services", __name__, url_prefix="/services")


def _service_form(form: ServiceForm | None = None, **kwargs) -> ServiceForm:
    form = form or ServiceForm(**kwargs)
    form.team_id.choices = permissions.team_choices(current_user)
    return form


@bp.route("/")
@requires(Role.VIEWER)
def index():
    rows = db.session.scalars(sa.select(Service).order_by(Service.active.desc(), Service.name)).all()
    return render("services/index.html", services=rows)


def _show(service: Service, key_form: KeyForm | None = None, heartbeat_form: HeartbeatForm | None = None,
          status: int = 200):
    recent = db.session.scalars(sa.select(Incident).where(Incident.service_id == service.id)
                                .order_by(Incident.created_at.desc()).limit(10)).all()
    changes = db.session.scalars(sa.select(ChangeEvent).where(ChangeEvent.service_id == service.id)
                                 .order_by(ChangeEvent.at.desc()).limit(20)).all()
    heartbeats = db.session.scalars(sa.select(Heartbeat).where(Heartbeat.service_id == service.id,
                                                               Heartbeat.active.is_(True)).order_by(Heartbeat.name)).all()
    escalation_policies = db.session.scalars(sa.select(EscalationPolicy).order_by(EscalationPolicy.name)).all()
    matrix = triage.service_matrix(service)
    teams = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    policy = db.session.get(EscalationPolicy, service.escalation_policy_id) if service.escalation_policy_id else None
    unpageable = reach.unpageable(targets.people_on(policy, clock.now())) if policy is not None else []
    return render("services/show.html", unpageable=unpageable, service=service, key_form=key_form or KeyForm(), revoke_form=EmptyForm(),
                  escalation_policies=escalation_policies, teams=teams, matrix=matrix,
                  heartbeat_form=heartbeat_form or HeartbeatForm(formdata=None), recent=recent, changes=changes,
                  heartbeats=heartbeats, status=status)


@bp.route("/<int:service_id>")
@requires(Role.VIEWER)
def show(service_id: int):
    return _show(services.get_service(service_id))


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.ADMIN, manages=SOME_TEAM)
def create():
    form = _service_form()
    return submit(form, lambda: services.create_service(current_actor(), name=form.name.data,
                                                        description=form.description.data, team_id=form.team_id.data,
                                                        severity_mapping=form.mapping(), **form.settings()),
                  success=lambda service: f"Service {service.name} is created with an integration key.",
                  to=lambda service: url_for("services.show", service_id=service.id)) or render("services/form.html", form=form, service=None, status=400 if form.errors else 200)


@bp.route("/<int:service_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
def edit(service_id: int):
    service = services.get_service(service_id)
    if request.method == "GET":
        form = _service_form(obj=service)
        form.fill_mapping(service.severity_mapping)
    else:
        form = _service_form()
    return submit(form, lambda: services.update_service(
        current_actor(), service, name=form.name.data, description=form.description.data, team_id=form.team_id.data,
        severity_mapping=form.mapping(), active=form.active.data, **form.settings()),
        success="Service saved.", to=url_for("services.show", service_id=service.id)) \
        or render("services/form.html", form=form, service=services.get_service(service_id),
                  status=400 if form.errors else 200)


@bp.route("/<int:service_id>/keys", methods=["POST"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
def add_key(service_id: int):
    service = services.get_service(service_id)
    form = KeyForm()
    if form.validate_on_submit():
        row = services.add_integration_key(current_actor(), service, name=form.name.data)
        db.session.commit()
        flash(f"Integration key {row.name!r} added.", "success")
        return see_other("services.show", service_id=service.id)
    return _show(service, key_form=form, status=400)


@bp.route("/<int:service_id>/keys/<int:key_id>/revoke", methods=["POST"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
def revoke_key(service_id: int, key_id: int):
    row = db.session.get(IntegrationKey, key_id)
    if row is None or row.service_id != service_id:
        raise NotFound("No such integration key.")
    if EmptyForm().validate_on_submit():
        services.revoke_integration_key(current_actor(), row)
        db.session.commit()
        flash(f"Integration key {row.name!r} is revoked; events sent with it are refused from now on.", "success")
    return see_other("services.show", service_id=service_id)


@bp.route("/<int:service_id>/heartbeats", methods=["POST"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
def add_heartbeat(service_id: int):
    service = services.get_service(service_id)
    form = HeartbeatForm()
    return submit(form, lambda: heartbeats.create(current_actor(), service, name=form.name.data,
                                                  interval_seconds=form.interval_minutes.data * 60,
                                                  grace_seconds=(form.grace_minutes.data or 0) * 60, now=clock.now()),
                  success=lambda heartbeat: f"Heartbeat {heartbeat.name!r} added: have the job call its URL.",
                  to=url_for("services.show", service_id=service.id)) or _show(services.get_service(service_id), heartbeat_form=form, status=400)


@bp.route("/<int:service_id>/heartbeats/<int:heartbeat_id>/remove", methods=["POST"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
def remove_heartbeat(service_id: int, heartbeat_id: int):
    heartbeat = heartbeats.get_heartbeat(heartbeat_id)
    if heartbeat.service_id != service_id:
        raise NotFound("No such heartbeat.")
    heartbeats.remove(current_actor(), heartbeat)
    db.session.commit()
    flash(f"Heartbeat {heartbeat.name!r} removed.", "success")
    return see_other("services.show", service_id=service_id)


@bp.route("/<int:service_id>/escalation", methods=["POST"])
@requires(Role.ADMIN, manages=(Service, "service_id"))
def set_escalation(service_id: int):
    service = services.get_service(service_id)

    def save():
        try:  # empty is none; anything else must be an id (a stray value never clears the policy)
            policy = optional_id_choice(request.form.get("escalation_policy_id", ""))
            fallback = optional_id_choice(request.form.get("fallback_team_id", ""))
        except ValueError:
            raise DomainError("Choose the policy and the team from the lists.") from None
        policies.set_service_policy(current_actor(), service, policy, fallback)
    act_and_flash(save, "Escalation saved.")
    return see_other("services.show", service_id=service_id)
