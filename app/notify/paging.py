"""Paging a person about an incident: their rules become outbox rows, at once.

`page` decides and writes; the engine's dispatcher sends. Acknowledging or
resolving the incident cancels what has not gone out (`cancel_pages`).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import User
from app.extensions import db
from app.incidents.models import EventKind, Incident
from app.incidents.timeline import record_event
from app.links import external_url
from app.notify import contacts, text
from app.notify.models import Channel, Notification, Status
from app.notify.outbox import enqueue


def incident_url(incident_id: int) -> str:
    return external_url("incidents.show", incident_id=incident_id)


def short_url(incident_id: int) -> str:
    """The link a page SMS has room for; it redirects to `incident_url` (home.short_link)."""
    return external_url("home.short_link", incident_id=incident_id)


def facts(incident: Incident) -> text.PageFacts:
    return text.PageFacts(number=incident.id, severity=incident.severity, service=incident.service.name,
                          title=incident.title, url=incident_url(incident.id), link=short_url(incident.id))


def _zone(user: User) -> ZoneInfo:
    try:
        return ZoneInfo(user.time_zone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def in_night(user: User, at: datetime) -> bool:
    local = at.astimezone(_zone(user)).time()
    start, end = user.night_start or time(22), user.night_end or time(7)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def after_night(user: User, at: datetime) -> datetime:
    """The end of the night `at` falls in (the person's morning), as an aware time."""
    zone = _zone(user)
    local = at.astimezone(zone)
    end = user.night_end or time(7)
    morning = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    return morning  # zoneinfo keeps wall time: 07:00 whatever the offset that day


def message_for(channel: Channel, page: text.PageFacts) -> tuple[str, str]:
    """(subject, body) for one channel. A call's body is what it says."""
    if channel == Channel.SMS:
        return "", text.page_sms(page)
    if channel == Channel.VOICE:
        return "", text.page_speech(page)
    return text.page_email(page)


def page(incident: Incident, user: User, now: datetime, *, round_key: str, actor: Actor,
         reason: str = "", purpose: str = "page") -> list[Notification]:
    """Page `user` about `incident` by their rules for its urgency.

    Returns the outbox rows (empty when the person has no way to be reached, which
    the caller must treat as an alarm). Idempotent per (incident, round, person, rule).
    `purpose` "assist" asks someone to join an incident already being worked: it is
    sent while the incident is open, not only while it is triggered.
    """
    contacts.ensure_rules(user)
    urgency = incident.urgency
    steps = [(rule.id, rule.contact_method, rule.delay_minutes) for rule in contacts.rules_for(user, urgency)
             if rule.contact_method.usable]
    if not steps:  # rules point nowhere usable: any usable method, at once
        usable = [m for m in contacts.usable_methods(user) if urgency == "high" or m.channel == Channel.EMAIL]
        steps = [(None, method, 0) for method in usable]
    page_facts = facts(incident)
    rows = []
    for rule_id, method, delay in steps:
        due = now + timedelta(minutes=delay)
        if urgency == "low" and method.channel.rings and in_night(user, due):
            due = after_night(user, due)
        subject, body = message_for(method.channel, page_facts)
        rows.append(enqueue(key=f"{purpose}:{incident.id}:{round_key}:{user.id}:{rule_id or f'm{method.id}'}",
                            purpose=purpose, channel=method.channel, to_address=method.address, body=body,
                            subject=subject, due=due, now=now, user_id=user.id, contact_method_id=method.id,
                            incident_id=incident.id, rule_id=rule_id, flush=False))
    if rows:
        plan = ", ".join(f"{r.channel.label}" + (" now" if r.next_attempt_at <= now else
                                                 f" at {r.next_attempt_at.astimezone(_zone(user)):%H:%M}")
                         for r in rows)
        event = record_event(incident, EventKind.PAGED, actor, via="engine", at=now,
                             text=f"Paging {user.name}{f' ({reason})' if reason else ''}: {plan}",
                             data={"user_id": user.id, "round": round_key, "notifications": []})
        db.session.info.setdefault(_UNNAMED, []).append((event, rows))
    else:
        record_event(incident, EventKind.UNREACHABLE, actor, via="engine", at=now,
                     text=f"{user.name} has no verified way to be paged{f' ({reason})' if reason else ''}",
                     data={"user_id": user.id, "round": round_key})
    return rows


# The timeline entry of a page names its outbox rows by id, known only once they are
# flushed. Rather than a flush per page (a batch of escalations pages many people,
# and each flush costs more than its rows), the ids are filled in after the flush
# that writes the rows; a commit flushes again until nothing is left, so the entry
# is whole in the transaction that makes it.
_UNNAMED = "firebreak.pages_unnamed"


@sa.event.listens_for(Session, "after_flush_postexec")
def _name_pages(session, flush_context) -> None:
    pending = session.info.get(_UNNAMED)
    if not pending:
        return
    left = []
    for event, rows in pending:
        ids = [row.id for row in rows]
        if None in ids:  # not flushed yet (or rolled back to a savepoint)
            left.append((event, rows))
        else:
            event.data = {**event.data, "notifications": ids}
    session.info[_UNNAMED] = left


@sa.event.listens_for(Session, "after_commit")
@sa.event.listens_for(Session, "after_rollback")
def _forget_pages(session) -> None:
    session.info.pop(_UNNAMED, None)


def cancel_pages(incident: Incident) -> int:
    """Stop every page of this incident that has not gone out yet."""
    return db.session.execute(stop_unsent_pages([incident.id])).rowcount


def stop_unsent_pages(incident_ids) -> sa.Update:
    """The UPDATE that stops every page of these incidents not yet gone out: for
    `cancel_pages`, and for ingestion's hot path, which makes it once with an
    expanding bind parameter for the ids."""
    return (sa.update(Notification)
            .where(Notification.incident_id.in_(incident_ids), Notification.purpose == "page",
                   Notification.status == Status.QUEUED)
            .values(status=Status.CANCELLED, next_attempt_at=None))
