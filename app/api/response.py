"""The response over the API: an incident's roles (assign, hand over), its tasks,
and its updates (list, send); the stakeholder lists and templates to send with.

Each write calls the same service function as the incident page (via="api"), so
it writes the same timeline entry and audit entry, and commits once.
"""
from __future__ import annotations

from flask import jsonify, url_for

from app import clock
from app.api import inputs
from app.api.inputs import Field, Invalid
from app.api.schemas import iso, person_json, service_ref
from app.api.views import bp, load
from app.auth.models import Role, User
from app.comms import library, render, stakeholders, updates
from app.comms.models import CommsUpdate
from app.errors import DomainError
from app.extensions import db
from app.incidents import roles, warroom
from app.incidents.models import Incident
from app.incidents.warroom_models import Task
from app.web import current_actor, requires

MAX_IDS = 50


def boolean(value) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def id_list(value) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_IDS:
        raise Invalid(f"must be a list of at most {MAX_IDS} ids")
    try:
        return [inputs.identifier(item) for item in value]
    except Invalid:
        raise Invalid("must be a list of positive integer ids") from None


def role_key(value) -> str:
    if value not in roles.KEYS:
        raise Invalid(f"must be one of {', '.join(roles.KEYS)}")
    return value


def stage(value) -> str:
    if value not in render.STAGES:
        raise Invalid(f"must be one of {', '.join(render.STAGES)}")
    return value


ROLE_FIELDS = {"role": Field(role_key, required=True), "user_id": Field(inputs.identifier, required=True)}
TASK_FIELDS = {
    "title": Field(inputs.text(warroom.MAX_TASK, blank=False), required=True),
    "owner_id": Field(inputs.identifier),
    "due_at": Field(inputs.timestamp),
}
TASK_CHANGE_FIELDS = {
    "title": Field(inputs.text(warroom.MAX_TASK, blank=False)),
    "owner_id": Field(inputs.identifier),
    "due_at": Field(inputs.timestamp),
    "done": Field(boolean),
}
UPDATE_FIELDS = {
    "template": Field(inputs.text(60, blank=False)),
    "stage": Field(stage),
    "subject": Field(inputs.text(render.MAX_SOURCE)),
    "body": Field(inputs.text(render.MAX_SOURCE, blank=False)),
    "stakeholder_list_ids": Field(id_list),
    "status_page": Field(boolean),
    "webhook_ids": Field(id_list),
}


def _incident(incident_id: int) -> Incident:
    return load(Incident, incident_id, f"There is no incident #{incident_id}.")


# --- shapes ---------------------------------------------------------------------------------------

def roles_json(incident: Incident) -> dict:
    return {"incident_id": incident.id, "roles": [{
        "role": view.spec.key,
        "name": view.spec.name,
        "description": view.spec.description,
        "many": view.spec.many,
        "holders": [{"person": person_json(a.user), "since": iso(a.since)} for a in view.holders],
        "proposed": [{"person": person_json(a.user), "reason": a.reason, "since": iso(a.since)} for a in view.proposed],
        "checklist": [{"item": item, "done": item in view.done,
                       "done_at": iso(view.done[item].done_at) if item in view.done else None}
                      for item in view.spec.checklist],
    } for view in roles.board(incident)]}


def task_json(task: Task) -> dict:
    return {
        "id": task.id, "incident_id": task.incident_id, "title": task.title, "owner": person_json(task.owner),
        "due_at": iso(task.due_at), "done": task.done, "done_at": iso(task.done_at), "done_by": task.done_by or None,
        "overdue": task.overdue(clock.now()), "created_at": iso(task.created_at), "created_by": task.created_by,
    }


def update_json(update: CommsUpdate) -> dict:
    return {
        "id": update.id, "incident_id": update.incident_id, "template": update.template_key or None,
        "stage": update.stage, "severity": update.severity, "subject": update.subject, "body": update.body,
        "sent_at": iso(update.sent_at), "sent_by": update.sent_by, "due_at": iso(update.due_at),
        "on_time": update.on_time,
        "audiences": [{"kind": a.kind, "id": a.ref_id, "label": a.label, "messages": a.messages}
                      for a in update.audiences],
    }


# --- roles ----------------------------------------------------------------------------------------

@bp.route("/incidents/<int:incident_id>/roles")
@requires(Role.VIEWER)
def incident_roles(incident_id: int):
    return jsonify(roles_json(_incident(incident_id)))


