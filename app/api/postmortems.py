"""Post-mortems (read) and action items (list, read, create, set status) over the API.

Writes call the same service functions as the web pages, so they write the same
audit entries and reminders, and commit once.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import jsonify, url_for
from sqlalchemy.orm import selectinload

from app import clock
from app.api import inputs
from app.api.inputs import Field, Invalid, Query
from app.api.schemas import iso, pagination_json, person_json, team_json
from app.api.views import bp, load
from app.auth.models import Role
from app.extensions import db
from app.incidents.models import Incident
from app.postmortems import actions
from app.postmortems import service as postmortems
from app.postmortems.models import ActionItem, ActionKind, ActionStatus, Postmortem, PostmortemStatus, Priority
from app.web import current_actor, requires

POSTMORTEM_STATUSES = ("all", *[s.value for s in PostmortemStatus])


def day(value) -> date:
    if not isinstance(value, str):
        raise Invalid("must be a date as a string, e.g. 2026-03-20")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("must be a date such as 2026-03-20") from None


def choice(values: tuple[str, ...]):
    def convert(value) -> str:
        if value not in values:
            raise Invalid(f"must be one of {', '.join(values)}")
        return value
    return convert


CREATE_FIELDS = {
    "incident_id": Field(inputs.identifier, required=True),
    "title": Field(inputs.text(actions.MAX_TITLE, blank=False), required=True),
    "due_on": Field(day, required=True),
    "owner_id": Field(inputs.identifier),
    "team_id": Field(inputs.identifier),
    "priority": Field(choice(tuple(p.value for p in Priority))),
    "type": Field(choice(tuple(k.value for k in ActionKind))),
    "ticket_url": Field(inputs.text(1000)),
    "description": Field(inputs.text(actions.MAX_DESCRIPTION)),
}
STATUS_FIELDS = {
    "status": Field(choice(tuple(s.value for s in ActionStatus)), required=True),
    "reason": Field(inputs.text(5000)),
}


# --- shapes ------------------------------------------------------------------------------

def action_item_json(item: ActionItem) -> dict:
    return {
        "id": item.id,
        "ref": item.ref,
        "incident_id": item.incident_id,
        "postmortem_id": item.postmortem_id,
        "title": item.title,
        "description": item.description or "",
        "owner": person_json(item.owner),
        "team": team_json(item.team),
        "due_on": item.due_on.isoformat(),
        "priority": item.priority.value,
        "type": item.kind.value,
        "ticket_url": item.ticket_url or None,
        "status": item.status.value,
        "wont_do_reason": item.wont_do_reason or None,
        "overdue": item.is_overdue(clock.now().date()),
        "done_at": iso(item.done_at),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }


def postmortem_json(pm: Postmortem) -> dict:
    return {
        "id": pm.id,
        "incident_id": pm.incident_id,
        "title": pm.title,
        "status": pm.status.value,
        "template": pm.template_name,
        "required": pm.required,
        "owner": person_json(pm.owner),
        "due_on": pm.due_on.isoformat() if pm.due_on else None,
        "tags": pm.tag_list,
        "public": pm.public,
        "created_at": iso(pm.created_at),
        "updated_at": iso(pm.updated_at),
        "published_at": iso(pm.published_at),
    }


def _why_json(tree) -> dict:
    node = tree.node
    return {"id": node.id, "why": node.why, "because": node.because or "", "root_cause": node.root_cause,
            "children": [_why_json(child) for child in tree.children]}


def postmortem_detail_json(pm: Postmortem) -> dict:
    items = actions.items(actions.ItemFilter(status="all", incident_id=pm.incident_id), clock.now().date())
    return {
        **postmortem_json(pm),
        "problem_statement": pm.problem_statement or "",
        "customers_affected": pm.customers_affected or "",
        "cost": pm.cost or "",
        "sections": [{"id": s.id, "heading": s.heading, "kind": s.kind.value, "body": s.body or ""}
                     for s in pm.sections],
        "reviewers": [{"person": person_json(r.user), "requested_at": iso(r.requested_at),
                       "approved_at": iso(r.approved_at)} for r in pm.reviewers],
        "whys": [_why_json(tree) for tree in postmortems.why_tree(pm)],
        "fishbone": [{"category": name, "causes": [c.text for c in causes]} for name, causes in postmortems.fishbone(pm)],
        "contributing_factors": [{"category": f.category.name, "description": f.description}
                                 for f in postmortems.factors(pm)],
        "action_items": [action_item_json(item) for item in items],
        "meeting_at": iso(pm.meeting_at),
        "meeting_location": pm.meeting_location or None,
        "public_summary": pm.public_summary or None,
    }


# --- post-mortems ---------------------------------------------------------------------------

@bp.route("/postmortems")
@requires(Role.VIEWER)
def list_postmortems():
    query = Query()
    status = query.choice("status", POSTMORTEM_STATUSES, "all")
    incident_id = query.identifier("incident_id")
    page, per_page = query.page()
    query.check()
    stmt = sa.select(Postmortem).options(selectinload(Postmortem.owner))
    if status != "all":
        stmt = stmt.where(Postmortem.status == status)
    if incident_id is not None:
        stmt = stmt.where(Postmortem.incident_id == incident_id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(Postmortem.created_at.desc(), Postmortem.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all() if total else []
    return jsonify({"postmortems": [postmortem_json(pm) for pm in rows],
                    "pagination": pagination_json(page, per_page, total)})


@bp.route("/postmortems/<int:postmortem_id>")
@requires(Role.VIEWER)
def show_postmortem(postmortem_id: int):
    pm = load(Postmortem, postmortem_id, f"There is no post-mortem {postmortem_id}.")
    return jsonify(postmortem_detail_json(pm))


# --- action items ------------------------------------------------------------------------------

@bp.route("/action_items")
@requires(Role.VIEWER)
def list_action_items():
    query = Query()
    status = query.choice("status", actions.STATUS_FILTERS, "open")
    f = actions.ItemFilter(status=status, owner_id=query.identifier("owner_id"), team_id=query.identifier("team_id"),
                           incident_id=query.identifier("incident_id"),
                           postmortem_id=query.identifier("postmortem_id"),
                           overdue=query.choice("overdue", ("true", "false"), "false") == "true")
    page, per_page = query.page()
    query.check()
    stmt = actions.query(f, clock.now().date())
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.offset((page - 1) * per_page).limit(per_page)).all() if total else []
    return jsonify({"action_items": [action_item_json(item) for item in rows],
                    "pagination": pagination_json(page, per_page, total)})


@bp.route("/action_items/<int:action_item_id>")
@requires(Role.VIEWER)
def show_action_item(action_item_id: int):
    return jsonify(action_item_json(load(ActionItem, action_item_id, f"There is no action item {action_item_id}.")))


@bp.route("/action_items", methods=["POST"])
@requires(Role.RESPONDER)
def create_action_item():
    values = inputs.body(CREATE_FIELDS)
    incident = db.session.get(Incident, values["incident_id"])
    if incident is None:
        raise inputs.BadInput([f"'incident_id' names no incident (there is no incident {values['incident_id']})"])
    item = actions.create_item(
        current_actor(), incident, clock.now(), title=values["title"], due_on=values["due_on"],
        owner_id=values.get("owner_id"), team_id=values.get("team_id"), priority=values.get("priority", "medium"),
        kind=values.get("type", "corrective"), ticket_url=values.get("ticket_url", ""),
        description=values.get("description", ""))
    db.session.commit()
    response = jsonify(action_item_json(item))
    response.status_code = 201
    response.headers["Location"] = url_for("api.show_action_item", action_item_id=item.id)
    return response


@bp.route("/action_items/<int:action_item_id>/status", methods=["POST"])
@requires(Role.RESPONDER)
def set_action_item_status(action_item_id: int):
    """`done` records when; `wont_do` needs a `reason`. Setting the status it has changes nothing."""
    item = load(ActionItem, action_item_id, f"There is no action item {action_item_id}.")
    values = inputs.body(STATUS_FIELDS)
    actions.set_status(current_actor(), item, values["status"], clock.now(), reason=values.get("reason", ""))
    db.session.commit()
    return jsonify(action_item_json(item))
