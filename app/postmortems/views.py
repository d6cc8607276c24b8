"""Post-mortem pages: the list, the document people write together, its review,
print/PDF/Markdown, history; admin pages for templates and factor categories.

Every action is a plain form post answered with 303 back to the part of the page
it changed; a form with errors re-renders the page with them beside its fields.
Action items and search have their own modules on this blueprint.
"""
from __future__ import annotations

import difflib
from typing import Callable

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import clock
from app import pdf as pdfs
from app.auth.forms import EmptyForm
from app.auth.models import Role, User
from app.errors import DomainError
from app.extensions import db, htmx
from app.forms import add_error, choices_from, record_id
from app.incidents.forms import from_local
from app.incidents.models import Incident, IncidentEvent
from app.incidents.service import get_incident
from app.postmortems import actions, export, facts
from app.postmortems import service as postmortems
from app.postmortems.forms import ActionItemForm, CategoryForm, EventTagForm, NewPostmortemForm, TemplateForm
from app.postmortems.models import (
    Comment, ContributingFactor, FactorCategory, FishboneCause, Postmortem, PostmortemSection, PostmortemStatus,
    PostmortemTemplate, Reviewer,
)
from app.postmortems.pages import FORMS, bp, page, prepare_form, unique_ids
from app.templating import viewer_zone
from app.web import attempt, current_actor, render, requires, see_other
from app.web import submit as submit_form  # this module has a view named submit

def _back(pm: Postmortem, message: str | None, anchor: str | None = None):
    if message:
        flash(message, "success")
    return redirect(url_for("postmortems.show", postmortem_id=pm.id, _anchor=anchor), code=303)


def _handle(postmortem_id: int, kind: str, action: Callable, message: str | None, *, key=None,
            anchor: str | Callable | None = None):
    """Validate the posted `kind` form, run `action(pm, form)`, commit, go back to the page.
    On errors: the page again with the form and its errors (400, or the error's status)."""
    pm = postmortems.get_postmortem(postmortem_id)
    form = prepare_form(kind, FORMS[kind](), pm)
    status = 400
    if form.validate_on_submit():
        try:
            result = action(pm, form)
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
            status = error.status if error.status != 404 else 400
        else:
            db.session.commit()
            target = anchor(result) if callable(anchor) else anchor
            return _back(pm, message, target)
    return page(postmortems.get_postmortem(postmortem_id), status=status, failed=(kind, key, form))


def _get(model, object_id: int):
    row = db.session.get(model, object_id)
    if row is None:
        abort(404)
    return row


# --- list and create -----------------------------------------------------------------

@bp.route("/postmortems/")
@requires(Role.VIEWER)
def index():
    status = request.args.get("status", "open")
    mine = request.args.get("mine") == "1"
    page = db.paginate(postmortems.list_postmortems(status=status, owner_id=current_user.id if mine else None),
                       per_page=50, error_out=False)
    return render("postmortems/index.html", page=page, status_filter=status, mine=mine, today=clock.now().date(),
                  missing=postmortems.missing_required(), Status=PostmortemStatus)


@bp.route("/postmortems/new", methods=["POST"])
@requires(Role.RESPONDER)
def create():
    form = NewPostmortemForm()
    form.template_id.choices = choices_from(postmortems.active_templates(), blank="Proposed by severity")
    if not form.validate_on_submit():
        abort(400, description="Choose the incident and a template.")
    incident = get_incident(form.incident_id.data)
    existing = postmortems.for_incident(incident)
    if existing is not None:
        return see_other("postmortems.show", postmortem_id=existing.id)
    template = db.session.get(PostmortemTemplate, form.template_id.data) if form.template_id.data else None
    pm, refused = attempt(lambda: postmortems.create_postmortem(current_actor(), incident, clock.now(),
                                                                template=template))
    if refused is not None:
        flash(refused.message, "error")
        return see_other("incidents.show", incident_id=incident.id)
    flash(f"Post-mortem started from the {pm.template_name} template.", "success")
    return see_other("postmortems.show", postmortem_id=pm.id)


@bp.route("/postmortems/<int:postmortem_id>")
@requires(Role.VIEWER)
def show(postmortem_id: int):
    return page(postmortems.get_postmortem(postmortem_id))


# --- writing ---------------------------------------------------------------------------

