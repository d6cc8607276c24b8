"""Configuring the status page (admins): components and groups, their status by hand,
branding and logo, subscribers."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, request, url_for

from app import clock
from app.auth.models import Role
from app.errors import DomainError
from app.extensions import db
from app.forms import choices, choices_from
from app.services.models import Service
from app.statuspage import public, service, subscribers
from app.statuspage.forms import ComponentForm, GroupForm, LogoForm, SettingsForm, StatusForm
from app.statuspage.models import (
    ComponentGroup, DeliveryStatus, Subscriber, SubscriberChannel, SubscriberDelivery,
)
from app.web import act_and_flash, current_actor, render, requires, see_other, submit

bp = Blueprint("statuspage_admin", __name__, url_prefix="/admin/status")


def _changed() -> None:
    """This process shows its own change at once; others within their check interval."""
    current_app.extensions["statuspage_cache"].expire()


def _submit(form, action, success, to: str = "statuspage_admin.index"):
    """web.submit, and the page's cache expired after the commit."""
    return submit(form, action, success=success, to=url_for(to), after=_changed)


@bp.route("/")
@requires(Role.ADMIN)
def index():
    components = service.components_in_order()
    groups = db.session.scalars(sa.select(ComponentGroup).order_by(ComponentGroup.position, ComponentGroup.id)).all()
    counts = dict(db.session.execute(
        sa.select(Subscriber.channel, sa.func.count()).where(Subscriber.confirmed_at.isnot(None),
                                                             Subscriber.unsubscribed_at.is_(None))
        .group_by(Subscriber.channel)).all())
    failing = db.session.scalar(sa.select(sa.func.count()).select_from(SubscriberDelivery)
                                .where(SubscriberDelivery.status == DeliveryStatus.FAILED))
    forms = {c.id: StatusForm(formdata=None, status=c.manual_status.value, prefix=f"c{c.id}") for c in components}
    return render("statuspage/admin/index.html", components=components, groups=groups, forms=forms,
                  settings=service.get_settings(), counts=counts, failing=failing, channels=SubscriberChannel,
                  status_url=public.status_url())


def _component_form(form: ComponentForm) -> ComponentForm:
    groups = db.session.scalars(sa.select(ComponentGroup).order_by(ComponentGroup.position, ComponentGroup.id)).all()
    form.group_id.choices = choices([("", "No group"), *((g.id, g.name) for g in groups)])
    form.service_ids.choices = choices_from(db.session.scalars(sa.select(Service).order_by(Service.name)))
    return form


def _services(ids) -> list[Service]:
    return list(db.session.scalars(sa.select(Service).where(Service.id.in_(ids or [])))) if ids else []


