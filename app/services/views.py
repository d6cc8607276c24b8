"""Services: list and read for everyone signed in, configure for admins."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, request

from app.auth.forms import EmptyForm
from app.auth.models import Role, Team
from app.errors import DomainError, NotFound
from app.extensions import db
from app.forms import add_error, choices_from
from app.services import service as services
from app.services.forms import KeyForm, ServiceForm
from app.services.models import IntegrationKey, Service
from app.web import current_actor, render, requires, see_other

bp = Blueprint("services", __name__, url_prefix="/services")


def _service_form(form: ServiceForm | None = None, **kwargs) -> ServiceForm:
    form = form or ServiceForm(**kwargs)
    form.team_id.choices = choices_from(db.session.scalars(sa.select(Team).order_by(Team.name)), blank="No team")
    return form


@bp.route("/")
@requires(Role.VIEWER)
def index():
    rows = db.session.scalars(sa.select(Service).order_by(Service.active.desc(), Service.name)).all()
    return render("services/index.html", services=rows)


@bp.route("/<int:service_id>")
@requires(Role.VIEWER)
def show(service_id: int):
    service = services.get_service(service_id)
    return render("services/show.html", service=service, key_form=KeyForm(), revoke_form=EmptyForm())


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def create():
    form = _service_form()
    if form.validate_on_submit():
        try:
            service = services.create_service(current_actor(), name=form.name.data, description=form.description.data,
                                              team_id=form.team_id.data, severity_mapping=form.mapping())
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
        else:
            db.session.commit()
            flash(f"Service {service.name} is created with an integration key.", "success")
            return see_other("services.show", service_id=service.id)
    return render("services/form.html", form=form, service=None, status=400 if form.errors else 200)


@bp.route("/<int:service_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit(service_id: int):
    service = services.get_service(service_id)
    if request.method == "GET":
        form = _service_form(obj=service)
        form.fill_mapping(service.severity_mapping)
    else:
        form = _service_form()
    if form.validate_on_submit():
        try:
            services.update_service(current_actor(), service, name=form.name.data, description=form.description.data,
                                    team_id=form.team_id.data, severity_mapping=form.mapping(),
                                    active=form.active.data)
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
            service = services.get_service(service_id)
        else:
            db.session.commit()
            flash("Service saved.", "success")
            return see_other("services.show", service_id=service.id)
    return render("services/form.html", form=form, service=service, status=400 if form.errors else 200)


@bp.route("/<int:service_id>/keys", methods=["POST"])
@requires(Role.ADMIN)
def add_key(service_id: int):
    service = services.get_service(service_id)
    form = KeyForm()
    if form.validate_on_submit():
        row = services.add_integration_key(current_actor(), service, name=form.name.data)
        db.session.commit()
        flash(f"Integration key {row.name!r} added.", "success")
        return see_other("services.show", service_id=service.id)
    return render("services/show.html", service=service, key_form=form, revoke_form=EmptyForm(), status=400)


@bp.route("/<int:service_id>/keys/<int:key_id>/revoke", methods=["POST"])
@requires(Role.ADMIN)
def revoke_key(service_id: int, key_id: int):
    row = db.session.get(IntegrationKey, key_id)
    if row is None or row.service_id != service_id:
        raise NotFound("No such integration key.")
    if EmptyForm().validate_on_submit():
        services.revoke_integration_key(current_actor(), row)
        db.session.commit()
        flash(f"Integration key {row.name!r} is revoked; events sent with it are refused from now on.", "success")
    return see_other("services.show", service_id=service_id)