@bp.route("/postmortems/<int:postmortem_id>/details", methods=["POST"])
@requires(Role.RESPONDER)
def update_details(postmortem_id: int):
    def action(pm, form):
        postmortems.update_details(current_actor(), pm, clock.now(), title=form.title.data,
                                   owner_id=form.owner_id.data, due_on=form.due_on.data,
                                   problem_statement=form.problem_statement.data or "",
                                   customers_affected=form.customers_affected.data or "", cost=form.cost.data or "",
                                   tags=form.tags.data or "")
    return _handle(postmortem_id, "details", action, "Details saved.", anchor="details")


@bp.route("/postmortems/<int:postmortem_id>/sections/<int:section_id>", methods=["POST"])
@requires(Role.RESPONDER)
def update_section(postmortem_id: int, section_id: int):
    def action(pm, form):
        section = _get(PostmortemSection, section_id)
        postmortems.update_section(current_actor(), pm, section, form.body.data or "", clock.now())
    return _handle(postmortem_id, "section", action, "Section saved.", key=section_id,
                   anchor=f"section-{section_id}")


@bp.route("/postmortems/<int:postmortem_id>/template", methods=["POST"])
@requires(Role.RESPONDER)
def change_template(postmortem_id: int):
    def action(pm, form):
        template = _get(PostmortemTemplate, form.template_id.data)
        postmortems.change_template(current_actor(), pm, template, clock.now())
    return _handle(postmortem_id, "template", action, "Template changed.")


@bp.route("/postmortems/<int:postmortem_id>/events/<int:event_id>", methods=["POST"])
@requires(Role.RESPONDER)
def tag_event(postmortem_id: int, event_id: int):
    """Tag or star a timeline entry; with htmx, answered with just that entry."""
    pm = postmortems.get_postmortem(postmortem_id)
    event = _get(IncidentEvent, event_id)
    if event.incident_id != pm.incident_id:
        abort(404)
    form = EventTagForm()
    if form.validate_on_submit():
        try:
            postmortems.tag_event(current_actor(), event, clock.now(), tag=form.tag.data or "",
                                  starred=form.starred.data)
        except DomainError as error:
            db.session.rollback()
            add_error(form, error)
        else:
            db.session.commit()
            if htmx:
                return render("postmortems/show.html", "timeline_entry", pm=pm, event=event, can_edit=True,
                              form_for=lambda kind, key=None, **data: FORMS[kind](formdata=None, **data),
                              kind_label=facts.kind_label, tag_label=facts.tag_label,
                              paging_kinds=facts.PAGING_KINDS)
            return _back(pm, None, f"event-{event.id}")
    return page(postmortems.get_postmortem(postmortem_id), status=400, failed=("tag", event_id, form))


@bp.route("/postmortems/<int:postmortem_id>/whys", methods=["POST"])
@requires(Role.RESPONDER)
def add_why(postmortem_id: int):
    parent_key = request.form.get("parent_id") or None

    def action(pm, form):
        parent = postmortems.get_why(pm, record_id(form.parent_id.data)) if record_id(form.parent_id.data) else None
        return postmortems.add_why(current_actor(), pm, clock.now(), why=form.why.data,
                                   because=form.because.data or "", parent=parent)
    return _handle(postmortem_id, "why", action, "Why added.", key=record_id(parent_key),
                   anchor=lambda node: f"why-{node.id}")


@bp.route("/postmortems/<int:postmortem_id>/whys/<int:why_id>", methods=["POST"])
@requires(Role.RESPONDER)
def update_why(postmortem_id: int, why_id: int):
    def action(pm, form):
        node = postmortems.get_why(pm, why_id)
        postmortems.update_why(current_actor(), pm, node, clock.now(), why=form.why.data,
                               because=form.because.data or "", root_cause=form.root_cause.data)
    return _handle(postmortem_id, "why_edit", action, "Why saved.", key=why_id, anchor=f"why-{why_id}")


@bp.route("/postmortems/<int:postmortem_id>/whys/<int:why_id>/delete", methods=["POST"])
@requires(Role.RESPONDER)
def delete_why(postmortem_id: int, why_id: int):
    def action(pm, form):
        postmortems.delete_why(current_actor(), pm, postmortems.get_why(pm, why_id), clock.now())
    return _handle(postmortem_id, "button", action, "Why removed.", key=("why", why_id), anchor="whys")


