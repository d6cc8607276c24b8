"""Handovers and shift reminders: the engine's on-call work.

At every shift change the engine writes one `Handover` row per (schedule, instant)
with the messages for the outgoing and the incoming person, and N minutes before
a shift starts one `ShiftReminder` per (schedule, person, shift start). The unique
keys make a repeated or resumed cycle harmless. Sending is the notification
outbox's job (app/notify): each row lists its messages with a unique outbox key
(`Handover.messages()`, `ShiftReminder.messages()`), waits in state `pending`
until enqueued, and is `missed` (logged, never sent) when the engine found it
more than `GRACE` late, so nobody is woken for a handover that happened hours ago.

The content is decided by a pure function, `handover_summary`, and written by
`run_handovers`, which only gathers its inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.auth.models import TeamMembership, User
from app.extensions import db
from app.incidents.models import OPEN_STATUSES, Incident
from app.notify.models import Channel
from app.notify.outbox import to_person
from app.oncall import compute
from app.oncall.models import Handover, HandoverNote, OutboxState, Schedule, ShiftReminder
from app.oncall.service import PLAN_HORIZON, next_handover, next_reminder
from app.oncall.specs import load_spec
from app.services.models import Service
from app.triage import levels

GRACE = timedelta(minutes=30)
MAX_INCIDENTS_LISTED = 15
MAX_CHANGES_PER_RUN = 500


@dataclass(frozen=True)
class IncidentLine:
    number: int
    title: str
    severity: int
    status: str
    service: str


@dataclass(frozen=True)
class ActionItemLine:
    title: str
    due_at: datetime | None
    owner: str | None = None
    ref: str = ""


@dataclass(frozen=True)
class Recipient:
    name: str
    zone: str


@dataclass(frozen=True)
class HandoverMessages:
    outgoing_subject: str
    outgoing_body: str
    incoming_subject: str
    incoming_body: str


# Post-mortem action items a handover lists: open ones of the schedule's team due
# within this many days (overdue ones too), soonest first, at most MAX_ITEMS.
ITEMS_WITHIN = timedelta(days=7)
MAX_ITEMS = 10


def action_items_due_soon(now: datetime, team_id: int | None) -> list[ActionItemLine]:
    """Open action items of the team (its own, or owned by one of its members) due
    within a week or already overdue, soonest due first, for the incoming person."""
    from app.postmortems.models import ActionItem, ActionStatus  # post-mortems read on-call: imported late
    if team_id is None:
        return []
    members = sa.select(TeamMembership.user_id).where(TeamMembership.team_id == team_id)
    rows = db.session.execute(
        sa.select(ActionItem, User.name).outerjoin(User, User.id == ActionItem.owner_id)
        .where(ActionItem.status.in_((ActionStatus.OPEN, ActionStatus.IN_PROGRESS)),
               ActionItem.due_on <= (now + ITEMS_WITHIN).date(),
               sa.or_(ActionItem.team_id == team_id, ActionItem.owner_id.in_(members)))
        .order_by(ActionItem.due_on, ActionItem.id).limit(MAX_ITEMS)).all()
    return [ActionItemLine(item.title, datetime.combine(item.due_on, time(), tzinfo=UTC), owner, item.ref)
            for item, owner in rows]


def _when(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M %Z")


def handover_summary(*, schedule: str, at: datetime, outgoing: Recipient | None, incoming: Recipient | None,
                     incidents: list[IncidentLine], open_total: int | None = None, note: str | None = None,
                     action_items: list[ActionItemLine] = (), until: datetime | None = None) -> HandoverMessages:
    """The subject and body for each side of a handover (pure: everything is given).

    Times are in each recipient's own zone. `open_total` is how many incidents
    are open when more than `incidents` lists.
    """
    total = len(incidents) if open_total is None else open_total
    lines = []
    if incidents:
        lines.append(f"Open incidents ({total}):")
        for item in incidents:
            lines.append(f"- #{item.number} {levels.name(item.severity)} {item.status}: {item.title} ({item.service})")
        if total > len(incidents):
            lines.append(f"- … and {total - len(incidents)} more")
    else:
        lines.append("Open incidents: none.")
    lines.append("")
    if action_items:
        lines.append(f"Action items due soon ({len(action_items)}):")
        for item in action_items:
            due = f", due {item.due_at:%Y-%m-%d}" if item.due_at else ""
            owner = f" ({item.owner})" if item.owner else ""
            lines.append(f"- {item.ref + ' ' if item.ref else ''}{item.title}{owner}{due}")
    else:
        lines.append("Action items due soon: none.")
    lines.append("")
    who_wrote = outgoing.name if outgoing else "the outgoing person"
    if note:
        lines.append(f"Note from {who_wrote}:")
        lines.extend("  " + line for line in note.strip().splitlines())
    else:
        lines.append(f"No handover note from {who_wrote}.")
    details = "\n".join(lines)

    def head(zone: str) -> str:
        passing = f"{outgoing.name if outgoing else 'Nobody'} hands over to {incoming.name if incoming else 'nobody'}"
        ends = f" The shift runs until {_when(until, zone)}." if until else ""
        return f"Handover on {schedule} at {_when(at, zone)}.\n{passing}.{ends}\n\n"

    out_zone = outgoing.zone if outgoing else "UTC"
    in_zone = incoming.zone if incoming else "UTC"
    taker = incoming.name if incoming else "nobody"
    return HandoverMessages(
        outgoing_subject=f"Handover: {taker} takes {schedule} at {_when(at, out_zone)}"[:255],
        outgoing_body=head(out_zone) + details,
        incoming_subject=f"You are on call for {schedule} from {_when(at, in_zone)}"[:255],
        incoming_body=head(in_zone) + details,
    )


def reminder_text(*, schedule: str, person: Recipient, starts_at: datetime, until: datetime | None,
                  minutes: int) -> tuple[str, str]:
    """The subject and body of "your shift starts soon" (pure)."""
    subject = f"On call in {minutes} min: {schedule}"
    body = f"Your shift on {schedule} starts at {_when(starts_at, person.zone)}"
    body += f" and runs until {_when(until, person.zone)}." if until else "."
    return subject, body


# --- the engine's jobs ---------------------------------------------------------------------

def due_handovers(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(Schedule.id).where(Schedule.next_handover_at <= now)
                              .order_by(Schedule.next_handover_at).limit(limit)).all()


def due_reminders(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(Schedule.id).where(Schedule.next_reminder_at <= now)
                              .order_by(Schedule.next_reminder_at).limit(limit)).all()


def open_incidents(schedule: Schedule) -> tuple[list[IncidentLine], int]:
    """Open incidents for a handover: those of the schedule's team's services, or
    all of them for a schedule without a team. Most severe first."""
    stmt = sa.select(Incident).join(Service).where(Incident.status.in_(OPEN_STATUSES),
                                                   Incident.merged_into_id.is_(None))
    if schedule.team_id is not None:
        stmt = stmt.where(Service.team_id == schedule.team_id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(stmt.order_by(Incident.severity, Incident.created_at).limit(MAX_INCIDENTS_LISTED)).all()
    return [IncidentLine(i.id, i.title, i.severity, i.status.value, i.service.name) for i in rows], total


def _recipient(users: dict[int, User], user_id: int | None) -> Recipient | None:
    user = users.get(user_id) if user_id is not None else None
    return Recipient(user.name, user.time_zone or "UTC") if user else None


def _until(spec: compute.ScheduleSpec, at: datetime) -> datetime | None:
    shifts = compute.final_shifts(spec, at, at + PLAN_HORIZON)
    return shifts[0].end if shifts and shifts[0].start == at else None


def run_handovers(schedule_id: int, now: datetime) -> bool:
    """Write the handovers of every shift change since the last run (one row each,
    never two), then plan the next. True when a row was written."""
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or schedule.next_handover_at is None or schedule.next_handover_at > now:
        return False
    done = schedule.handovers_done_until or now
    spec = load_spec(schedule, since=min(done, now) - timedelta(days=1))
    found = [c for c in compute.changes(spec, done, now) if c.incoming is not None]
    if len(found) > MAX_CHANGES_PER_RUN:
        found = found[:MAX_CHANGES_PER_RUN]
        handled_until = found[-1].at
    else:
        handled_until = now
    written = 0
    if found:
        existing = set(db.session.scalars(sa.select(Handover.at).where(
            Handover.schedule_id == schedule.id, Handover.at.in_([c.at for c in found]))))
        people = {c.outgoing for c in found} | {c.incoming for c in found}
        users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(people - {None})))}
        incidents, total = open_incidents(schedule)
        items = action_items_due_soon(now, schedule.team_id)
        for change in found:
            if change.at in existing:
                continue
            note = _note_for(schedule, change)
            messages = handover_summary(
                schedule=schedule.name, at=change.at, outgoing=_recipient(users, change.outgoing),
                incoming=_recipient(users, change.incoming), incidents=incidents, open_total=total,
                note=note.text if note else None, action_items=items, until=_until(spec, change.at))
            handover = Handover(
                schedule_id=schedule.id, at=change.at, outgoing_user_id=change.outgoing,
                incoming_user_id=change.incoming, outgoing_subject=messages.outgoing_subject,
                outgoing_body=messages.outgoing_body, incoming_subject=messages.incoming_subject,
                incoming_body=messages.incoming_body, open_incidents=total, created_at=now,
                state=OutboxState.PENDING if now - change.at <= GRACE else OutboxState.MISSED)
            db.session.add(handover)
            db.session.flush()
            if note is not None:
                note.handover_id = handover.id
            if handover.state == OutboxState.PENDING:
                enqueue_messages(handover, due=now, now=now)
            written += 1
    schedule.handovers_done_until = handled_until
    schedule.next_handover_at = next_handover(spec, handled_until, now) if handled_until >= now else handled_until
    return written > 0


def _note_for(schedule: Schedule, change: compute.Change) -> HandoverNote | None:
    if change.outgoing is None:
        return None
    return db.session.scalar(sa.select(HandoverNote).where(
        HandoverNote.schedule_id == schedule.id, HandoverNote.author_id == change.outgoing,
        HandoverNote.handover_id.is_(None), HandoverNote.created_at <= change.at)
        .order_by(HandoverNote.id.desc()).limit(1))


def run_reminders(schedule_id: int, now: datetime) -> bool:
    """Write a reminder for each shift starting within the reminder lead since the
    last run (one per person and shift start), then plan the next."""
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None or schedule.next_reminder_at is None or schedule.next_reminder_at > now:
        return False
    minutes = schedule.reminder_minutes
    if not minutes:
        schedule.next_reminder_at = None
        return False
    lead = timedelta(minutes=minutes)
    done = schedule.reminders_done_until or now
    spec = load_spec(schedule, since=min(done, now) - timedelta(days=1))
    found = [c for c in compute.changes(spec, min(done, now) + lead, now + lead) if c.incoming is not None]
    written = 0
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_({c.incoming for c in found})))}
    for change in found[:MAX_CHANGES_PER_RUN]:
        exists = db.session.scalar(sa.select(ShiftReminder.id).where(
            ShiftReminder.schedule_id == schedule.id, ShiftReminder.user_id == change.incoming,
            ShiftReminder.shift_starts_at == change.at))
        if exists is not None:
            continue
        remind_at = change.at - lead
        person = _recipient(users, change.incoming)
        subject, body = reminder_text(schedule=schedule.name, person=person, starts_at=change.at,
                                      until=_until(spec, change.at), minutes=minutes)
        timely = change.at > now and now - remind_at <= GRACE
        reminder = ShiftReminder(schedule_id=schedule.id, user_id=change.incoming, shift_starts_at=change.at,
                                 remind_at=remind_at, subject=subject, body=body, created_at=now,
                                 state=OutboxState.PENDING if timely else OutboxState.MISSED)
        db.session.add(reminder)
        db.session.flush()
        if reminder.state == OutboxState.PENDING:
            # Due at the reminder time: the outbox holds it until then.
            enqueue_messages(reminder, due=max(remind_at, now), now=now)
        written += 1
    schedule.reminders_done_until = now
    schedule.next_reminder_at = next_reminder(spec, now, now, minutes)
    return written > 0


def pending_messages(limit: int = 500) -> list[dict]:
    """Every handover and reminder message waiting for the outbox, oldest first:
    what the notify wiring enqueues (then it calls `mark_enqueued`)."""
    result = []
    for row in db.session.scalars(sa.select(Handover).where(Handover.state == OutboxState.PENDING)
                                  .order_by(Handover.at).limit(limit)):
        result.extend({**m, "row": row} for m in row.messages())
    for row in db.session.scalars(sa.select(ShiftReminder).where(ShiftReminder.state == OutboxState.PENDING)
                                  .order_by(ShiftReminder.remind_at).limit(limit)):
        result.extend({**m, "row": row} for m in row.messages())
    return result


def enqueue_messages(row: Handover | ShiftReminder, *, due: datetime, now: datetime) -> None:
    """Hand a handover's or reminder's messages to the notification outbox, in the
    transaction that wrote the row: by email, or by SMS for a reminder when the
    person has one. The outbox keys make a repeat harmless."""
    channels = (Channel.SMS, Channel.EMAIL) if row.__tablename__ == "shift_reminders" else (Channel.EMAIL,)
    for message in row.messages():
        user = db.session.get(User, message["user_id"])
        if user is not None and user.active:
            to_person(user, key=message["key"], purpose=message["purpose"], subject=message["subject"],
                      body=message["body"], due=due, now=now, channels=channels)
    mark_enqueued(row, now)


def mark_enqueued(row: Handover | ShiftReminder, now: datetime) -> None:
    row.state = OutboxState.ENQUEUED
    row.enqueued_at = now
