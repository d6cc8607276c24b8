"""A person's own paging setup (contact methods, rules, a test page) and the outbox."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, request, url_for
from flask_login import current_user

from app import clock
from app.auth.forms import EmptyForm
from app.auth.models import Role
from app.errors import DomainError
from app.extensions import db
from app.forms import add_error, choices
from app.notify import contacts
from app.notify.forms import AddMethodForm, CodeForm, RulesForm
from app.notify.models import Channel, Notification, Status
from app.web import act_and_flash, current_actor, render, requires, see_other, submit

bp = Blueprint("notify", __name__)


def _me():
    return current_user._get_current_object()


def _rules_form(urgency: str, form: RulesForm | None = None) -> RulesForm:
    user = _me()
    form = form or RulesForm(formdata=None, prefix=urgency)
    options = [("", "—")] + [(m.id, m.display) for m in contacts.usable_methods(user)]
    form.fill(choices(options), contacts.rules_for(user, urgency))
    return form


def _page(status: int = 200, **forms):
    user = _me()
    contacts.ensure_rules(user)
    log = db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                             .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(30)).all()
    return render("notify/profile.html", user=user, methods=[m for m in user.contact_methods if m.active],
                  add_form=forms.get("add_form") or AddMethodForm(formdata=None),
                  code_form=forms.get("code_form") or CodeForm(formdata=None), code_for=forms.get("code_for"),
                  high_form=forms.get("high_form") or _rules_form("high"),
                  low_form=forms.get("low_form") or _rules_form("low"),
                  button=EmptyForm(formdata=None), log=log, status=status)


@bp.route("/profile/paging")
@requires(Role.VIEWER)
def profile():
    return _page()


@bp.route("/profile/contact-methods", methods=["POST"])
@requires(Role.VIEWER)
def add_method():
    form = AddMethodForm()
    return submit(form, lambda: contacts.add_method(current_actor(), _me(), form.channel.data, form.address.data,
                                                    clock.now()),
                  success=lambda method: f"We sent a code to {method.address}. Enter it below to start using it.",
                  to=url_for("notify.profile")) or _page(status=400, add_form=form)


@bp.route("/profile/contact-methods/<int:method_id>/verify", methods=["POST"])
@requires(Role.VIEWER)
def verify(method_id: int):
    method = contacts.get_method(method_id, _me())
    form = CodeForm()
    if form.validate_on_submit():
        try:
            ok = contacts.verify(current_actor(), method, form.code.data, clock.now())
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
        else:
            db.session.commit()  # a wrong code still counts as an attempt
            if ok:
                flash(f"{method.display} is verified.", "success")
                return see_other("notify.profile")
            form.code.errors = ["That code is not right."]
    return _page(status=400, code_form=form, code_for=method.id)


@bp.route("/profile/contact-methods/<int:method_id>/resend", methods=["POST"])
@requires(Role.VIEWER)
def resend(method_id: int):
    method = contacts.get_method(method_id, _me())
    act_and_flash(lambda: contacts.send_code(current_actor(), method, clock.now()),
                  f"A new code is on its way to {method.address}.")
    return see_other("notify.profile")


@bp.route("/profile/contact-methods/<int:method_id>/remove", methods=["POST"])
@requires(Role.VIEWER)
def remove(method_id: int):
    method = contacts.get_method(method_id, _me())
    contacts.remove_method(current_actor(), method)
    db.session.commit()
    flash(f"{method.display} is removed.", "success")
    return see_other("notify.profile")


@bp.route("/profile/rules/<urgency>", methods=["POST"])
@requires(Role.VIEWER)
def set_rules(urgency: str):
    if urgency not in ("high", "low"):
        return see_other("notify.profile")
    form = _rules_form(urgency, RulesForm(prefix=urgency))
    return submit(form, lambda: contacts.set_rules(current_actor(), _me(), urgency, form.steps()),
                  success=f"Your {urgency}-urgency rules are saved.", to=url_for("notify.profile")) or _page(status=400, **{f"{urgency}_form": form})


@bp.route("/profile/test-page", methods=["POST"])
@requires(Role.VIEWER)
def test_page():
    act_and_flash(lambda: contacts.test_page(current_actor(), _me(), clock.now()),
                  "Test page queued on each of your methods; it arrives within seconds.")
    return see_other("notify.profile")


@bp.route("/admin/outbox")
@requires(Role.ADMIN)
def outbox():
    args = request.args
    stmt = sa.select(Notification).order_by(Notification.created_at.desc(), Notification.id.desc())
    if args.get("status") in {s.value for s in Status}:
        stmt = stmt.where(Notification.status == args["status"])
    if args.get("channel") in {c.value for c in Channel}:
        stmt = stmt.where(Notification.channel == args["channel"])
    if args.get("purpose"):
        stmt = stmt.where(Notification.purpose == args["purpose"])
    page = db.paginate(stmt, per_page=50, error_out=False)
    return render("notify/outbox.html", "results", page=page, args=args, statuses=list(Status),
                  channels=list(Channel))
