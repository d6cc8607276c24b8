"""Communications configuration over the API: outbound webhooks, update templates and
the severity levels.

- `webhooks`: everyone reads them; only admins see where they post (`url`), and
  nobody reads the signing secret back: it is in the answer to POST alone (made
  there unless one is given), as the design's contract says, and a PATCH may set a
  new one. DELETE removes a webhook from use and forgets its URL and secret; its
  deliveries stay in incidents' communication logs (app.comms.webhooks).
- `comms_templates/{key}`: a shipped or an admin's own template; PATCH edits it (the
  text must fill in for a sample incident, as on the page), POST .../restore brings
  back a shipped template's text. The list is GET /comms_templates (app.api.response).
- `severity_levels`: the four levels of the severity model and what each promises;
  PATCH changes one (admins), as the severity page does.

Each change is the service function the admin pages call, so it writes the same
audit entry; the caller (this view) commits once.
"""
from __future__ import annotations

from datetime import date
from typing import Literal

from flask import request, url_for
from pydantic import BaseModel, ConfigDict, Field

from app import clock
from app.api.schemas import pagination_json
from app.api.spec import Id, Input, Name, PageQuery, Pagination, Ref, Time, answer, check_if_match, endpoint
from app.api.views import bp
from app.auth.models import Role, User
from app.comms import defaults, library, webhooks
from app.comms.models import Webhook
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.triage import levels
from app.triage import service as triage
from app.triage.models import SeverityLevel
from app.web import current_actor, requires

Kind = Literal["slack", "teams", "generic"]
Audience = Literal[tuple(defaults.AUDIENCES)]  # type: ignore[valid-type]


# --- webhooks ------------------------------------------------------------------------------------

class WebhookOut(BaseModel):
    """A webhook; `url` is null unless the token's owner is an admin."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    kind: Kind
    url: str | None
    active: bool
    created_at: Time


class NewWebhookOut(WebhookOut):
    """The new webhook, with its signing secret: shown this once."""

    secret: str


class WebhookList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhooks: list[WebhookOut]
    pagination: Pagination


class NewWebhook(Input):
    name: Name
    kind: Kind = "generic"
    url: str = Field(max_length=1000)
    secret: str | None = Field(None, max_length=300, description="A `whsec_` secret to sign with; left out, "
                                                                  "one is made and answered once.")
    active: bool = True


class WebhookChange(Input):
    """The fields to change; those left out stay as they are."""

    name: Name | None = None
    kind: Kind | None = None
    url: str | None = Field(None, max_length=1000)
    secret: str | None = Field(None, max_length=300, description="A new `whsec_` signing secret.")
    active: bool | None = None


def webhook_data(row: Webhook) -> dict:
    reveal = current_actor().can(Role.ADMIN)
    return {"id": row.id, "name": row.name, "kind": row.kind, "url": row.url if reveal else None,
            "active": row.active, "created_at": row.created_at}


def _webhook(webhook_id: int) -> Webhook:
    return webhooks.get_webhook(webhook_id)


def _one_webhook(row: Webhook, status: int = 200, **headers):
    return answer(WebhookOut, webhook_data(row), status, etag=True, headers=headers)


@bp.route("/webhooks")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: WebhookList}, tag="webhooks")
def list_webhooks():
    """Every webhook in use, by name."""
    query = request.context.query
    rows = webhooks.webhooks()
    page = rows[(query.page - 1) * query.per_page:query.page * query.per_page]
    return answer(WebhookList, {"webhooks": [webhook_data(r) for r in page],
                                "pagination": pagination_json(query.page, query.per_page, len(rows))})


@bp.route("/webhooks/<int:webhook_id>")
@requires(Role.VIEWER)
@endpoint(answers={200: WebhookOut}, tag="webhooks")
def show_webhook(webhook_id: int):
    """One webhook, with its ETag for If-Match."""
    return _one_webhook(_webhook(webhook_id))


@bp.route("/webhooks", methods=["POST"])
@requires(Role.ADMIN)
@endpoint(body=NewWebhook, answers={201: NewWebhookOut}, tag="webhooks", refusals=(409,))
def create_webhook():
    """A new webhook (admins). The answer carries its signing secret (`whsec_…`), the
    only time it is shown: keep it where the receiver checks signatures."""
    body, actor = request.context.json, current_actor()
    row = webhooks.create_webhook(actor, clock.now(), name=body.name, kind=body.kind, url=body.url,
                                  secret=body.secret or "")
    if not body.active:
        webhooks.set_active(actor, row, False)
    db.session.commit()
    return answer(NewWebhookOut, {**webhook_data(row), "secret": row.secret}, 201,
                  headers={"Location": url_for("api.show_webhook", webhook_id=row.id)})


@bp.route("/webhooks/<int:webhook_id>", methods=["PATCH"])
@requires(Role.ADMIN)
@endpoint(body=WebhookChange, answers={200: WebhookOut}, tag="webhooks", refusals=(409,))
def update_webhook(webhook_id: int):
    """Rename, repoint, re-sign, enable or disable a webhook (admins)."""
    row, body, actor = _webhook(webhook_id), request.context.json, current_actor()
    check_if_match(WebhookOut, webhook_data(row))
    webhooks.update_webhook(actor, row, name=body.name, kind=body.kind, url=body.url, secret=body.secret)
    if body.active is not None:
        webhooks.set_active(actor, row, body.active)
    db.session.commit()
    return _one_webhook(row)


@bp.route("/webhooks/<int:webhook_id>", methods=["DELETE"])
@requires(Role.ADMIN)
@endpoint(answers={204: None}, tag="webhooks")
def delete_webhook(webhook_id: int):
    """Stop using a webhook; its URL and secret are forgotten, its deliveries kept."""
    row = _webhook(webhook_id)
    check_if_match(WebhookOut, webhook_data(row))
    webhooks.delete_webhook(current_actor(), row, clock.now())
    db.session.commit()
    return "", 204


# --- update templates --------------------------------------------------------------------------------

class CommsTemplateOut(BaseModel):
    """A template: `shipped` ones come with Firebreak (`edited` when an admin changed
    their text), the others are admins' own (`custom_…`)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    key: str
    name: str
    audience: str
    description: str
    subject: str
    body: str
    active: bool
    shipped: bool
    edited: bool