@bp.route("/postmortems/<int:postmortem_id>/causes", methods=["POST"])
@requires(Role.RESPONDER)
def add_cause(postmortem_id: int):
    def action(pm, form):
        postmortems.add_cause(current_actor(), pm, clock.now(), category=form.category.data, text=form.text.data)
    return _handle(postmortem_id, "cause", action, "Cause added to the fishbone.", anchor="fishbone")


@bp.route("/postmortems/<int:postmortem_id>/causes/<int:cause_id>/delete", methods=["POST"])
@requires(Role.RESPONDER)
def delete_cause(postmortem_id: int, cause_id: int):
    def action(pm, form):
        postmortems.delete_cause(current_actor(), pm, _get(FishboneCause, cause_id), clock.now())
    return _handle(postmortem_id, "button", action, "Cause removed.", key=("cause", cause_id), anchor="fishbone")


@bp.route("/postmortems/<int:postmortem_id>/factors", methods=["POST"])
@requires(Role.RESPONDER)
def add_factor(postmortem_id: int):
    def action(pm, form):
        postmortems.add_factor(current_actor(), pm, clock.now(), category_id=form.category_id.data,
                               description=form.description.data)
    return _handle(postmortem_id, "factor", action, "Contributing factor added.", anchor="factors")


@bp.route("/postmortems/<int:postmortem_id>/factors/<int:factor_id>/delete", methods=["POST"])
@requires(Role.RESPONDER)
def delete_factor(postmortem_id: int, factor_id: int):
    def action(pm, form):
        postmortems.delete_factor(current_actor(), pm, _get(ContributingFactor, factor_id), clock.now())
    return _handle(postmortem_id, "button", action, "Contributing factor removed.", key=("factor", factor_id),
                   anchor="factors")


# --- review ------------------------------------------------------------------------------

def _users(ids) -> list[User]:
    return [db.session.get(User, i) for i in ids]


@bp.route("/postmortems/<int:postmortem_id>/reviewers", methods=["POST"])
@requires(Role.RESPONDER)
def add_reviewers(postmortem_id: int):
    def action(pm, form):
        postmortems.add_reviewers(current_actor(), pm, _users(form.reviewers.data), clock.now())
    return _handle(postmortem_id, "reviewers", action, "Reviewers asked.", anchor="review")


@bp.route("/postmortems/<int:postmortem_id>/reviewers/<int:reviewer_id>/delete", methods=["POST"])
@requires(Role.RESPONDER)
def remove_reviewer(postmortem_id: int, reviewer_id: int):
    def action(pm, form):
        postmortems.remove_reviewer(current_actor(), pm, _get(Reviewer, reviewer_id), clock.now())
    return _handle(postmortem_id, "button", action, "Reviewer removed.", key=("reviewer", reviewer_id),
                   anchor="review")


@bp.route("/postmortems/<int:postmortem_id>/submit", methods=["POST"])
@requires(Role.RESPONDER)
def submit(postmortem_id: int):
    def action(pm, form):
        postmortems.submit_for_review(current_actor(), pm, clock.now())
    return _handle(postmortem_id, "button", action, "Sent for review: the reviewers have been asked by email.",
                   key="submit", anchor="review")


@bp.route("/postmortems/<int:postmortem_id>/approve", methods=["POST"])
@requires(Role.RESPONDER)
def approve(postmortem_id: int):
    def action(pm, form):
        postmortems.approve(current_actor(), pm, clock.now())
    return _handle(postmortem_id, "button", action, "Approved.", key="approve", anchor="review")


@bp.route("/postmortems/<int:postmortem_id>/request-changes", methods=["POST"])
@requires(Role.RESPONDER)
def request_changes(postmortem_id: int):
    def action(pm, form):
        postmortems.request_changes(current_actor(), pm, clock.now(), reason=form.reason.data or "")
    return _handle(postmortem_id, "reason", action, "Sent back to draft.", key="changes", anchor="review")


@bp.route("/postmortems/<int:postmortem_id>/publish", methods=["POST"])
@requires(Role.RESPONDER)
def publish(postmortem_id: int):
    def action(pm, form):
        postmortems.publish(current_actor(), pm, clock.now())
    return _handle(postmortem_id, "button", action, "Published. It is read-only now.", key="publish")


@bp.route("/postmortems/<int:postmortem_id>/reopen", methods=["POST"])
@requires(Role.RESPONDER)
def reopen(postmortem_id: int):
    def action(pm, form):
        postmortems.reopen(current_actor(), pm, clock.now(), reason=form.reason.data or "")
    return _handle(postmortem_id, "reason", action, "Reopened as a draft.", key="reopen")


