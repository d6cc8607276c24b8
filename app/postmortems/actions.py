"""Action items: the work a review decides on, tracked until done.

Plain functions, explicit actor and time; the caller commits. Reminders are rows
with a due time (`action_item_reminders`): a couple of days before the due date,
the day after it, and a week after that, at 09:00 in the owner's time zone. The
engine sends what is due through the outbox, once: the reminder row is unique per
(item, kind, due date) and the outbox key per reminder row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, Team, User
from app.engine.core import Job
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents.models import Incident
from app.links import external_url
from app.notify.models import Channel
from app.notify.outbox import enqueue
from app.postmortems import search
from app.postmortems.models import (
    OPEN_ACTION_STATUSES, ActionItem, ActionKind, ActionStatus, Postmortem, Priority, Reminder,
)

MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
REMIND_AT = time(9, 0)
# kind → days from the due date
REMINDERS = {"soon": -2, "overdue": 1, "still_overdue": 8}
REMINDER_SUBJECT = {"soon": "is due {when}", "overdue": "is overdue", "still_overdue": "is still overdue"}
REMINDER_TEXT = {
    "soon": "is due {when}",
    "overdue": "was due {when} and is not done",
    "still_overdue": "was due {when}, over a week ago, and is still not done",
}


def _may_act(actor: Actor) -> None:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders work on action items.")


def get_item(item_id: int) -> ActionItem:
    item = db.session.get(ActionItem, item_id)
    if item is None:
        raise NotFound(f"There is no action item AI-{item_id}.")
    return item


# --- checking input -------------------------------------------------------------------

def clean_title(title: str | None) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise DomainError("Say what is to be done.", "title")
    if len(title) > MAX_TITLE:
        raise DomainError(f"Keep the title under {MAX_TITLE} characters.", "title")
    return title


def clean_url(url: str | None) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 1000:
        raise DomainError("The ticket link must be an http(s) address.", "ticket_url")
    return url


def _enum(cls, value, field: str, message: str):
    try:
        return cls(value)
    except ValueError:
        raise DomainError(message, field) from None


def clean_owner(owner_id: int | None) -> User | None:
    if owner_id is None:
        return None
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.active:
        raise DomainError("The owner must be an active person.", "owner_id")
    return owner


def clean_team(team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = db.session.get(Team, team_id)
    if team is None:
        raise DomainError("There is no such team.", "team_id")
    return team


def clean_due(due_on, field: str = "due_on") -> date:
    if not isinstance(due_on, date) or isinstance(due_on, datetime):
        raise DomainError("Give a due date.", field)
    return due_on


# --- creating and changing ---------------------------------------------------------------

def create_item(actor: Actor, incident: Incident, now: datetime, *, title: str, due_on: date,
                owner_id: int | None = None, team_id: int | None = None, priority: str = "medium",
                kind: str = "corrective", ticket_url: str = "", description: str = "",
                postmortem: Postmortem | None = None) -> ActionItem:
    """A new open action item on the incident (and its post-mortem, if it has one).
    The team defaults to the owner's first team, else the service's."""
    _may_act(actor)
    if postmortem is not None and postmortem.incident_id != incident.id:
        raise DomainError("That post-mortem is about another incident.")
    if postmortem is None:
        postmortem = db.session.scalar(sa.select(Postmortem).where(Postmortem.incident_id == incident.id))
    owner = clean_owner(owner_id)
    team = clean_team(team_id)
    if team is None:
        team = owner.teams[0] if owner is not None and owner.teams else incident.service.team
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise DomainError(f"Keep the description under {MAX_DESCRIPTION:,} characters.", "description")
    item = ActionItem(
        incident_id=incident.id, incident=incident, postmortem_id=postmortem.id if postmortem else None,
        title=clean_title(title), description=description, owner=owner, owner_id=owner.id if owner else None,
        team=team, team_id=team.id if team else None, due_on=clean_due(due_on),
        priority=_enum(Priority, priority, "priority", "Priority is high, medium or low."),
        kind=_enum(ActionKind, kind, "kind", "Type is detective, preventive, corrective or mitigating."),
        ticket_url=clean_url(ticket_url), status=ActionStatus.OPEN, created_at=now, updated_at=now,
        created_by=actor.label[:200])
    db.session.add(item)
    db.session.flush()
    plan_reminders(item, now)
    audit.record(actor, "action_item.create", item,
                 summary=f"{item.ref} on #{incident.id}: {item.title}"
                         + (f" (owner {owner.name}, due {item.due_on.isoformat()})" if owner else ""),
                 after=audit.snapshot(item, ["title", "owner_id", "team_id", "due_on", "priority", "kind",
                                             "ticket_url"]))
    _touch_postmortem(item, now)
    search.refresh(incident)
    return item


EDITABLE = ("title", "description", "owner_id", "team_id", "due_on", "priority", "kind", "ticket_url")


def update_item(actor: Actor, item: ActionItem, now: datetime, **values) -> dict:
    """Change an item's fields (not its status: see `set_status`). Returns what changed."""
    _may_act(actor)
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise DomainError(f"Unknown field {sorted(unknown)[0]}.")
    clean = dict(values)
    if "title" in clean:
        clean["title"] = clean_title(clean["title"])
    if "description" in clean:
        clean["description"] = (clean["description"] or "").strip()
        if len(clean["description"]) > MAX_DESCRIPTION:
            raise DomainError(f"Keep the description under {MAX_DESCRIPTION:,} characters.", "description")
    if "owner_id" in clean:
        clean_owner(clean["owner_id"])
    if "team_id" in clean:
        clean_team(clean["team_id"])
    if "due_on" in clean:
        clean["due_on"] = clean_due(clean["due_on"])
    if "priority" in clean:
        clean["priority"] = _enum(Priority, clean["priority"], "priority", "Priority is high, medium or low.")
    if "kind" in clean:
        clean["kind"] = _enum(ActionKind, clean["kind"], "kind",
                              "Type is detective, preventive, corrective or mitigating.")
    if "ticket_url" in clean:
        clean["ticket_url"] = clean_url(clean["ticket_url"])
    changed = {name: (getattr(item, name), value) for name, value in clean.items() if getattr(item, name) != value}
    if not changed:
        return {}
    for name, (_, value) in changed.items():
        setattr(item, name, value)
    item.updated_at = now
    db.session.flush()
    db.session.expire(item, ["owner", "team"])
    if "due_on" in changed or "owner_id" in changed:
        plan_reminders(item, now)
    audit.record(actor, "action_item.update", item, summary=f"{item.ref} changed: {', '.join(changed)}",
                 before={k: old for k, (old, _) in changed.items()}, after={k: new for k, (_, new) in changed.items()})
    _touch_postmortem(item, now)
    search.refresh(item.incident)
    return changed


