"""Communications pages: the update composer of an incident, the communications
overview, and the admin pages (templates, stakeholder lists, webhooks, the
communication plan, the roles).

The composer is one form with three buttons: use the chosen template, preview,
send. Each posts the whole form (so nothing typed is lost), and htmx swaps just
the composer; without JavaScript the page comes back whole.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, make_response, request, url_for

from app import clock
from app.auth.models import Role, User
from app.comms import defaults, library, plan, render, stakeholders, updates, webhooks
from app.comms.forms import (
    ComposeForm, ListForm, MemberForm, PlanForm, RoleForm, TemplateForm, WebhookForm, ints,
)
from app.errors import DomainError
from app.extensions import db, htmx
from app.forms import add_error, choices, choices_from
from app.incidents import roles
from app.incidents import service as incidents
from app.incidents.models import Incident
from app.services.models import Service
from app.web import act_and_flash, attempt, current_actor, render as render_page, requires, see_other, submit

bp = Blueprint("comms", __name__)


# --- the composer ------------------------------------------------------------------------------

def _compose_choices(form: ComposeForm) -> None:
    form.template.choices = choices((t.key, t.name if t.name.lower().startswith(t.audience_label.lower())
                                     else f"{t.name} ({t.audience_label})") for t in library.all_templates())
    form.lists.choices = choices((row.id, row.name) for row in stakeholders.lists())
    form.webhooks.choices = choices((row.id, f"{row.name} ({row.kind})") for row in webhooks.webhooks(active_only=True))


def _draft(form: ComposeForm) -> updates.Draft:
    return updates.Draft(template_key=form.template.data or "", stage=form.stage.data or "investigating",
                         subject=form.subject.data or "", body=form.body.data or "", list_ids=ints(form.lists.data),
                         status_page=bool(form.status_page.data), webhook_ids=ints(form.webhooks.data))


def _composer(incident: Incident, form: ComposeForm, *, preview=None, status: int = 200):
    now = clock.now()
    proposed = {row.id for row in stakeholders.proposed_for(incident)}
    return render_page("comms/compose.html", "composer", status=status, incident=incident, form=form,
                       preview=preview, proposed=proposed, now=now,
                       comms=updates.status(incident), comms_log=updates.log(incident),
                       comms_plan=plan.progress(incident, now), can_act=True, in_composer=True,
                       lists={row.id: row for row in stakeholders.lists()}, fields=sorted(render.sample_fields()))


@bp.route("/incidents/<int:incident_id>/updates/new", methods=["GET", "POST"])
@requires(Role.RESPONDER)
def compose(incident_id: int):
    incident = incidents.get_incident(incident_id)
    now = clock.now()
    if request.method == "GET":
        try:
            draft = updates.draft_for(incident, request.args.get("template"), now)
        except DomainError:
            abort(404)
        form = ComposeForm(formdata=None, template=draft.template_key, stage=draft.stage, subject=draft.subject,
                           body=draft.body, lists=draft.list_ids, status_page=draft.status_page)
        _compose_choices(form)
        return _composer(incident, form)

    form = ComposeForm()
    _compose_choices(form)
    action = request.form.get("action", "preview")
    if action == "load":
        try:
            template = library.get(form.template.data or "")
        except DomainError as error:
            add_error(form, error)
            return _composer(incident, form, status=400)
        form.subject.data, form.body.data = template.subject, template.body
        form.status_page.data = form.status_page.data or template.audience == "customer"
        return _composer(incident, form)
    if not form.validate_on_submit():
        return _composer(incident, form, status=400)
    draft = _draft(form)
    if action == "send":
        update, refused = attempt(lambda: updates.send(current_actor(), incident, draft, now, via="web"))
    else:  # a preview writes nothing, so there is nothing to commit
        try:
            return _composer(incident, form, preview=updates.preview(incident, draft, now))
        except DomainError as error:
            db.session.rollback()
            refused = error
    if refused is not None:
        add_error(form, refused)
        return _composer(incidents.get_incident(incident_id), form, status=400)
    timing = "" if update.due_at is None else (" on time" if update.on_time else " (late)")
    flash(f"Update sent{timing} to {', '.join(update.audience_labels)}.", "success")
    target = url_for("incidents.show", incident_id=incident.id)
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return see_other("incidents.show", incident_id=incident.id)


# --- the overview ----------------------------------------------------------------------------------

@bp.route("/comms")
@requires(Role.VIEWER)
def index():
    return render_page("comms/index.html", templates=library.all_templates(include_inactive=True),
                       lists=stakeholders.lists(), hooks=webhooks.webhooks(), severities=(1, 2, 3, 4),
                       plans={n: plan.items_for(n) for n in (1, 2, 3, 4)},
                       edited_plans={n for n in (1, 2, 3, 4) if plan.is_edited(n)},
                       resolution=defaults.RESOLUTION_WITHIN,
                       definitions=roles.definitions(), fields=sorted(render.sample_fields()))


# --- templates (admins) --------------------------------------------------------------------------------

@bp.route("/admin/comms-templates/new", methods=["GET", "POST"])
@bp.route("/admin/comms-templates/<key>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_template(key: str | None = None):
    try:
        template = library.get(key) if key else None
    except DomainError:
        abort(404)
    if request.method == "GET":
        form = TemplateForm(formdata=None, name=template.name, audience=template.audience,
                            description=template.description, subject=template.subject, body=template.body,
                            active=template.active) if template else TemplateForm(formdata=None)
    else:
        form = TemplateForm()
    sample = None
    if request.form.get("action") == "preview":
        if form.validate_on_submit():
            try:
                fields = render.sample_fields(clock.now())
                sample = (render.render(form.subject.data or "", fields, part="subject"),
                          render.render(form.body.data or "", fields, part="body"))
            except DomainError as error:
                add_error(form, error)
    elif done := submit(form, lambda: library.save(
            current_actor(), key, clock.now(), name=form.name.data, audience=form.audience.data,
            description=form.description.data or "", subject=form.subject.data or "", body=form.body.data,
            active=form.active.data),
            success=lambda saved: f"Template {saved.name} saved.", to=url_for("comms.index", _anchor="templates")):
        return done
    failed = bool(form.errors or form.form_errors)
    return render_page("comms/template_form.html", form=form, tpl=template, sample=sample,
                       fields=sorted(render.sample_fields()), filters=sorted(render.ENV.filters),
                       status=400 if failed else 200)


@bp.route("/admin/comms-templates/<key>/restore", methods=["POST"])
@requires(Role.ADMIN)
def restore_template(key: str):
    act_and_flash(lambda: library.restore(current_actor(), key), "The shipped text is back.")
    return see_other("comms.index", _anchor="templates")


# --- stakeholder lists -----------------------------------------------------------------------------

def _list_choices(form: ListForm) -> None:
    form.services.choices = choices_from(db.session.scalars(sa.select(Service).order_by(Service.name)).all())


def _member_form(form: MemberForm | None = None) -> MemberForm:
    form = form or MemberForm(formdata=None)
    people = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.name)).all()
    form.user_id.choices = choices_from(people, blank="Someone outside (name, email, phone below)")
    return form


@bp.route("/stakeholders")
@requires(Role.VIEWER)
def lists():
    return see_other("comms.index", _anchor="stakeholders")


@bp.route("/stakeholders/<int:list_id>")
@requires(Role.VIEWER)
def show_list(list_id: int, member_form: MemberForm | None = None, status: int = 200):
    row = _list(list_id)
    return render_page("comms/list.html", row=row, member_form=_member_form(member_form),
                       reach=stakeholders.recipients([row]), status=status)


def _list(list_id: int):
    try:
        return stakeholders.get_list(list_id)
    except DomainError:
        abort(404)


@bp.route("/stakeholders/new", methods=["GET", "POST"])
@bp.route("/stakeholders/<int:list_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_list(list_id: int | None = None):
    row = _list(list_id) if list_id else None
    if request.method == "GET" and row is not None:
        form = ListForm(formdata=None, name=row.name, description=row.description, external=row.external,
                        send_sms=row.send_sms, severities=[str(s) for s in row.severities or []],
                        services=[s.id for s in row.services])
    else:
        form = ListForm() if request.method == "POST" else ListForm(formdata=None)
    _list_choices(form)

    def save():
        values = dict(name=form.name.data, description=form.description.data or "", external=form.external.data,
                      send_sms=form.send_sms.data, severities=ints(form.severities.data),
                      service_ids=ints(form.services.data))
        if row is None:
            return stakeholders.create_list(current_actor(), clock.now(), **values)
        stakeholders.update_list(current_actor(), row, clock.now(), **values)
        return row
    return submit(form, save, success=lambda saved: f"{saved.name} saved.",
                  to=lambda saved: url_for("comms.show_list", list_id=saved.id)) or render_page("comms/list_form.html", form=form, row=row,
                       status=400 if form.errors or form.form_errors else 200)


@bp.route("/stakeholders/<int:list_id>/members", methods=["POST"])
@requires(Role.ADMIN)
def add_member(list_id: int):
    row = _list(list_id)
    form = _member_form(MemberForm())
    return submit(form, lambda: stakeholders.add_member(current_actor(), row, clock.now(), user_id=form.user_id.data,
                                                        name=form.name.data or "", email=form.email.data or "",
                                                        phone=form.phone.data or ""),
                  success=lambda member: f"{member.label} added.", to=url_for("comms.show_list", list_id=list_id)) \
        or show_list(list_id, member_form=form, status=400)


@bp.route("/stakeholders/<int:list_id>/members/<int:member_id>/remove", methods=["POST"])
@requires(Role.ADMIN)
def remove_member(list_id: int, member_id: int):
    row = _list(list_id)
    act_and_flash(lambda: stakeholders.remove_member(current_actor(), row, member_id, clock.now()))
    return see_other("comms.show_list", list_id=list_id)


@bp.route("/stakeholders/<int:list_id>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete_list(list_id: int):
    row = _list(list_id)
    name = row.name
    stakeholders.delete_list(current_actor(), row)
    db.session.commit()
    flash(f"{name} deleted.", "success")
    return see_other("comms.index", _anchor="stakeholders")


# --- webhooks (admins) ---------------------------------------------------------------------------------

@bp.route("/admin/webhooks", methods=["GET", "POST"])
@requires(Role.ADMIN)
def webhook_admin():
    form = WebhookForm() if request.method == "POST" else WebhookForm(formdata=None)
    return submit(form, lambda: webhooks.create_webhook(current_actor(), clock.now(), name=form.name.data,
                                                        kind=form.kind.data, url=form.url.data,
                                                        secret=form.secret.data or ""),
                  success=lambda hook: f"Webhook {hook.name} added.", to=url_for("comms.webhook_admin")) \
        or render_page("comms/webhooks.html", form=form, hooks=webhooks.webhooks(),
                       status=400 if form.errors or form.form_errors else 200)


@bp.route("/admin/webhooks/<int:webhook_id>/toggle", methods=["POST"])
@requires(Role.ADMIN)
def toggle_webhook(webhook_id: int):
    hook = _webhook(webhook_id)
    webhooks.set_active(current_actor(), hook, not hook.active)
    db.session.commit()
    return see_other("comms.webhook_admin")


@bp.route("/admin/webhooks/<int:webhook_id>/delete", methods=["POST"])
@requires(Role.ADMIN)
def delete_webhook(webhook_id: int):
    hook = _webhook(webhook_id)
    webhooks.delete_webhook(current_actor(), hook, clock.now())
    db.session.commit()
    flash("Webhook deleted.", "success")
    return see_other("comms.webhook_admin")


def _webhook(webhook_id: int):
    try:
        return webhooks.get_webhook(webhook_id)
    except DomainError:
        abort(404)


# --- the communication plan (admins) --------------------------------------------------------------------

@bp.route("/admin/comms-plan/<int:severity>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_plan(severity: int):
    if severity not in (1, 2, 3, 4):
        abort(404)
    if request.method == "POST" and request.form.get("restore"):  # CSRF is checked for every post (app.web)
        plan.restore(current_actor(), severity)
        db.session.commit()
        flash(f"The shipped SEV-{severity} plan is back.", "success")
        return see_other("comms.index", _anchor="plans")
    form = PlanForm() if request.method == "POST" else PlanForm(formdata=None, items=plan.as_text(plan.items_for(severity)))
    if done := submit(form, lambda: plan.save(current_actor(), severity, plan.parse(form.items.data or ""),
                                              clock.now()),
                      success=f"SEV-{severity} plan saved.", to=url_for("comms.index", _anchor="plans")):
        return done
    keys = [t.key for t in library.all_templates(include_inactive=True)]
    return render_page("comms/plan_form.html", form=form, severity=severity, keys=keys,
                       status=400 if form.errors or form.form_errors else 200)


# --- the roles (admins) ----------------------------------------------------------------------------------

@bp.route("/admin/roles/<key>", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_role(key: str):
    try:
        spec = roles.definition(key)
    except DomainError:
        abort(404)
    if request.method == "POST" and request.form.get("restore"):  # CSRF is checked for every post (app.web)
        roles.restore_definition(current_actor(), key)
        db.session.commit()
        flash(f"{spec.name}: the shipped definition is back.", "success")
        return see_other("incidents.role_guide")
    form = RoleForm() if request.method == "POST" else RoleForm(
        formdata=None, name=spec.name, description=spec.description, checklist="\n".join(spec.checklist))
    return submit(form, lambda: roles.save_definition(current_actor(), key, clock.now(), name=form.name.data,
                                                      description=form.description.data or "",
                                                      checklist=roles.parse_checklist(form.checklist.data or "")),
                  success=f"{form.name.data} saved.", to=url_for("incidents.role_guide")) or render_page("comms/role_form.html", form=form, spec=spec,
                       status=400 if form.errors or form.form_errors else 200)