@bp.route("/components/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new_component():
    form = _component_form(ComponentForm())

    def create():
        group = service.get_group(form.group_id.data) if form.group_id.data else None
        return service.create_component(
            current_actor(), name=form.name.data, now=clock.now(), description=form.description.data or "",
            group=group, services=_services(form.service_ids.data), position=form.position.data,
            only_show_if_degraded=form.only_show_if_degraded.data, showcase=form.showcase.data,
            start_date=form.start_date.data)
    return _submit(form, create, lambda component: f"Component {component.name} added.") or render(
        "statuspage/admin/component_form.html", form=form, component=None, status=400 if form.errors else 200)


@bp.route("/components/<int:component_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_component(component_id: int):
    component = service.get_component(component_id)
    if request.method == "GET":
        form = _component_form(ComponentForm(obj=component, service_ids=[s.id for s in component.services]))
    else:
        form = _component_form(ComponentForm())
    return _submit(form, lambda: service.update_component(
        current_actor(), component, clock.now(), services=_services(form.service_ids.data),
        name=form.name.data, description=form.description.data or "", group_id=form.group_id.data,
        position=form.position.data if form.position.data is not None else component.position,
        only_show_if_degraded=form.only_show_if_degraded.data, showcase=form.showcase.data,
        start_date=form.start_date.data), lambda _: f"Component {component.name} saved.") or render(
        "statuspage/admin/component_form.html", form=form, component=component, status=400 if form.errors else 200)


@bp.route("/components/<int:component_id>/status", methods=["POST"])
@requires(Role.ADMIN)
def set_status(component_id: int):
    component = service.get_component(component_id)
    form = StatusForm(prefix=f"c{component.id}")
    if form.validate_on_submit():
        if act_and_flash(lambda: service.set_component_status(current_actor(), component, form.status.data,
                                                              clock.now()),
                         lambda changed: changed and f"{component.name} is now shown as "
                                                     f"{component.status.label.lower()}."):
            _changed()
    else:
        flash("Choose a status.", "error")
    return see_other("statuspage_admin.index")


@bp.route("/components/<int:component_id>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete_component(component_id: int):
    component = service.get_component(component_id)
    name = component.name
    service.delete_component(current_actor(), component, clock.now())
    db.session.commit()
    _changed()
    flash(f"Component {name} removed, with its history.", "success")
    return see_other("statuspage_admin.index")


@bp.route("/groups/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new_group():
    form = GroupForm()
    return _submit(form, lambda: service.create_group(current_actor(), name=form.name.data, now=clock.now(),
                                                      description=form.description.data or "",
                                                      position=form.position.data),
                   lambda group: f"Group {group.name} added.") or render("statuspage/admin/group_form.html", form=form, group=None, status=400 if form.errors else 200)


@bp.route("/groups/<int:group_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_group(group_id: int):
    group = service.get_group(group_id)
    form = GroupForm(obj=group) if request.method == "GET" else GroupForm()
    return _submit(form, lambda: service.update_group(current_actor(), group, clock.now(), name=form.name.data,
                                                      description=form.description.data or "",
                                                      position=form.position.data),
                   lambda _: f"Group {group.name} saved.") or render("statuspage/admin/group_form.html", form=form, group=group, status=400 if form.errors else 200)


@bp.route("/groups/<int:group_id>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete_group(group_id: int):
    group = service.get_group(group_id)
    name = group.name
    service.delete_group(current_actor(), group, clock.now())
    db.session.commit()
    _changed()
    flash(f"Group {name} removed; its components stay, ungrouped.", "success")
    return see_other("statuspage_admin.index")


def _settings_page(form: SettingsForm | None = None, logo_form: LogoForm | None = None, status: int = 200):
    settings = service.get_settings()
    form = form or SettingsForm(formdata=None, obj=settings)
    return render("statuspage/admin/settings.html", form=form, logo_form=logo_form or LogoForm(formdata=None),
                  settings=settings, status=status)


@bp.route("/settings", methods=["GET", "POST"])
@requires(Role.ADMIN)
def settings():
    if request.method == "GET":
        return _settings_page()
    form = SettingsForm()
    return _submit(form, lambda: service.update_settings(
        current_actor(), clock.now(), name=form.name.data, time_zone=form.time_zone.data,
        brand_color=form.brand_color.data, about=form.about.data or "", support_url=form.support_url.data or ""),
        "Status page settings saved.", to="statuspage_admin.settings") or _settings_page(form=form, status=400)


@bp.route("/logo", methods=["POST"])
@requires(Role.ADMIN)
def logo():
    form = LogoForm()

    def save():
        upload = form.logo.data
        data = upload.read(service.MAX_LOGO + 1) if upload and not form.remove.data else None
        if not form.remove.data and not data:
            raise DomainError("Choose an image, or tick “Remove the logo”.", field="logo")
        service.set_logo(current_actor(), data, clock.now())
        return data
    return _submit(form, save, lambda data: "Logo removed." if data is None else "Logo saved.",
                   to="statuspage_admin.settings") or _settings_page(logo_form=form, status=400)


@bp.route("/subscribers")
@requires(Role.ADMIN)
def subscriber_list():
    page = db.paginate(sa.select(Subscriber).order_by(Subscriber.created_at.desc(), Subscriber.id.desc()),
                       per_page=50, error_out=False)
    return render("statuspage/admin/subscribers.html", page=page)


@bp.route("/subscribers/<int:subscriber_id>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete_subscriber(subscriber_id: int):
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is not None:
        subscribers.remove(current_actor(), subscriber)
        db.session.commit()
        flash("Subscriber removed.", "success")
    return see_other("statuspage_admin.subscriber_list")
