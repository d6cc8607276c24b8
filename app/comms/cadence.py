"""The update cadence: each severity says how often an open incident owes an update
(`levels.level(n).update_cadence_minutes`: SEV-1 30, SEV-2 60, SEV-3 240, SEV-4
none by default).

The next update owed is a `comms_dues` row. The first is due one cadence after
detection; each update sent meets the one owed and owes the next, one cadence
later. The engine (`run`) reminds whoever sends updates a few minutes before the
due time, and when it passes with no update, marks the due overdue, says so on
the timeline and reminds them again. Each reminder is an outbox row with its own
key, so a repeated cycle never sends one twice; after an engine outage only the
overdue reminder goes.

Who is reminded: the communications lead, else the incident commander, else
whoever acknowledged, else whoever declared the incident.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.auth.models import User
from app.comms.models import CommsDue, CommsUpdate, DueState
from app.engine import memo
from app.engine.core import Job
from app.extensions import db
from app.incidents.models import EventKind, Incident, Status
from app.incidents.timeline import record_event
from app.links import external_url
from app.notify.models import Channel
from app.notify.outbox import to_person
from app.triage import levels

REMIND_BEFORE = timedelta(minutes=5)
SYSTEM = Actor.system("Firebreak")
OPEN_STATES = (DueState.PENDING, DueState.OVERDUE)


@dataclass(frozen=True)
class DuesOf(memo.Key):
    """Every due of an incident (`remember`), kept up to date by `_owe`."""

    incident_id: int


@dataclass(frozen=True)
class LastUpdateOf(memo.Key):
    """When an incident last sent an update."""

    incident_id: int


def cadence_minutes(incident: Incident) -> int | None:
    return levels.level(incident.severity).update_cadence_minutes


def _remind_at(due_at: datetime, minutes: int) -> datetime:
    """A few minutes before the due time (a sixth of a short cadence)."""
    return due_at - min(REMIND_BEFORE, timedelta(minutes=minutes) / 6)


def remember(incident_ids) -> None:
    """Within a `memo.sharing` block: every due of these incidents and when each
    last sent an update, in two queries, so planning their updates asks nothing."""
    ids = memo.remember_lists(DuesOf, incident_ids, lambda ids: db.session.scalars(
        sa.select(CommsDue).where(CommsDue.incident_id.in_(ids))), lambda due: due.incident_id)
    if not ids:
        return
    last = dict(db.session.execute(sa.select(CommsUpdate.incident_id, sa.func.max(CommsUpdate.sent_at))
                                   .where(CommsUpdate.incident_id.in_(ids)).group_by(CommsUpdate.incident_id)).all())
    for incident_id in ids:
        memo.current().put(LastUpdateOf(incident_id), last.get(incident_id))


def _remembered_dues(incident: Incident) -> list[CommsDue] | None:
    """The incident's dues, all of them, when a `remember` block holds them (kept
    up to date by `_owe`); None otherwise."""
    current = memo.current()
    return current.get(DuesOf(incident.id)) if current is not None else None


def open_dues(incident: Incident) -> list[CommsDue]:
    if incident.id is None:
        return []
    known = _remembered_dues(incident)
    if known is not None:
        return sorted((d for d in known if d.state in OPEN_STATES), key=lambda d: d.seq)
    return db.session.scalars(sa.select(CommsDue).where(CommsDue.incident_id == incident.id,
                                                        CommsDue.state.in_(OPEN_STATES))
                              .order_by(CommsDue.seq)).all()


def current_due(incident: Incident) -> CommsDue | None:
    """The oldest update still owed (overdue before pending)."""
    dues = open_dues(incident)
    return dues[0] if dues else None


def next_due_at(incident: Incident) -> datetime | None:
    """When the next update is due (the pending one), for templates and the page."""
    pending = [d for d in open_dues(incident) if d.state == DueState.PENDING]
    return clock.utc(pending[0].due_at) if pending else None


def _last_seq(incident: Incident) -> int:
    known = _remembered_dues(incident)
    if known is not None:
        return max((d.seq for d in known), default=0)
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(CommsDue.seq), 0))
                             .where(CommsDue.incident_id == incident.id))


def _owe(incident: Incident, due_at: datetime, minutes: int) -> CommsDue:
    remind_at = _remind_at(due_at, minutes)
    due = CommsDue(incident_id=incident.id, seq=_last_seq(incident) + 1, due_at=due_at, remind_at=remind_at,
                   next_action_at=remind_at, state=DueState.PENDING)
    db.session.add(due)
    known = _remembered_dues(incident)
    if known is not None:
        known.append(due)  # flushed with the rest of the batch
    else:
        db.session.flush()
    return due


def cancel_pending_dues(incident_ids) -> sa.Update:
    """The UPDATE that cancels the updates these incidents owe and are not yet late
    for (a list of ids, or an expanding bind parameter): `on_resolved` makes it for
    one incident, ingestion's hot path once for every incident a batch resolves. An
    update already overdue stays overdue."""
    return (sa.update(CommsDue)
            .where(CommsDue.incident_id.in_(incident_ids), CommsDue.state == DueState.PENDING)
            .values(state=DueState.CANCELLED, next_action_at=None, met_at=None))


def _cancel_pending(incident: Incident, now: datetime) -> None:
    if incident.id is None:
        return
    known = _remembered_dues(incident)
    if known is not None:
        if not any(due.state == DueState.PENDING for due in known):
            return  # nothing owed: no statement (an engine batch plans many incidents)
        db.session.flush()  # the batch's dues, written before the UPDATE looks for them
    # The session's own copies of the rows are brought up to date (`synchronize_session`).
    db.session.execute(cancel_pending_dues([incident.id]))


def plan(incident: Incident, now: datetime, *, since: datetime | None = None) -> CommsDue | None:
    """Make what the incident owes match its severity and state: nothing when it is
    resolved or its severity has no cadence; otherwise one pending update, due one
    cadence after `since` (default: the last update, else detection). Overdue ones
    stay overdue until an update meets them. Called on opening, reopening (since
    then) and severity changes."""
    minutes = cadence_minutes(incident)
    if incident.status == Status.RESOLVED or not minutes:
        _cancel_pending(incident, now)
        return None
    if since is None:
        last = memo.remembered(LastUpdateOf(incident.id), lambda: db.session.scalar(
            sa.select(sa.func.max(CommsUpdate.sent_at)).where(CommsUpdate.incident_id == incident.id)))
        since = clock.utc(last) if last is not None else clock.utc(incident.detected_at)
    due_at = max(since + timedelta(minutes=minutes), now)
    pending = [d for d in open_dues(incident) if d.state == DueState.PENDING]
    if pending:
        due = pending[0]
        if clock.utc(due.due_at) != due_at:
            due.due_at, due.remind_at = due_at, _remind_at(due_at, minutes)
            due.next_action_at = due.remind_at if due.reminded_at is None else due_at
        return due
    return _owe(incident, due_at, minutes)


def on_resolved(incident: Incident, now: datetime) -> None:
    """No more updates are owed; one already overdue stays overdue (the resolution
    notice meets it, late)."""
    _cancel_pending(incident, now)


def record_sent(update: CommsUpdate, incident: Incident, now: datetime) -> None:
    """An update went: it meets the oldest update owed (on time or late) and, while
    the incident is open, owes the next one a cadence later."""
    due = current_due(incident)
    if due is not None:
        update.due_at = clock.utc(due.due_at)
        update.on_time = now <= clock.utc(due.due_at)
        due.state, due.met_at, due.update_id, due.next_action_at = DueState.MET, now, update.id, None
        for later in open_dues(incident):  # several overdue at once: one update meets them all, late
            if later.id != due.id:
                later.state, later.met_at, later.update_id, later.next_action_at = DueState.MET, now, update.id, None
    else:
        update.due_at, update.on_time = None, None
    minutes = cadence_minutes(incident)
    if incident.status != Status.RESOLVED and minutes:
        _owe(incident, now + timedelta(minutes=minutes), minutes)


# --- who sends updates ---------------------------------------------------------------------

def sender_of(incident: Incident) -> tuple[User | None, str]:
    """Who is reminded, and as what."""
    from app.incidents import roles
    for role, label in ((roles.COMMS_LEAD, "communications lead"), (roles.COMMANDER, "incident commander")):
        person = roles.holder(incident, role)
        if person is not None and person.active:
            return person, label
    for person, label in ((incident.acknowledged_by, "acknowledged it"), (incident.declared_by, "declared it")):
        if person is not None and person.active:
            return person, label
    return None, ""


# --- the engine -------------------------------------------------------------------------------

def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(CommsDue.id).where(CommsDue.next_action_at <= now)
                              .order_by(CommsDue.next_action_at, CommsDue.id).limit(limit)).all()


def run(due_id: int, now: datetime) -> bool:
    """Engine unit: remind before the due time; past it, mark overdue and remind again."""
    row = db.session.get(CommsDue, due_id)
    if row is None or row.next_action_at is None or clock.utc(row.next_action_at) > now:
        return False
    incident = db.session.get(Incident, row.incident_id)
    if row.state != DueState.PENDING or incident is None:
        row.next_action_at = None
        return True
    due_at = clock.utc(row.due_at)
    if now > due_at:
        row.state, row.overdue_at, row.next_action_at = DueState.OVERDUE, now, None
        person, as_what = sender_of(incident)
        late = int((now - due_at).total_seconds() // 60)
        record_event(incident, EventKind.UPDATE_OVERDUE, SYSTEM, via="engine", at=now,
                     text=f"Update overdue: one was due at {due_at:%H:%M} UTC ({levels.name(incident.severity)} "
                          f"cadence, every {cadence_minutes(incident) or '—'} min)"
                          + (f"; reminding {person.name} ({as_what})" if person else "; nobody to remind"),
                     data={"due_id": row.id, "due_at": due_at.isoformat(), "minutes_late": late,
                           "user_id": person.id if person else None})
        _remind(incident, row, person, "overdue", now)
        return True
    if now < clock.utc(row.remind_at):
        return False
    if row.reminded_at is None:
        row.reminded_at = now
        person, as_what = sender_of(incident)
        record_event(incident, EventKind.UPDATE_DUE, SYSTEM, via="engine", at=now,
                     text=f"Next update due at {due_at:%H:%M} UTC"
                          + (f"; reminded {person.name} ({as_what})" if person else "; nobody to remind"),
                     data={"due_id": row.id, "due_at": due_at.isoformat(), "user_id": person.id if person else None})
        _remind(incident, row, person, "due", now)
    row.next_action_at = due_at
    return True


def _remind(incident: Incident, row: CommsDue, person: User | None, kind: str, now: datetime) -> None:
    if person is None:
        return
    due_at = clock.utc(row.due_at)
    link = external_url("comms.compose", incident_id=incident.id)
    head = f"[{levels.name(incident.severity)} #{incident.id}]"
    if kind == "overdue":
        subject = f"{head} Update overdue (was due {due_at:%H:%M} UTC): {incident.title}"
        sms = f"{head} An update was due at {due_at:%H:%M} UTC and none has gone. Send one: {link}"
    else:
        subject = f"{head} Update due at {due_at:%H:%M} UTC: {incident.title}"
        sms = f"{head} Next update due at {due_at:%H:%M} UTC. Write it: {link}"
    body = (f"{sms}\n\nIncident #{incident.id} ({levels.name(incident.severity)}): {incident.title}\n"
            f"Updates are due every {cadence_minutes(incident)} minutes at this severity.\n\n-- Firebreak\n")
    to_person(person, key=f"comms-{kind}:{row.id}:email", purpose="reminder", subject=subject[:255], body=body,
              due=now, now=now, channels=(Channel.EMAIL,), incident_id=incident.id)
    if incident.urgency == "high":
        to_person(person, key=f"comms-{kind}:{row.id}:sms", purpose="reminder", subject="", body=sms, due=now,
                  now=now, channels=(Channel.SMS,), incident_id=incident.id)


JOBS = [Job("update_cadence", due, run)]
