"""Outbound webhooks of updates: Slack and Microsoft Teams incoming webhooks, and JSON.

Sending an update to a webhook makes a `webhook_deliveries` row (unique key per
update and webhook); the engine posts what is due through the one webhook sender
(app.webhooks.sender), outside any transaction and never in a web request,
retrying with the outbox's backoff (app.engine.backoff).

Every post is signed per Standard Webhooks with the webhook's `whsec_` secret
(Slack and Teams ignore the headers); docs/webhooks.md says how receivers check it.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from urllib.parse import urlparse

import sqlalchemy as sa

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role
from app.comms.models import CommsUpdate, DeliveryStatus, Webhook, WebhookDelivery, WebhookKind
from app.engine import backoff
from app.engine.core import Job
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents.models import EventKind, Incident
from app.incidents.timeline import record_event
from app.links import external_url
from app.webhooks import addresses, sender, signing

log = logging.getLogger("firebreak.webhooks")

SEND_TIMEOUT = timedelta(seconds=60)
EVENT = "incident.update"
SYSTEM = Actor.system("Firebreak")


def _admin(actor: Actor) -> None:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change webhooks.")


# --- configuration ----------------------------------------------------------------------------

def webhooks(*, active_only: bool = False) -> list[Webhook]:
    stmt = sa.select(Webhook).where(Webhook.removed_at.is_(None)).order_by(Webhook.name)
    if active_only:
        stmt = stmt.where(Webhook.active.is_(True))
    return db.session.scalars(stmt).all()


def get_webhook(webhook_id: int) -> Webhook:
    row = db.session.get(Webhook, webhook_id)
    if row is None or row.removed_at is not None:
        raise NotFound(f"There is no webhook {webhook_id}.")
    return row


def clean_url(url: str | None) -> str:
    return addresses.check_url(url, max_length=1000)


def create_webhook(actor: Actor, now: datetime, *, name: str, kind: str, url: str, secret: str = "") -> Webhook:
    """A new webhook signing with `secret` (a `whsec_` secret), or with a new one."""
    _admin(actor)
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        raise DomainError("Give the webhook a name (at most 120 characters).", "name")
    if kind not in WebhookKind.ALL:
        raise DomainError("The kind is slack, teams or generic.", "kind")
    if db.session.scalar(sa.select(Webhook.id).where(Webhook.name == name)) is not None:
        raise Conflict(f"There is already a webhook called {name}.")
    secret = signing.check_secret(secret) if (secret or "").strip() else signing.new_secret()
    row = Webhook(name=name, kind=kind, url=clean_url(url), secret=secret, active=True, created_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "comms.webhook", row, summary=f"Added the {kind} webhook {name}",
                 after={"name": name, "kind": kind, "host": urlparse(row.url).netloc})
    return row


def update_webhook(actor: Actor, row: Webhook, *, kind: str | None = None, url: str | None = None,
                   secret: str | None = None, name: str | None = None) -> list[str]:
    """Rename a webhook, point it elsewhere or give it a new kind or signing secret
    (what a configuration file and the API do); returns the fields that changed. The
    audit entry names the fields and the host, never the URL or the secret."""
    _admin(actor)
    changed = []
    if name is not None and " ".join(name.split()) != row.name:
        name = " ".join(name.split())
        if not name or len(name) > 120:
            raise DomainError("Give the webhook a name (at most 120 characters).", "name")
        if db.session.scalar(sa.select(Webhook.id).where(Webhook.name == name, Webhook.id != row.id)) is not None:
            raise Conflict(f"There is already a webhook called {name}.")
        row.name = name
        changed.append("name")
    if kind is not None and kind != row.kind:
        if kind not in WebhookKind.ALL:
            raise DomainError("The kind is slack, teams or generic.", "kind")
        row.kind = kind
        changed.append("kind")
    if url is not None and url != row.url:
        row.url = clean_url(url)
        changed.append("url")
    if secret is not None and secret != row.secret:
        row.secret = signing.check_secret(secret)
        changed.append("secret")
    if changed:
        audit.record(actor, "comms.webhook", row, summary=f"Changed the webhook {row.name}: {', '.join(changed)}",
                     after={"kind": row.kind, "host": urlparse(row.url).netloc, "changed": changed})
    return changed


def set_active(actor: Actor, row: Webhook, active: bool) -> bool:
    _admin(actor)
    if row.active == active:
        return False
    row.active = active
    audit.record(actor, "comms.webhook", row, summary=f"{'Enabled' if active else 'Disabled'} the webhook {row.name}")
    return True


def delete_webhook(actor: Actor, row: Webhook, now: datetime) -> None:
    """Remove a webhook from use. The row stays, since its deliveries are in incidents'
    communication logs; its URL and secret (credentials, for Slack and Teams) are
    forgotten, and its name is freed for a new one. Deliveries still due fail."""
    _admin(actor)
    audit.record(actor, "comms.webhook", row, summary=f"Deleted the webhook {row.name}",
                 before={"name": row.name, "kind": row.kind, "host": urlparse(row.url).netloc})
    row.active, row.removed_at = False, now
    suffix = f" (deleted {row.id})"
    row.name = row.name[:120 - len(suffix)] + suffix
    row.url, row.secret = "", ""


# --- what is posted ---------------------------------------------------------------------------

def iso(value: datetime | None) -> str | None:
    return clock.utc(value).isoformat().replace("+00:00", "Z") if value else None


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(kind: str, incident: Incident, update: CommsUpdate, url: str) -> dict:
    """The JSON for one kind of receiver."""
    from app.comms.render import STAGE_LABELS
    stage = STAGE_LABELS.get(update.stage, update.stage)
    severity = f"SEV-{update.severity}"
    subject = update.subject or f"{severity} #{incident.id}: {incident.title}"
    if kind == WebhookKind.SLACK:
        return {
            # The notification text is mrkdwn too: <!channel> or <url|text> typed in a title is text.
            "text": _slack_escape(f"{subject}\n{update.body}")[:3000],
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": subject[:150], "emoji": False}},
                {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(update.body)[:2900] or " "}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text":
                    f"<{url}|#{incident.id}> · {severity} · {stage} · {_slack_escape(incident.service.name)}"}]},
            ],
        }
    if kind == WebhookKind.TEAMS:
        return {
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard", "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": True},
                        {"type": "TextBlock", "text": update.body, "wrap": True},
                        {"type": "FactSet", "facts": [
                            {"title": "Incident", "value": f"#{incident.id}"}, {"title": "Severity", "value": severity},
                            {"title": "Stage", "value": stage}, {"title": "Service", "value": incident.service.name}]},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "Open the incident", "url": url}],
                },
            }],
        }
    return {
        "event": EVENT,
        "incident": {"id": incident.id, "ref": f"#{incident.id}", "title": incident.title, "severity": update.severity,
                     "severity_name": severity, "status": incident.status.value, "service": incident.service.name,
                     "url": url},
        "update": {"id": update.id, "stage": update.stage, "subject": update.subject, "body": update.body,
                   "template": update.template_key or None, "sent_at": iso(update.sent_at),
                   "sent_by": update.sent_by, "on_time": update.on_time, "due_at": iso(update.due_at)},
    }


def enqueue(webhook: Webhook, incident: Incident, update: CommsUpdate, now: datetime) -> WebhookDelivery:
    """Once per (update, webhook): a second call returns the first row."""
    key = f"update:{update.id}:webhook:{webhook.id}"
    existing = db.session.scalar(sa.select(WebhookDelivery).where(WebhookDelivery.key == key))
    if existing is not None:
        return existing
    url = external_url("incidents.show", incident_id=incident.id)
    body = json.dumps(payload(webhook.kind, incident, update, url), separators=(",", ":"), ensure_ascii=False)
    row = WebhookDelivery(key=key, webhook_id=webhook.id, incident_id=incident.id, update_id=update.id, body=body,
                          status=DeliveryStatus.QUEUED, attempts=0, next_attempt_at=now, created_at=now)
    db.session.add(row)
    db.session.flush()
    return row


# --- sending (the engine) -----------------------------------------------------------------------

def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(
        sa.select(WebhookDelivery.id)
        .where(WebhookDelivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
               WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)).all()


def run(delivery_id: int, now: datetime) -> bool:
    """Engine unit: claim one delivery, commit, post it outside the transaction, record."""
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None or row.status not in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
        return False
    if row.next_attempt_at is None or row.next_attempt_at > now:
        return False
    webhook = row.webhook
    if not webhook.active:
        why = "the webhook was deleted" if webhook.removed_at is not None else "the webhook is disabled"
        row.status, row.next_attempt_at, row.last_error = DeliveryStatus.FAILED, None, why
        return True
    row.status, row.attempts, row.next_attempt_at = DeliveryStatus.SENDING, row.attempts + 1, now + SEND_TIMEOUT
    url, secret, key, body = webhook.url, webhook.secret, row.key, row.body.encode()
    db.session.commit()
    result = sender.deliver(url, secret, key, body, now, event=EVENT)
    if not result.ok:
        _failed(row, result.error, result.retry, result.code, now)
        return True
    row.status, row.sent_at, row.next_attempt_at, row.response_code, row.last_error = \
        DeliveryStatus.SENT, now, None, result.code, None
    return True


def _failed(row: WebhookDelivery, error: str, retry: bool, code: int | None, now: datetime) -> None:
    give_up = not retry or backoff.exhausted(row.attempts)
    delay = backoff.retry_delay(row.attempts)
    row.last_error, row.response_code = error[:2000], code
    if give_up:
        row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        row.status, row.next_attempt_at = DeliveryStatus.QUEUED, now + delay
    incident = db.session.get(Incident, row.incident_id) if row.incident_id else None
    if incident is not None and (row.attempts == 1 or give_up):
        record_event(incident, EventKind.DELIVERY_FAILED, SYSTEM, via="engine", at=now,
                     text=f"Webhook {row.webhook.name} failed ({error})"
                          + ("; giving up" if give_up else f"; trying again in {int(delay.total_seconds())} s"),
                     data={"webhook_delivery_id": row.id, "attempt": row.attempts})


def deliveries_for(incident: Incident) -> list[WebhookDelivery]:
    return db.session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.incident_id == incident.id)
                              .order_by(WebhookDelivery.id)).all()


JOBS = [Job("comms_webhooks", due, run)]
