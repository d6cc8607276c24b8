"""Maintenance windows: schedule and end planned work on services."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app import clock
from app.auth import permissions
from app.auth.forms import EmptyForm
from app.auth.models import Role
from app.errors import DomainError
from app.extensions import db
from app.forms import choices_from
from app.incidents.forms import LocalTimeField
from app.services import maintenance
from app.services.models import MaintenanceState, MaintenanceWindow, Service
from app.statuspage import maintenance as status_maintenance
from app.statuspage import service as status_service
from app.statuspage.forms import MaintenanceUpdateForm
from app.statuspage.models import Component
from app.templating import viewer_zone
from app.web import SOME_TEAM, act_and_flash, current_actor, render, requires, see_other, submit

bp = Blueprint("maintenance", __name__, url_prefix="/maintenance")


class WindowForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=255)], description="e.g. Database upgrade")
    service_ids = SelectMultipleField("Services", coerce=int, validators=[DataRequired(message="Choose at least one service.")],
                                      description="Alerts on these open no incident while the window is in progress.")
    starts_at = LocalTimeField("Starts", description="Your time zone.")
    ends_at = LocalTimeField("Ends")
    description = TextAreaField("Details", validators=[Optional(), Length(max=4000)],
                                description="Shown to customers when the window is announced.")
    public = BooleanField("Announce on the status page", default=True)
    component_ids = SelectMultipleField("Status page components", coerce=int, validators=[Optional()],
                                        description="Under maintenance while it runs. None chosen: the components "
                                                    "of the services above.")


def _form(form: WindowForm | None = None) -> WindowForm:
    form = form or WindowForm()
    services = db.session.scalars(sa.select(Service).where(Service.active.is_(True)).order_by(Service.name))
    form.service_ids.choices = choices_from(s for s in services if permissions.manages(current_user, s))
    form.component_ids.choices = choices_from(status_service.components_in_order())
    return form


def _page(form: WindowForm, status: int = 200):
    now = clock.now()
    current = db.session.scalars(sa.select(MaintenanceWindow).where(MaintenanceWindow.state.in_(maintenance.ACTIVE))
                                 .order_by(MaintenanceWindow.starts_at)).all()
    past = db.session.scalars(sa.select(MaintenanceWindow).where(MaintenanceWindow.state.notin_(maintenance.ACTIVE))
                              .order_by(MaintenanceWindow.ends_at.desc()).limit(20)).all()
    return render("maintenance/index.html", form=form, current=current, past=past, now=now,
                  end_form=EmptyForm(), update_form=MaintenanceUpdateForm(formdata=None), states=MaintenanceState,
                  status=status)


@bp.route("/")
@requires(Role.VIEWER)
def index():
    return _page(_form(WindowForm(formdata=None)))


@bp.route("/new", methods=["POST"])
@requires(Role.ADMIN, manages=SOME_TEAM)
def schedule():
    form = _form()

    def schedule():
        zone = viewer_zone()
        if form.starts_at.data is None or form.ends_at.data is None:
            raise DomainError("Give both the start and the end.")
        services = db.session.scalars(sa.select(Service).where(Service.id.in_(form.service_ids.data))).all()
        components = db.session.scalars(sa.select(Component).where(
            Component.id.in_(form.component_ids.data or []))).all()
        return maintenance.schedule(current_actor(), title=form.title.data,
                                    starts_at=form.starts_at.data.replace(tzinfo=zone),
                                    ends_at=form.ends_at.data.replace(tzinfo=zone), services=services,
                                    now=clock.now(), description=form.description.data or "",
                                    public=form.public.data, components=list(components))
    return submit(form, schedule, success=lambda window: f"Maintenance “{window.title}” scheduled.",
                  to=url_for("maintenance.index")) or _page(form, status=400)


@bp.route("/<int:window_id>/end", methods=["POST"])
@requires(Role.ADMIN, manages=(MaintenanceWindow, "window_id"))
def end(window_id: int):
    window = maintenance.get_window(window_id)
    if act_and_flash(lambda: maintenance.cancel(current_actor(), window, clock.now())):
        flash(f"Maintenance “{window.title}” is {window.state.value}.", "success")
    return see_other("maintenance.index")


@bp.route("/<int:window_id>/public-update", methods=["POST"])
@requires(Role.ADMIN, manages=(MaintenanceWindow, "window_id"))
def public_update(window_id: int):
    """A public update on an announced window; "verifying" moves one in progress on."""
    window = maintenance.get_window(window_id)
    form = MaintenanceUpdateForm()
    if form.validate_on_submit():
        act_and_flash(lambda: status_maintenance.post_update(current_actor(), window, form.body.data or "",
                                                             clock.now(), verifying=request.form.get("verifying") == "1"),
                      f"Update posted on “{window.title}”.")
    else:
        flash("The update is too long.", "error")
    return see_other("maintenance.index")