class CommsTemplateChange(Input):
    """The fields to change; those left out stay as they are. The text must fill in for
    a sample incident at every stage (fields: GET /comms_templates)."""

    name: Name | None = None
    audience: Audience | None = None
    description: str | None = Field(None, max_length=500)
    subject: str | None = Field(None, max_length=255)
    body: str | None = Field(None, max_length=20_000)
    active: bool | None = None


class TemplateRestore(Input):
    """Nothing to send."""


def _template(key: str) -> library.Template:
    return library.get(key)


def _one_template(template: library.Template):
    return answer(CommsTemplateOut, template, etag=True)


@bp.route("/comms_templates/<key>")
@requires(Role.VIEWER)
@endpoint(answers={200: CommsTemplateOut}, tag="comms templates")
def show_comms_template(key: str):
    """One template, with its ETag for If-Match."""
    return _one_template(_template(key))


@bp.route("/comms_templates/<key>", methods=["PATCH"])
@requires(Role.ADMIN)
@endpoint(body=CommsTemplateChange, answers={200: CommsTemplateOut}, tag="comms templates")
def update_comms_template(key: str):
    """Edit a template (admins): a shipped one keeps its key and can be restored."""
    template, body = _template(key), request.context.json
    check_if_match(CommsTemplateOut, template)
    sent = {name: getattr(body, name) for name in body.model_fields_set if getattr(body, name) is not None}
    values = {name: sent.get(name, getattr(template, name))
              for name in ("name", "audience", "description", "subject", "body", "active")}
    saved = library.save(current_actor(), key, clock.now(), **values)
    db.session.commit()
    return _one_template(saved)


@bp.route("/comms_templates/<key>/restore", methods=["POST"])
@requires(Role.ADMIN)
@endpoint(body=TemplateRestore, answers={200: CommsTemplateOut}, tag="comms templates", refusals=(409,))
def restore_comms_template(key: str):
    """Back to the shipped text (409 for an admin's own template: retire it instead)."""
    _template(key)
    if key not in defaults.TEMPLATE_KEYS:
        raise Conflict("Only a shipped template can be restored; set your own inactive instead.")
    library.restore(current_actor(), key)
    db.session.commit()
    return _one_template(_template(key))


# --- severity levels ---------------------------------------------------------------------------------

