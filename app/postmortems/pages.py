"""The post-mortem page as a whole: its blueprint, its forms and their choices, and the
page with one form shown with its errors. Shared by the post-mortem routes (views.py)
and the action item routes (action_views.py)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint
from flask_login import current_user

from app import clock
from app.auth.forms import EmptyForm
from app.auth.models import Role, Team, User
from app.extensions import db
from app.forms import choices_from
from app.postmortems import export, facts
from app.postmortems import service as postmortems
from app.postmortems.forms import (
    ActionItemForm, CauseForm, CommentForm, DetailsForm, EventTagForm, FactorForm, MeetingForm, PublicSummaryForm,
    ReasonForm, ReviewersForm, SectionForm, TemplateChoiceForm, WhyEditForm, WhyForm,
)
from app.postmortems.models import FISHBONE_CATEGORIES, Comment, Postmortem, PostmortemStatus
from app.statuspage import service as status_page
from app.templating import viewer_zone
from app.web import render

bp = Blueprint("postmortems", __name__)

FORMS = {
    "details": DetailsForm, "section": SectionForm, "template": TemplateChoiceForm, "tag": EventTagForm,
    "why": WhyForm, "why_edit": WhyEditForm, "cause": CauseForm, "factor": FactorForm, "reviewers": ReviewersForm,
    "comment": CommentForm, "reason": ReasonForm, "meeting": MeetingForm, "public": PublicSummaryForm,
    "action_item": ActionItemForm, "button": EmptyForm,
}


def responders() -> list[User]:
    return db.session.scalars(sa.select(User).where(User.active.is_(True), User.role.in_((Role.RESPONDER, Role.ADMIN)))
                              .order_by(User.name)).all()


def people_choices(blank: str | None = "Nobody yet"):
    return choices_from(responders(), blank=blank)


def prepare_form(kind: str, form, pm: Postmortem | None = None):
    """Fill a form's choices (they come from the database)."""
    if kind == "details":
        form.owner_id.choices = people_choices()
    elif kind == "template":
        form.template_id.choices = choices_from(postmortems.active_templates())
    elif kind == "factor":
        form.category_id.choices = choices_from(postmortems.factor_categories(), blank="Choose…")
    elif kind == "reviewers":
        owner_id = pm.owner_id if pm else None
        form.reviewers.choices = choices_from([u for u in responders() if u.id != owner_id])
    elif kind == "action_item":
        form.owner_id.choices = people_choices("Unassigned")
        form.team_id.choices = choices_from(db.session.scalars(sa.select(Team).order_by(Team.name)).all(),
                                            blank="Default")
    return form


def unique_ids(form, kind: str, key):
    """The page repeats forms (one per section, per why, …): give each field an id of
    its own, so every label points at its input. Field names stay as they are."""
    parts = (kind, *(key if isinstance(key, tuple) else () if key is None else (key,)))
    prefix = "-".join(str(part) for part in parts)
    for field in form:
        field.id = f"{prefix}-{field.name}"
        field.label.field_id = field.id
    return form


def page(pm: Postmortem, status: int = 200, failed: tuple | None = None):
    """The post-mortem page. `failed` is (kind, key, form): that form is shown with its errors."""
    doc = export.gather(pm)
    zone = viewer_zone()

    def form_for(kind: str, key=None, **data):
        if failed is not None and failed[0] == kind and failed[1] == key:
            return unique_ids(failed[2], kind, key)
        return unique_ids(prepare_form(kind, FORMS[kind](formdata=None, **data), pm), kind, key)

    user = current_user._get_current_object()
    reviewer = next((r for r in pm.reviewers if r.user_id == user.id), None)
    owner_or_admin = user.can(Role.ADMIN) or user.id == pm.owner_id
    all_comments = postmortems.comments(pm)
    by_section: dict[int | None, list[Comment]] = {}
    for comment in all_comments:
        by_section.setdefault(comment.section_id, []).append(comment)
    custom = [name for name, _ in doc.fishbone if name not in FISHBONE_CATEGORIES]
    return render(
        "postmortems/show.html", status=status, pm=pm, doc=doc, form_for=form_for, zone=zone,
        can_edit=user.can(Role.RESPONDER) and not pm.is_published, can_act=user.can(Role.RESPONDER),
        owner_or_admin=owner_or_admin, reviewer=reviewer, comments=by_section,
        missing=postmortems.approvals_missing(pm), today=clock.now().date(),
        tags=facts.TAGS, kind_label=facts.kind_label, tag_label=facts.tag_label, paging_kinds=facts.PAGING_KINDS,
        fishbone_categories=[*FISHBONE_CATEGORIES, *custom], Status=PostmortemStatus,
        on_status_page=status_page.public_incident_for(pm.incident) is not None)
