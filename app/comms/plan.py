"""The communication plan: per severity, who must be told, by when, with which template.

Shipped in app/comms/defaults.py; an admin's plan for a severity is a
`comms_plans` row that replaces it. On an incident each item is done when an
update from its template has been sent, or when someone ticks it (an audience
told another way, or one that need not be told this time).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role
from app.comms import defaults
from app.comms.models import CommsPlan, CommsUpdate, PlanCheck
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.incidents.timeline import touch

RESOLUTION_ITEM = "resolution"


def items_for(severity: int) -> list[dict]:
    row = db.session.get(CommsPlan, severity)
    return list(row.items) if row is not None else [dict(item) for item in defaults.PLANS.get(severity, [])]


def is_edited(severity: int) -> bool:
    return db.session.get(CommsPlan, severity) is not None


def as_text(items: list[dict]) -> str:
    """One line per item: `minutes | who | template key`."""
    return "\n".join(f"{item['within']} | {item['audience']} | {item['template']}" for item in items) + "\n"


def parse(text: str) -> list[dict]:
    from app.comms import library
    keys = {t.key for t in library.all_templates(include_inactive=True)}
    items = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not parts[0].isdecimal() or len(parts[0]) > 6 or not parts[1]:
            raise DomainError(f"Line {number}: write `minutes | who must be told | template key`.", "items")
        within, audience, template = int(parts[0]), parts[1][:200], parts[2]
        if not 1 <= within <= 60 * 24 * 30:
            raise DomainError(f"Line {number}: minutes from 1 to 30 days.", "items")
        if template not in keys:
            raise DomainError(f"Line {number}: there is no template {template!r}. Templates: {', '.join(sorted(keys))}.",
                              "items")
        items.append({"audience": audience, "template": template, "within": within})
    if len(items) > 30:
        raise DomainError("At most 30 items.", "items")
    return items


def save(actor: Actor, severity: int, items: list[dict], now: datetime) -> CommsPlan:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change the communication plan.")
    if severity not in (1, 2, 3, 4):
        raise DomainError("There are four severities.")
    before = items_for(severity)
    row = db.session.get(CommsPlan, severity)
    if row is None:
        row = CommsPlan(severity=severity)
        db.session.add(row)
    row.items, row.updated_at, row.updated_by = items, now, actor.label[:200]
    audit.record(actor, "comms.plan", object_type="comms_plans", object_id=severity,
                 summary=f"Changed the SEV-{severity} communication plan", before={"items": before},
                 after={"items": items})
    return row


def restore(actor: Actor, severity: int) -> bool:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change the communication plan.")
    row = db.session.get(CommsPlan, severity)
    if row is None:
        return False
    db.session.delete(row)
    audit.record(actor, "comms.plan", object_type="comms_plans", object_id=severity,
                 summary=f"Restored the shipped SEV-{severity} communication plan")
    return True


# --- on an incident ---------------------------------------------------------------------

@dataclass
class PlanItem:
    key: str
    audience: str
    template: str
    due_at: datetime | None
    done_at: datetime | None
    done_how: str

    def state(self, now: datetime) -> str:
        if self.done_at is not None:
            return "done"
        if self.due_at is None:
            return "later"
        return "late" if now > self.due_at else "due"


def item_key(item: dict) -> str:
    return f"{item['template']}:{item['audience']}"[:200]


def progress(incident, now: datetime) -> list[PlanItem]:
    """The plan for the incident's severity, each item with when it is due and done."""
    sent = db.session.execute(sa.select(CommsUpdate.template_key, sa.func.min(CommsUpdate.sent_at))
                              .where(CommsUpdate.incident_id == incident.id)
                              .group_by(CommsUpdate.template_key)).all()
    first_sent = {key: clock.utc(at) for key, at in sent}
    ticks = {c.item: c for c in db.session.scalars(sa.select(PlanCheck).where(PlanCheck.incident_id == incident.id))}
    detected = clock.utc(incident.detected_at)
    out = []
    for item in items_for(incident.severity):
        key = item_key(item)
        done_at, how = _done(key, item["template"], first_sent, ticks)
        out.append(PlanItem(key, item["audience"], item["template"], detected + timedelta(minutes=item["within"]),
                            done_at, how))
    resolved = clock.utc(incident.resolved_at)
    within = defaults.RESOLUTION_WITHIN.get(incident.severity, 60)
    done_at, how = _done(RESOLUTION_ITEM, "resolution", first_sent, ticks)
    out.append(PlanItem(RESOLUTION_ITEM, "Everyone told so far (resolution notice)", "resolution",
                        resolved + timedelta(minutes=within) if resolved else None, done_at, how))
    return out


def _done(key: str, template: str, first_sent: dict, ticks: dict) -> tuple[datetime | None, str]:
    if template in first_sent:
        return first_sent[template], "sent"
    if key in ticks:
        return clock.utc(ticks[key].done_at), f"ticked by {ticks[key].done_by}"
    return None, ""


def tick(actor: Actor, incident, key: str, done: bool, now: datetime) -> bool:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders work on incidents.")
    keys = {item.key for item in progress(incident, now)}
    if key not in keys:
        raise DomainError("That is not on this incident's communication plan.", "item")
    row = db.session.scalar(sa.select(PlanCheck).where(PlanCheck.incident_id == incident.id, PlanCheck.item == key))
    if done == (row is not None):
        return False
    if done:
        db.session.add(PlanCheck(incident_id=incident.id, item=key, done_at=now, done_by=actor.label[:200]))
    else:
        db.session.delete(row)
    audit.record(actor, "comms.plan_check", incident,
                 summary=f"#{incident.id} communication plan: {'done' if done else 'not done'}: {key}")
    touch(incident, now)
    return True