@bp.route("/incidents/<int:incident_id>/roles", methods=["POST"])
@requires(Role.RESPONDER)
def assign_role(incident_id: int):
    """Assign a role; for a role one person holds, this hands it over."""
    incident = _incident(incident_id)
    values = inputs.body(ROLE_FIELDS)
    user = db.session.get(User, values["user_id"])
    if user is None:
        raise inputs.BadInput([f"'user_id' names nobody (there is no person {values['user_id']})"])
    roles.assign(current_actor(), incident, values["role"], user, clock.now(), via="api")
    db.session.commit()
    return jsonify(roles_json(incident))


# --- tasks ----------------------------------------------------------------------------------------

@bp.route("/incidents/<int:incident_id>/tasks")
@requires(Role.VIEWER)
def incident_tasks(incident_id: int):
    incident = _incident(incident_id)
    return jsonify({"incident_id": incident.id, "tasks": [task_json(t) for t in warroom.tasks(incident)]})


@bp.route("/incidents/<int:incident_id>/tasks", methods=["POST"])
@requires(Role.RESPONDER)
def add_task(incident_id: int):
    incident = _incident(incident_id)
    values = inputs.body(TASK_FIELDS)
    task = warroom.add_task(current_actor(), incident, clock.now(), title=values["title"],
                            owner_id=values.get("owner_id"), due_at=values.get("due_at"), via="api")
    db.session.commit()
    response = jsonify(task_json(task))
    response.status_code = 201
    response.headers["Location"] = url_for("api.incident_tasks", incident_id=incident.id)
    return response


@bp.route("/incidents/<int:incident_id>/tasks/<int:task_id>", methods=["POST"])
@requires(Role.RESPONDER)
def change_task(incident_id: int, task_id: int):
    """Mark done (or not), rename, give an owner or a due time; what it already has changes nothing."""
    incident = _incident(incident_id)
    task = warroom.get_task(incident, task_id)
    values = inputs.body(TASK_CHANGE_FIELDS)
    warroom.change_task(current_actor(), task, clock.now(), via="api", **values)
    db.session.commit()
    return jsonify(task_json(task))


# --- updates --------------------------------------------------------------------------------------

@bp.route("/incidents/<int:incident_id>/updates")
@requires(Role.VIEWER)
def incident_updates(incident_id: int):
    incident = _incident(incident_id)
    status = updates.status(incident)
    due = status.due
    return jsonify({
        "incident_id": incident.id,
        "cadence_minutes": status.cadence_minutes,
        "next_update_due_at": iso(due.due_at) if due else None,
        "overdue": status.state(clock.now()) == "overdue",
        "updates": [update_json(u) for u in updates.updates_of(incident)],
    })


@bp.route("/incidents/<int:incident_id>/updates", methods=["POST"])
@requires(Role.RESPONDER)
def send_update(incident_id: int):
    """Send an update. `subject` and `body` are template text (fields filled in as it
    goes); left out, the `template`'s own text is used. Refused (400, nothing sent)
    when the text uses an unknown field or something unsafe."""
    incident = _incident(incident_id)
    values = inputs.body(UPDATE_FIELDS)
    key = values.get("template", "")
    template = None
    if key:
        try:
            template = library.get(key)
        except DomainError:
            raise inputs.BadInput([f"'template' names no template (there is no template {key!r})"]) from None
    if template is None and "body" not in values:
        raise inputs.BadInput(["'body' is missing (or give a 'template' to send its text)"])
    draft = updates.Draft(
        template_key=key, stage=values.get("stage") or render.default_stage(incident),
        subject=values.get("subject", template.subject if template and "body" not in values else ""),
        body=values.get("body") or template.body, list_ids=values.get("stakeholder_list_ids", []),
        status_page=values.get("status_page", False), webhook_ids=values.get("webhook_ids", []))
    update = updates.send(current_actor(), incident, draft, clock.now(), via="api")
    db.session.commit()
    response = jsonify(update_json(update))
    response.status_code = 201
    response.headers["Location"] = url_for("api.incident_updates", incident_id=incident.id)
    return response


# --- what updates are sent with ---------------------------------------------------------------------

@bp.route("/stakeholder_lists")
@requires(Role.VIEWER)
def stakeholder_lists():
    return jsonify({"stakeholder_lists": [{
        "id": row.id, "name": row.name, "description": row.description or "", "external": row.external,
        "send_sms": row.send_sms, "severities": list(row.severities or []),
        "services": [service_ref(s) for s in row.services], "members": len(row.members),
    } for row in stakeholders.lists()]})


@bp.route("/comms_templates")
@requires(Role.VIEWER)
def comms_templates():
    return jsonify({"templates": [{
        "key": t.key, "name": t.name, "audience": t.audience, "description": t.description, "subject": t.subject,
        "body": t.body, "active": t.active, "shipped": t.shipped, "edited": t.edited,
    } for t in library.all_templates(include_inactive=True)], "fields": sorted(render.sample_fields())})