@bp.route("/postmortems/<int:postmortem_id>/comments", methods=["POST"])
@requires(Role.RESPONDER)
def add_comment(postmortem_id: int):
    section_key = request.form.get("section_id") or None

    def action(pm, form):
        section = _get(PostmortemSection, record_id(form.section_id.data)) if record_id(form.section_id.data) else None
        return postmortems.add_comment(current_actor(), pm, clock.now(), body=form.body.data, section=section)
    key = record_id(section_key)
    return _handle(postmortem_id, "comment", action, "Comment added.", key=key,
                   anchor=lambda comment: f"comment-{comment.id}")


@bp.route("/postmortems/<int:postmortem_id>/comments/<int:comment_id>/resolve", methods=["POST"])
@requires(Role.RESPONDER)
def resolve_comment(postmortem_id: int, comment_id: int):
    def action(pm, form):
        postmortems.resolve_comment(current_actor(), pm, _get(Comment, comment_id), clock.now())
    return _handle(postmortem_id, "button", action, "Comment resolved.", key=("comment", comment_id),
                   anchor=f"comment-{comment_id}")


@bp.route("/postmortems/<int:postmortem_id>/meeting", methods=["POST"])
@requires(Role.RESPONDER)
def schedule_meeting(postmortem_id: int):
    def action(pm, form):
        postmortems.schedule_meeting(current_actor(), pm, clock.now(), at=from_local(form.at.data, viewer_zone()),
                                     location=form.location.data or "")
    return _handle(postmortem_id, "meeting", action, "Meeting scheduled; the invitations are on their way.",
                   anchor="meeting")


@bp.route("/postmortems/<int:postmortem_id>/agenda")
@requires(Role.VIEWER)
def agenda(postmortem_id: int):
    pm = postmortems.get_postmortem(postmortem_id)
    return render("postmortems/agenda.html", pm=pm, agenda=export.agenda(pm))


@bp.route("/postmortems/<int:postmortem_id>/public-summary", methods=["POST"])
@requires(Role.RESPONDER)
def public_summary(postmortem_id: int):
    def action(pm, form):
        postmortems.set_public_summary(current_actor(), pm, clock.now(), text=form.public_summary.data or "",
                                       public=form.public.data)
    return _handle(postmortem_id, "public", action, "Public summary saved.", anchor="public-summary")


# --- print, PDF, Markdown, history --------------------------------------------------------

def _print_html(pm: Postmortem, *, for_pdf: bool, paper: str) -> str:
    return render_template("postmortems/print.html", pm=pm, doc=export.gather(pm), for_pdf=for_pdf, paper=paper,
                           kind_label=facts.kind_label, tag_label=facts.tag_label, printed_at=clock.now())


def _paper() -> str:
    return pdfs.choose_paper(request.args.get("paper", ""), getattr(current_user, "time_zone", ""))


@bp.route("/postmortems/<int:postmortem_id>/print")
@requires(Role.VIEWER)
def print_view(postmortem_id: int):
    pm = postmortems.get_postmortem(postmortem_id)
    response = Response(_print_html(pm, for_pdf=False, paper=_paper()), mimetype="text/html")
    response.vary.add("HX-Request")
    return response


@bp.route("/postmortems/<int:postmortem_id>/postmortem.pdf")
@requires(Role.VIEWER)
def pdf(postmortem_id: int):
    pm = postmortems.get_postmortem(postmortem_id)
    paper = _paper()
    return pdfs.download(_print_html(pm, for_pdf=True, paper=paper), export.PRINT_CSS, paper=paper,
                        filename=export.filename(pm, "pdf"))


@bp.route("/postmortems/<int:postmortem_id>/postmortem.md")
@requires(Role.VIEWER)
def markdown(postmortem_id: int):
    pm = postmortems.get_postmortem(postmortem_id)
    response = Response(export.markdown(pm), mimetype="text/markdown")
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename(pm, "md")}"'
    return response


@bp.route("/postmortems/<int:postmortem_id>/history")
@requires(Role.VIEWER)
def history(postmortem_id: int):
    pm = postmortems.get_postmortem(postmortem_id)
    return render("postmortems/history.html", pm=pm, versions=postmortems.versions(pm),
                  changes=postmortems.history(pm))