def set_status(actor: Actor, item: ActionItem, status: str, now: datetime, *, reason: str = "") -> bool:
    """Open, in progress, done (records when), won't do (needs a reason)."""
    _may_act(actor)
    new = _enum(ActionStatus, status, "status", "Status is open, in_progress, done or wont_do.")
    reason = (reason or "").strip()
    if new == ActionStatus.WONT_DO and not reason:
        raise DomainError("Say why it won't be done.", "reason")
    if len(reason) > 5000:
        raise DomainError("Keep the reason under 5,000 characters.", "reason")
    if new == item.status and (new != ActionStatus.WONT_DO or reason == item.wont_do_reason):
        return False
    before = {"status": item.status.value, "done_at": item.done_at}
    item.status = new
    item.done_at = now if new == ActionStatus.DONE else None
    item.wont_do_reason = reason if new == ActionStatus.WONT_DO else ""
    item.updated_at = now
    plan_reminders(item, now)
    audit.record(actor, "action_item.status", item,
                 summary=f"{item.ref} {before['status']} → {new.value}" + (f": {reason[:200]}" if reason else ""),
                 before=before, after={"status": new.value, "done_at": item.done_at, "reason": reason or None})
    _touch_postmortem(item, now)
    search.refresh(item.incident)
    return True


def _touch_postmortem(item: ActionItem, now: datetime) -> None:
    if item.postmortem_id is not None:
        pm = db.session.get(Postmortem, item.postmortem_id)
        pm.updated_at, pm.version = now, pm.version + 1


# --- reminders -----------------------------------------------------------------------------

