"""Action item pages: all items, my items, the team board, one item; creating from a
post-mortem or an incident, editing, moving through open → in progress → done."""
from __future__ import annotations

import sqlalchemy as sa
from datetime import timedelta

from flask import request, url_for
from flask_login import current_user

from app import clock
from app.auth.models import Role, Team
from app.extensions import db
from app.forms import record_id
from app.incidents.service import get_incident
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.forms import ActionItemForm, StatusForm
from app.postmortems.models import ActionStatus
from app.postmortems.pages import bp, page, prepare_form
from app.web import current_actor, render, requires, see_other, submit


def _int(name: str) -> int | None:
    return record_id(request.args.get(name))


@bp.route("/action-items/")
@requires(Role.VIEWER)
def action_items():
    f = actions.ItemFilter(status=request.args.get("status", "open"), owner_id=_int("owner_id"),
                           team_id=_int("team_id"), overdue=request.args.get("overdue") == "1")
    if f.status not in actions.STATUS_FILTERS:
        f.status = "open"
    today = clock.now().date()
    teams = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    return render("postmortems/action_items.html", items=actions.items(f, today), filters=f, today=today,
                  teams=teams, people=prepare_form("action_item", ActionItemForm(formdata=None)).owner_id.choices,
                  statuses=actions.STATUS_FILTERS, heading="Action items")


@bp.route("/action-items/mine")
@requires(Role.VIEWER)
def my_action_items():
    today = clock.now().date()
    open_items = actions.items(actions.ItemFilter(status="open", owner_id=current_user.id), today)
    closed = actions.items(actions.ItemFilter(status="closed", owner_id=current_user.id), today, limit=20)
    return render("postmortems/my_action_items.html", open_items=open_items, closed=closed, today=today,
                  overdue=sum(1 for item in open_items if item.is_overdue(today)))


@bp.route("/action-items/board")
@requires(Role.VIEWER)
def board():
    teams = db.session.scalars(sa.select(Team).order_by(Team.name)).all()
    team_id = _int("team_id")
    if team_id is None and "team_id" not in request.args and current_user.teams:
        team_id = current_user.teams[0].id
    today = clock.now().date()
    columns = actions.board(team_id, today, closed_since=today - timedelta(days=30))
    return render("postmortems/board.html", columns=columns, teams=teams, team_id=team_id, today=today,
                  Status=ActionStatus)


def _item_page(item, status: int = 200, form=None, status_form=None):
    form = form or prepare_form("action_item", ActionItemForm(
        formdata=None, title=item.title, description=item.description, owner_id=item.owner_id, team_id=item.team_id,
        due_on=item.due_on, priority=item.priority.value, kind=item.kind.value, ticket_url=item.ticket_url))
    status_form = status_form or StatusForm(formdata=None, status=item.status.value, reason=item.wont_do_reason)
    return render("postmortems/action_item.html", item=item, form=form, status_form=status_form,
                  today=clock.now().date(), status=status, can_act=current_user.can(Role.RESPONDER))


@bp.route("/action-items/<int:item_id>")
@requires(Role.VIEWER)
def action_item(item_id: int):
    return _item_page(actions.get_item(item_id))


@bp.route("/action-items/new", methods=["POST"])
@requires(Role.RESPONDER)
def create_action_item():
    form = prepare_form("action_item", ActionItemForm())
    incident_id = form.incident_id.data
    if not record_id(incident_id):
        return see_other("postmortems.action_items")
    incident = get_incident(record_id(incident_id))
    postmortem = postmortems.get_postmortem(record_id(form.postmortem_id.data)) if record_id(form.postmortem_id.data) \
        else None
    back = url_for("incidents.show", incident_id=incident.id, _anchor="action-items") \
        if request.form.get("back") == "incident" or postmortem is None \
        else url_for("postmortems.show", postmortem_id=postmortem.id, _anchor="action-items")
    if done := submit(form, lambda: actions.create_item(
            current_actor(), incident, clock.now(), title=form.title.data, due_on=form.due_on.data,
            owner_id=form.owner_id.data, team_id=form.team_id.data, priority=form.priority.data,
            kind=form.kind.data, ticket_url=form.ticket_url.data or "", description=form.description.data or "",
            postmortem=postmortem), success=lambda item: f"{item.ref} added.", to=back):
        return done
    # Shown again with its errors where it was filled in.
    if postmortem is not None and request.form.get("back") != "incident":
        return page(postmortem, status=400, failed=("action_item", None, form))
    return render("postmortems/action_item_new.html", form=form, incident=incident, status=400)


@bp.route("/action-items/<int:item_id>", methods=["POST"])
@requires(Role.RESPONDER)
def update_action_item(item_id: int):
    item = actions.get_item(item_id)
    form = prepare_form("action_item", ActionItemForm())
    return submit(form, lambda: actions.update_item(
        current_actor(), item, clock.now(), title=form.title.data, due_on=form.due_on.data,
        owner_id=form.owner_id.data, team_id=form.team_id.data, priority=form.priority.data,
        kind=form.kind.data, ticket_url=form.ticket_url.data or "", description=form.description.data or ""),
        success=lambda changed: "Saved." if changed else "Nothing changed.",
        to=url_for("postmortems.action_item", item_id=item.id)) or _item_page(actions.get_item(item_id), status=400, form=form)


@bp.route("/action-items/<int:item_id>/status", methods=["POST"])
@requires(Role.RESPONDER)
def set_action_item_status(item_id: int):
    item = actions.get_item(item_id)
    form = StatusForm()
    back = request.form.get("next", "")
    if not back.startswith("/") or back.startswith("//"):
        back = url_for("postmortems.action_item", item_id=item.id)
    return submit(form, lambda: actions.set_status(current_actor(), item, form.status.data, clock.now(),
                                                   reason=form.reason.data or ""),
                  success=lambda _: f"{item.ref} is {item.status.label.lower()}.", to=back) or _item_page(actions.get_item(item_id), status=400, status_form=form)