@bp.route("/postmortems/<int:postmortem_id>/versions/<int:number>")
@requires(Role.VIEWER)
def version(postmortem_id: int, number: int):
    pm = postmortems.get_postmortem(postmortem_id)
    shown = postmortems.get_version(pm, number)
    previous = postmortems.get_version(pm, number - 1) if number > 1 else None
    diff = list(difflib.unified_diff(previous.markdown.splitlines(), shown.markdown.splitlines(),
                                     f"version {number - 1}", f"version {number}", lineterm="", n=1)) if previous else []
    return render("postmortems/version.html", pm=pm, version=shown, diff=diff)


# --- from the incident page ---------------------------------------------------------------

def review_of(incident: Incident) -> dict:
    """What the incident page's live part shows of the review: the post-mortem, or
    that the engine is about to write its draft."""
    pm = postmortems.for_incident(incident)
    return {"postmortem": pm, "postmortem_coming": pm is None and postmortems.draft_owed(incident)}


def incident_context(incident: Incident) -> dict:
    """What the incident page shows of the review: the post-mortem (or how to start
    one) and the action items. Called by incidents.views."""
    pm = postmortems.for_incident(incident)
    form = unique_ids(NewPostmortemForm(formdata=None, incident_id=incident.id), "postmortem", None)
    form.template_id.choices = choices_from(postmortems.active_templates(), blank="Proposed by severity")
    item_form = unique_ids(prepare_form("action_item", ActionItemForm(formdata=None, incident_id=incident.id,
                                                                  postmortem_id=pm.id if pm else "")),
                           "action_item", None)
    return {"postmortem_form": form, "action_items": actions.items(
        actions.ItemFilter(status="all", incident_id=incident.id), clock.now().date()),
        "action_item_form": item_form, "today": clock.now().date()}


# --- admin: templates and categories ---------------------------------------------------------

@bp.route("/admin/postmortem-templates")
@requires(Role.ADMIN)
def templates():
    rows = db.session.scalars(sa.select(PostmortemTemplate).order_by(PostmortemTemplate.id)).all()
    return render("postmortems/templates.html", templates=rows, button=EmptyForm(formdata=None))


@bp.route("/admin/postmortem-templates/restore", methods=["POST"])
@requires(Role.ADMIN)
def restore_templates():
    if EmptyForm().validate_on_submit():
        postmortems.ensure_defaults()
        db.session.commit()
        flash("The shipped templates and categories are all there.", "success")
    return see_other("postmortems.templates")


@bp.route("/admin/postmortem-templates/new", methods=["GET", "POST"])
@bp.route("/admin/postmortem-templates/<int:template_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit_template(template_id: int | None = None):
    template = _get(PostmortemTemplate, template_id) if template_id else None
    if request.method == "GET" and template is not None:
        form = TemplateForm(formdata=None, name=template.name, description=template.description,
                            sections=postmortems.sections_as_text(template.sections), active=template.active)
    else:
        form = TemplateForm()
    return submit_form(form, lambda: postmortems.save_template(
        current_actor(), template, name=form.name.data, description=form.description.data or "",
        sections_text=form.sections.data, active=form.active.data, now=clock.now()),
        success=lambda saved: f"Template {saved.name} saved.", to=url_for("postmortems.templates")) \
        or render("postmortems/template_form.html", form=form, tpl=template,
                  status=400 if form.errors or form.form_errors else 200)


@bp.route("/admin/factor-categories", methods=["GET", "POST"])
@requires(Role.ADMIN)
def categories():
    form = CategoryForm() if request.method == "POST" else CategoryForm(formdata=None)
    return submit_form(form, lambda: postmortems.add_factor_category(
        current_actor(), name=form.name.data, description=form.description.data or "", now=clock.now()),
        success="Category added.", to=url_for("postmortems.categories")) or render("postmortems/categories.html", form=form, button=EmptyForm(formdata=None),
                  categories=postmortems.factor_categories(include_inactive=True),
                  counts=dict(postmortems.factor_counts()), status=400 if form.errors or form.form_errors else 200)


@bp.route("/admin/factor-categories/<int:category_id>/toggle", methods=["POST"])
@requires(Role.ADMIN)
def toggle_category(category_id: int):
    category = _get(FactorCategory, category_id)
    if EmptyForm().validate_on_submit():
        postmortems.set_factor_category_active(current_actor(), category, not category.active)
        db.session.commit()
    return see_other("postmortems.categories")


from app.postmortems import action_views, search_views  # noqa: E402,F401  (routes on this blueprint)