class SeverityLevelOut(BaseModel):
    """A severity level: what it means and what it promises."""

    model_config = ConfigDict(extra="forbid")

    level: int
    name: str
    label: str
    definition: str
    impact_criteria: str
    examples: str
    response_minutes: int
    resolution_minutes: int
    update_cadence_minutes: int | None
    postmortem: Literal["required", "lightweight", "optional"]
    urgency: Literal["high", "low"]
    owner: Ref | None
    next_review_on: date | None
    updated_at: Time | None


class SeverityLevelList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity_levels: list[SeverityLevelOut]
    pagination: Pagination


MAX_MINUTES = 60 * 24 * 30


class SeverityLevelChange(Input):
    """The fields to change; those left out stay as they are."""

    label: str | None = Field(None, min_length=1, max_length=40)
    definition: str | None = Field(None, max_length=5_000)
    impact_criteria: str | None = Field(None, max_length=5_000)
    examples: str | None = Field(None, max_length=5_000)
    response_minutes: int | None = Field(None, ge=1, le=MAX_MINUTES)
    resolution_minutes: int | None = Field(None, ge=1, le=MAX_MINUTES)
    update_cadence_minutes: int | None = Field(None, ge=5, le=60 * 24, description="null: no cadence.")
    postmortem: Literal["required", "lightweight", "optional"] | None = None
    urgency: Literal["high", "low"] | None = None
    owner_id: Id | None = Field(None, description="Who reviews the level; null: nobody.")
    next_review_on: date | None = None


def level_data(number: int) -> dict:
    """The level as configured (the shipped defaults until an admin saves it)."""
    shown, row = levels.level(number), db.session.get(SeverityLevel, number)
    return {"level": number, "name": shown.name, "label": shown.label, "definition": shown.definition,
            "impact_criteria": shown.impact_criteria, "examples": shown.examples,
            "response_minutes": shown.response_minutes, "resolution_minutes": shown.resolution_minutes,
            "update_cadence_minutes": shown.update_cadence_minutes, "postmortem": shown.postmortem,
            "urgency": shown.urgency,
            "owner": {"id": row.owner.id, "name": row.owner.name} if row is not None and row.owner else None,
            "next_review_on": row.next_review_on if row is not None else None,
            "updated_at": row.updated_at if row is not None else None}


def _level(level: int) -> int:
    if level not in (1, 2, 3, 4):
        raise NotFound(f"There is no severity {level}: there are four, 1 to 4.")
    return level


@bp.route("/severity_levels")
@requires(Role.VIEWER)
@endpoint(query=PageQuery, answers={200: SeverityLevelList}, tag="severity levels")
def list_severity_levels():
    """The four severities, SEV-1 first."""
    query = request.context.query
    numbers = [1, 2, 3, 4][(query.page - 1) * query.per_page:query.page * query.per_page]
    return answer(SeverityLevelList, {"severity_levels": [level_data(n) for n in numbers],
                              "pagination": pagination_json(query.page, query.per_page, 4)})


@bp.route("/severity_levels/<int:level>")
@requires(Role.VIEWER)
@endpoint(answers={200: SeverityLevelOut}, tag="severity levels")
def show_severity_level(level: int):
    """One severity, with its ETag for If-Match."""
    return answer(SeverityLevelOut, level_data(_level(level)), etag=True)


@bp.route("/severity_levels/<int:level>", methods=["PATCH"])
@requires(Role.ADMIN)
@endpoint(body=SeverityLevelChange, answers={200: SeverityLevelOut}, tag="severity levels")
def update_severity_level(level: int):
    """Change what a severity means or promises (admins); it applies to incidents
    opened from now on."""
    body = request.context.json
    check_if_match(SeverityLevelOut, level_data(_level(level)))
    fields = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("label", "definition", "impact_criteria", "examples", "response_minutes", "resolution_minutes",
                 "postmortem", "urgency"):
        if name in fields and fields[name] is None:
            raise DomainError(f"'{name}' may not be null.", name)
    if fields.get("owner_id") is not None and db.session.get(User, fields["owner_id"]) is None:
        raise DomainError(f"'owner_id' names nobody (there is no person {fields['owner_id']}).", "owner_id")
    triage.update_level(current_actor(), level, clock.now(), **fields)
    db.session.commit()
    return answer(SeverityLevelOut, level_data(level), etag=True)