def _zone(user: User | None) -> ZoneInfo:
    try:
        return ZoneInfo(user.time_zone if user else "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def reminder_time(due_on: date, days: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(due_on + timedelta(days=days), REMIND_AT, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def plan_reminders(item: ActionItem, now: datetime) -> None:
    """Make the item's pending reminders match its state: none when it is closed or has
    no owner; else one of each kind for its due date, except those already past."""
    pending = db.session.scalars(sa.select(Reminder).where(Reminder.action_item_id == item.id,
                                                           Reminder.due_at.isnot(None))).all()
    wanted: dict[str, datetime] = {}
    if item.status in OPEN_ACTION_STATUSES and item.owner_id is not None:
        zone = _zone(db.session.get(User, item.owner_id))
        wanted = {kind: reminder_time(item.due_on, days, zone) for kind, days in REMINDERS.items()}
    for reminder in pending:
        if reminder.kind in wanted and reminder.for_due_on == item.due_on:
            reminder.due_at = wanted.pop(reminder.kind)
        else:
            reminder.due_at, reminder.cancelled_at = None, now
    made = set(db.session.scalars(sa.select(Reminder.kind).where(Reminder.action_item_id == item.id,
                                                                 Reminder.for_due_on == item.due_on)))
    for kind, at in wanted.items():
        if kind in made or at <= now:
            continue
        db.session.add(Reminder(action_item_id=item.id, kind=kind, for_due_on=item.due_on, due_at=at))


def due_reminders(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(Reminder.id).where(Reminder.due_at <= now)
                              .order_by(Reminder.due_at, Reminder.id).limit(limit)).all()


def send_reminder(reminder_id: int, now: datetime) -> bool:
    """Engine unit: put one reminder in the outbox, once; a reminder no longer
    wanted (item closed, date moved, owner gone) is dropped."""
    reminder = db.session.get(Reminder, reminder_id)
    if reminder is None or reminder.due_at is None or reminder.due_at > now:
        return False
    item = reminder.action_item
    owner = item.owner
    later_kinds = [kind for kind, days in REMINDERS.items() if days > REMINDERS[reminder.kind]]
    overtaken = db.session.scalar(sa.select(Reminder.id).where(
        Reminder.action_item_id == item.id, Reminder.for_due_on == reminder.for_due_on,
        Reminder.kind.in_(later_kinds), Reminder.due_at <= now).limit(1)) is not None
    if (item.status not in OPEN_ACTION_STATUSES or item.due_on != reminder.for_due_on or owner is None
            or not owner.active or overtaken):
        # Not wanted any more; or a later reminder is due too (the engine was down): only the latest goes.
        reminder.due_at, reminder.cancelled_at = None, now
        return True
    when = f"{item.due_on:%A %d %B}" if reminder.kind == "soon" else item.due_on.isoformat()
    link = external_url("postmortems.action_item", item_id=item.id)
    message = enqueue(
        key=f"action-reminder:{reminder.id}", purpose="reminder", channel=Channel.EMAIL, to_address=owner.email,
        user_id=owner.id, incident_id=item.incident_id, due=now, now=now,
        subject=f"{item.ref} {REMINDER_SUBJECT[reminder.kind].format(when=when)}: {item.title}"[:255],
        body=(f"Your action item {item.ref}, “{item.title}”, {REMINDER_TEXT[reminder.kind].format(when=when)}.\n\n"
              f"From incident #{item.incident_id}. Priority {item.priority.value}, {item.kind.value}.\n"
              + (f"Ticket: {item.ticket_url}\n" if item.ticket_url else "")
              + f"\nUpdate it (or say why it won't be done): {link}\n"))
    reminder.due_at, reminder.sent_at, reminder.notification_id = None, now, message.id
    return True


JOBS = [Job("action_item_reminders", due_reminders, send_reminder)]


# --- reading ---------------------------------------------------------------------------------

@dataclass
class ItemFilter:
    status: str = "open"          # open (open + in progress), closed, all, or one status
    owner_id: int | None = None
    team_id: int | None = None
    incident_id: int | None = None
    postmortem_id: int | None = None
    overdue: bool = False


STATUS_FILTERS = ("open", "closed", "all", *[s.value for s in ActionStatus])


def query(f: ItemFilter, today: date) -> sa.Select:
    """Overdue first, then by due date, then high priority first."""
    stmt = sa.select(ActionItem).options(selectinload(ActionItem.owner), selectinload(ActionItem.team),
                                         selectinload(ActionItem.incident))
    if f.status == "open":
        stmt = stmt.where(ActionItem.status.in_(OPEN_ACTION_STATUSES))
    elif f.status == "closed":
        stmt = stmt.where(ActionItem.status.notin_(OPEN_ACTION_STATUSES))
    elif f.status in {s.value for s in ActionStatus}:
        stmt = stmt.where(ActionItem.status == f.status)
    for column, value in ((ActionItem.owner_id, f.owner_id), (ActionItem.team_id, f.team_id),
                          (ActionItem.incident_id, f.incident_id), (ActionItem.postmortem_id, f.postmortem_id)):
        if value:
            stmt = stmt.where(column == value)
    if f.overdue:
        stmt = stmt.where(ActionItem.status.in_(OPEN_ACTION_STATUSES), ActionItem.due_on < today)
    rank = sa.case((ActionItem.priority == Priority.HIGH, 0), (ActionItem.priority == Priority.MEDIUM, 1), else_=2)
    closed = sa.case((ActionItem.status.in_(OPEN_ACTION_STATUSES), 0), else_=1)
    return stmt.order_by(closed, ActionItem.due_on, rank, ActionItem.id)


def items(f: ItemFilter, today: date, limit: int = 500) -> list[ActionItem]:
    return db.session.scalars(query(f, today).limit(limit)).all()


def board(team_id: int | None, today: date, *, closed_since: date | None = None) -> dict[ActionStatus, list[ActionItem]]:
    """A team's items by status (all teams when None); closed columns only recent ones."""
    stmt = query(ItemFilter(status="all", team_id=team_id), today)
    if closed_since is not None:
        stmt = stmt.where(sa.or_(ActionItem.status.in_(OPEN_ACTION_STATUSES), ActionItem.updated_at >= datetime.combine(
            closed_since, time(0), tzinfo=ZoneInfo("UTC"))))
    columns: dict[ActionStatus, list[ActionItem]] = {status: [] for status in ActionStatus}
    for item in db.session.scalars(stmt.limit(1000)):
        columns[item.status].append(item)
    return columns


def overdue_count(owner_id: int | None, today: date) -> int:
    stmt = sa.select(sa.func.count()).select_from(ActionItem).where(
        ActionItem.status.in_(OPEN_ACTION_STATUSES), ActionItem.due_on < today)
    if owner_id:
        stmt = stmt.where(ActionItem.owner_id == owner_id)
    return db.session.scalar(stmt)
