"""Publishing from the incident page (responders): the public title, stage, message
and component impacts, and the public post-mortem summary. The section lives in
templates/incidents/show.html, outside the live-polled block, as the page's other
forms do; with htmx a post answers with just that section."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, request

from app import clock
from app.auth.models import Role
from app.extensions import htmx
from app.incidents import service as incidents
from app.incidents.models import Incident
from app.statuspage import service
from app.statuspage.forms import IMPACT_CHOICES, PostmortemForm, PublishForm
from app.statuspage.models import Stage
from app.web import current_actor, render, requires, see_other, submit

bp = Blueprint("statuspage_incidents", __name__, url_prefix="/incidents")

NEXT_STAGE = {Stage.INVESTIGATING: Stage.IDENTIFIED, Stage.IDENTIFIED: Stage.MONITORING,
              Stage.MONITORING: Stage.RESOLVED, Stage.RESOLVED: Stage.RESOLVED}


def public_section(incident: Incident, *, publish_form: PublishForm | None = None,
                   postmortem_form: PostmortemForm | None = None, picked: dict | None = None) -> dict:
    """What the incident page's status page section needs (see incidents.views)."""
    public = service.public_incident_for(incident)
    components = service.components_in_order()
    current = {row.component_id: row.impact.value for row in public.affected} if public else {}
    if publish_form is None:
        stage = NEXT_STAGE[public.status] if public else (Stage.RESOLVED if not incident.is_open
                                                          else Stage.INVESTIGATING)
        publish_form = PublishForm(formdata=None, stage=stage.value, title=public.name if public else "")
    if postmortem_form is None:
        postmortem_form = PostmortemForm(formdata=None, postmortem=public.postmortem if public else "")
    return {"public_incident": public, "publish_form": publish_form, "public_postmortem_form": postmortem_form,
            "status_components": components, "impacts": picked if picked is not None else current,
            "impact_choices": IMPACT_CHOICES}


def _changed() -> None:
    current_app.extensions["statuspage_cache"].expire()


def _answer(incident: Incident, message: str, **section):
    if htmx:
        response = render("incidents/show.html", "public_form", incident=incident, **public_section(incident, **section))
        if message and not section:
            response.headers["HX-Trigger"] = '{"firebreak:done": null}'
        return response
    if section:
        from app.incidents.pages import page_with
        return page_with(incident, status=400, **public_section(incident, **section))
    flash(message, "success")
    return see_other("incidents.show", incident_id=incident.id)


@bp.route("/<int:incident_id>/public", methods=["POST"])
@requires(Role.RESPONDER)
def publish(incident_id: int):
    incident = incidents.get_incident(incident_id)
    form = PublishForm()
    components = service.components_in_order()
    picked = {c.id: request.form.get(f"impact-{c.public_id}", "") for c in components}

    def publish_it() -> bool:
        first = service.public_incident_for(incident) is None
        service.publish_update(current_actor(), incident, form.stage.data, form.body.data, clock.now(),
                               title=form.title.data, components={c: picked[c.id] or None for c in components},
                               notify=form.notify.data)
        return first
    return submit(form, publish_it, success=None, after=_changed, to=lambda first: _answer(
        incident, "Published on the status page." if first else "Status page updated.")) or _answer(incidents.get_incident(incident_id), "", publish_form=form,
                   picked={cid: value for cid, value in picked.items() if value})


@bp.route("/<int:incident_id>/public/postmortem", methods=["POST"])
@requires(Role.RESPONDER)
def postmortem(incident_id: int):
    incident = incidents.get_incident(incident_id)
    form = PostmortemForm()
    return submit(form, lambda: service.publish_postmortem(current_actor(), incident, form.postmortem.data or "",
                                                           clock.now()),
                  success=None, after=_changed, to=lambda _: _answer(
                      incident, "Post-mortem summary published." if form.postmortem.data else
                      "Post-mortem summary withdrawn.")) or _answer(incidents.get_incident(incident_id), "", postmortem_form=form)
