"""Updates: written from a template, edited, previewed, sent to their audiences.

The subject and body are template text (plain words work as they are; `{{ title }}`
and the other fields of app/comms/render.py are filled in when the update is
previewed and again when it is sent, so the times are right). Everything is
checked before anything is sent: the template (unknown fields, unsafe
constructs), each audience (the lists exist and reach someone, the webhooks are
on, the status page is installed). Then, in one transaction: the update row,
the outbox rows for every stakeholder (each address once), the status page
post, the webhook deliveries, the cadence (`cadence.record_sent`), the timeline
entry and the audit entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role
from app.comms import cadence, library, render, stakeholders, statuspage, webhooks
from app.comms.models import CommsDue, CommsUpdate, DueState, UpdateAudience
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.incidents.models import EventKind, Incident
from app.incidents.timeline import record_event
from app.notify import text as notify_text
from app.notify.models import Channel
from app.notify.outbox import enqueue

MAX_SUBJECT = 255
SMS_LIMIT = 459  # three segments


@dataclass
class Draft:
    """What the composer holds: template text and the chosen audiences."""

    template_key: str = ""
    stage: str = "investigating"
    subject: str = ""
    body: str = ""
    list_ids: list[int] = field(default_factory=list)
    status_page: bool = False
    webhook_ids: list[int] = field(default_factory=list)


@dataclass
class Preview:
    subject: str
    body: str
    sms: str
    audiences: list[str]
    emails: int
    texts: int


def draft_for(incident: Incident, template_key: str | None, now: datetime) -> Draft:
    """A new draft from a template (the incident's first update: the internal
    technical update; once resolved: the resolution notice), with the lists
    subscribed to this incident chosen."""
    if not template_key:
        template_key = "resolution" if incident.status.value == "resolved" else "internal_technical"
    template = library.get(template_key)
    stage = render.default_stage(incident)
    return Draft(template_key=template.key, stage=stage, subject=template.subject, body=template.body,
                 list_ids=[row.id for row in stakeholders.proposed_for(incident)],
                 status_page=template.audience == "customer")


def sms_text(subject: str, body: str) -> str:
    words = (f"{subject}: {body}" if subject else body).split()
    message = notify_text.gsm7(" ".join(words))
    return message if len(message) <= SMS_LIMIT else message[: SMS_LIMIT - 3].rstrip() + "..."


def _fill(incident: Incident, draft: Draft, now: datetime) -> tuple[str, str]:
    if draft.stage not in render.STAGES:
        raise DomainError(f"The stage is one of {', '.join(render.STAGES)}.", "stage")
    fields = render.fields(incident, now, stage=draft.stage)
    subject = " ".join(render.render(draft.subject, fields, part="subject").split())
    body = render.render(draft.body, fields, part="body")
    if len(subject) > MAX_SUBJECT:
        raise DomainError(f"The subject comes to more than {MAX_SUBJECT} characters.", "subject")
    if not body:
        raise DomainError("The update says nothing: write a body.", "body")
    return subject, body


def _audiences(draft: Draft):
    lists, hooks = [], []
    for list_id in dict.fromkeys(draft.list_ids):
        try:
            lists.append(stakeholders.get_list(list_id))
        except DomainError:
            raise DomainError(f"There is no stakeholder list {list_id}.", "list_ids") from None
    for webhook_id in dict.fromkeys(draft.webhook_ids):
        try:
            hook = webhooks.get_webhook(webhook_id)
        except DomainError:
            raise DomainError(f"There is no webhook {webhook_id}.", "webhook_ids") from None
        if not hook.active:
            raise DomainError(f"The webhook {hook.name} is disabled.", "webhook_ids")
        hooks.append(hook)
    if not (lists or hooks or draft.status_page):
        raise DomainError("Choose who hears it: a stakeholder list, the status page or a webhook.", "list_ids")
    people = stakeholders.recipients(lists)
    for row in lists:
        if not stakeholders.recipients([row]):
            raise DomainError(f"The list {row.name} has nobody on it to send to.", "list_ids")
    return lists, hooks, people


def preview(incident: Incident, draft: Draft, now: datetime) -> Preview:
    """What would be sent now, to whom; refuses exactly what sending would refuse."""
    subject, body = _fill(incident, draft, now)
    lists, hooks, people = _audiences(draft)
    labels = [row.name for row in lists] + (["Status page"] if draft.status_page else []) + \
        [hook.name for hook in hooks]
    return Preview(subject=subject, body=body, sms=sms_text(subject, body), audiences=labels,
                   emails=sum(1 for r in people if r.channel == Channel.EMAIL),
                   texts=sum(1 for r in people if r.channel == Channel.SMS))


def send(actor: Actor, incident: Incident, draft: Draft, now: datetime, *, via: str = "web") -> CommsUpdate:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders send updates.")
    if draft.template_key:
        library.get(draft.template_key)  # an unknown key is an error, not a silent blank
    subject, body = _fill(incident, draft, now)
    lists, hooks, people = _audiences(draft)

    update = CommsUpdate(incident_id=incident.id, template_key=draft.template_key or "", stage=draft.stage,
                         severity=incident.severity, subject=subject, body=body, sent_at=now,
                         sent_by_id=actor.user.id if actor.user else None, sent_by=actor.label[:200])
    db.session.add(update)
    db.session.flush()
    cadence.record_sent(update, incident, now)

    sms = sms_text(subject, body)
    counted: set[tuple[Channel, str]] = set()
    for row in lists:
        made = 0
        for recipient in stakeholders.recipients([row]):
            key = (recipient.channel, recipient.address.lower())
            if key in counted:
                continue  # on an earlier list too: it goes once
            counted.add(key)
            enqueue(key=f"update:{update.id}:{recipient.channel.value}:{recipient.address.lower()}"[:200],
                    purpose="update", channel=recipient.channel, to_address=recipient.address,
                    subject=subject if recipient.channel == Channel.EMAIL else "",
                    body=body if recipient.channel == Channel.EMAIL else sms, due=now, now=now,
                    user_id=recipient.user_id, incident_id=incident.id)
            made += 1
        db.session.add(UpdateAudience(update=update, kind="stakeholders", ref_id=row.id, label=row.name,
                                      messages=made))
    if draft.status_page:
        statuspage.publish(actor, incident, draft.stage, body, now, title=subject or None)
        db.session.add(UpdateAudience(update=update, kind="status_page", label="Status page", messages=1))
    for hook in hooks:
        webhooks.enqueue(hook, incident, update, now)
        db.session.add(UpdateAudience(update=update, kind="webhook", ref_id=hook.id, label=hook.name, messages=1))
    db.session.flush()

    labels = update.audience_labels
    timing = ""
    if update.due_at is not None:
        timing = " (on time)" if update.on_time else \
            f" ({int((now - update.due_at).total_seconds() // 60)} min late: due {update.due_at:%H:%M} UTC)"
    record_event(incident, EventKind.STATUS_UPDATE, actor, via=via, at=now,
                 text=f"Update to {', '.join(labels)}{timing}: {subject or body[:200]}",
                 data={"update_id": update.id, "audience": ", ".join(labels), "audiences": labels,
                       "stage": draft.stage, "template": update.template_key or None,
                       "due_at": update.due_at.isoformat() if update.due_at else None, "on_time": update.on_time,
                       "messages": len(counted)})
    audit.record(actor, "comms.update", update,
                 summary=f"#{incident.id} update sent to {', '.join(labels)} ({len(counted)} messages)",
                 after={"subject": subject, "audiences": labels, "stage": draft.stage})
    return update


# --- reading -------------------------------------------------------------------------------------

def updates_of(incident: Incident) -> list[CommsUpdate]:
    return db.session.scalars(sa.select(CommsUpdate).options(selectinload(CommsUpdate.audiences))
                              .where(CommsUpdate.incident_id == incident.id)
                              .order_by(CommsUpdate.sent_at, CommsUpdate.id)).all()


@dataclass
class LogEntry:
    at: datetime
    kind: str            # update, overdue
    update: CommsUpdate | None = None
    due: CommsDue | None = None

    @property
    def timing(self) -> str:
        """on time, late, no cadence; for an overdue mark: missed or met late."""
        if self.update is not None:
            if self.update.due_at is None:
                return "no cadence"
            return "on time" if self.update.on_time else "late"
        return "met late" if self.due.state == DueState.MET else "overdue"


def log(incident: Incident) -> list[LogEntry]:
    """The communication log, oldest first: every update with its audiences and
    whether it was on time, and every time the cadence was missed."""
    entries = [LogEntry(at=clock.utc(u.sent_at), kind="update", update=u) for u in updates_of(incident)]
    for due in db.session.scalars(sa.select(CommsDue).where(CommsDue.incident_id == incident.id,
                                                            CommsDue.overdue_at.isnot(None))):
        entries.append(LogEntry(at=clock.utc(due.overdue_at), kind="overdue", due=due))
    entries.sort(key=lambda e: (e.at, 0 if e.kind == "overdue" else 1))
    return entries


@dataclass
class Status:
    """For the war room: what the incident owes."""

    cadence_minutes: int | None
    due: CommsDue | None
    sender: str
    sent: int
    on_time: int

    def state(self, now: datetime) -> str:
        if self.due is None:
            return "none"
        if self.due.state == DueState.OVERDUE or now > clock.utc(self.due.due_at):
            return "overdue"
        return "due"


def status(incident: Incident) -> Status:
    person, as_what = cadence.sender_of(incident)
    rows = db.session.execute(sa.select(sa.func.count(CommsUpdate.id),
                                        sa.func.count(CommsUpdate.id).filter(CommsUpdate.on_time.is_(True)))
                              .where(CommsUpdate.incident_id == incident.id)).one()
    return Status(cadence_minutes=cadence.cadence_minutes(incident), due=cadence.current_due(incident),
                  sender=f"{person.name} ({as_what})" if person else "", sent=rows[0], on_time=rows[1])
