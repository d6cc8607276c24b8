"""The review schedule: what we wrote down about responding (the severity model,
communication templates, role checklists, post-mortem templates) is reviewed by
its owner, quarterly unless someone chooses otherwise.

Each kind of thing is a `Source`. The severity model keeps its owner and next
review date in its own columns (`severity_levels`); everything else keeps them in
`review_schedule` by kind and key. Communication templates and role definitions
are listed by their own domains (`app.comms.library.all_templates`,
`app.incidents.roles.definitions`): shipped ones live in code and an admin's edit
is a row that replaces one, so a fresh install has them all to review.

Reminders are due rows (`review_reminders`, unique per thing, review date and
kind): on the review date at 09:00 in the owner's zone, and a week later if it is
still not done. The engine plans the rows, then sends what is due through the
outbox, once; after an outage only the latest reminder goes. Recording a review
writes the audit entry and moves the next date (a quarter on, by default).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, User
from app.comms import library
from app.engine.core import Job
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents import roles
from app.insights.models import ReviewReminder, ReviewSchedule
from app.insights.periods import add_months
from app.links import external_url
from app.notify.outbox import to_person
from app.postmortems.models import PostmortemTemplate
from app.triage import levels
from app.triage.models import SeverityLevel

QUARTER = 3  # months
REMIND_AT = time(9, 0)
REMINDERS = {"due": 0, "overdue": 7}  # which → days after the review date
SOON_DAYS = 14


@dataclass
class ReviewItem:
    kind: str
    ref: str
    title: str
    owner: User | None
    next_review_on: date | None
    last_reviewed_at: datetime | None = None
    last_reviewed_by: str = ""
    link: tuple[str, dict] | None = None  # (endpoint, values) of its page

    def state(self, today: date) -> str:
        """unowned, unscheduled, overdue, due (today), soon (within two weeks), scheduled."""
        if self.owner is None:
            return "unowned"
        if self.next_review_on is None:
            return "unscheduled"
        if self.next_review_on < today:
            return "overdue"
        if self.next_review_on == today:
            return "due"
        return "soon" if (self.next_review_on - today).days <= SOON_DAYS else "scheduled"


class Source:
    kind = ""
    label = ""

    def refs(self) -> list[tuple[str, str, tuple[str, dict] | None]]:
        """(key, title, link to its page) of every thing of this kind."""
        raise NotImplementedError

    def items(self) -> list[ReviewItem]:
        """Every thing of this kind with its owner and dates (from review_schedule)."""
        rows = {r.ref: r for r in db.session.scalars(sa.select(ReviewSchedule).where(ReviewSchedule.kind == self.kind))}
        found = []
        for ref, title, link in self.refs():
            row = rows.get(ref)
            found.append(ReviewItem(self.kind, ref, title, row.owner if row else None,
                                    row.next_review_on if row else None, row.last_reviewed_at if row else None,
                                    row.last_reviewed_by if row else "", link))
        return found

    def item(self, ref: str) -> ReviewItem:
        found = next((i for i in self.items() if i.ref == ref), None)
        if found is None:
            raise NotFound("There is nothing to review by that name.")
        return found

    def store(self, ref: str, **values) -> None:
        row = db.session.scalar(sa.select(ReviewSchedule).where(ReviewSchedule.kind == self.kind,
                                                                ReviewSchedule.ref == ref))
        if row is None:
            row = ReviewSchedule(kind=self.kind, ref=ref, last_reviewed_by="")
            db.session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.flush()


class SeverityModel(Source):
    kind = "severity_level"
    label = "Severity model"

    def refs(self):
        model = levels.current()
        return [(str(n), f"{model[n].name} · {model[n].label}", ("triage.edit_level", {"level": n}))
                for n in (1, 2, 3, 4)]

    def items(self):
        rows = {r.level: r for r in db.session.scalars(sa.select(SeverityLevel))}
        marks = {r.ref: r for r in db.session.scalars(sa.select(ReviewSchedule).where(
            ReviewSchedule.kind == self.kind))}
        found = []
        for ref, title, link in self.refs():
            row, mark = rows.get(int(ref)), marks.get(ref)
            found.append(ReviewItem(self.kind, ref, title, row.owner if row else None,
                                    row.next_review_on if row else None, mark.last_reviewed_at if mark else None,
                                    mark.last_reviewed_by if mark else "", link))
        return found

    def store(self, ref, **values):
        from app.triage.service import level_row
        row = level_row(int(ref))
        for name in ("owner_id", "next_review_on"):
            if name in values:
                setattr(row, name, values.pop(name))
        levels.forget()
        if values:  # when it was last reviewed, and by whom
            super().store(ref, **values)
        db.session.flush()


class PostmortemTemplates(Source):
    kind = "postmortem_template"
    label = "Post-mortem templates"

    def refs(self):
        return [(t.key, t.name, ("postmortems.edit_template", {"template_id": t.id}))
                for t in db.session.scalars(sa.select(PostmortemTemplate).where(PostmortemTemplate.active.is_(True))
                                            .order_by(PostmortemTemplate.id))]


class CommsTemplates(Source):
    kind = "comms_template"
    label = "Communication templates"

    def refs(self):
        """Every template in use: the shipped ones (with admins' edits) and admins' own."""
        return [(t.key, t.name, ("comms.edit_template", {"key": t.key})) for t in library.all_templates()]


class RoleChecklists(Source):
    kind = "role_checklist"
    label = "Role checklists"

    def refs(self):
        """The eight response roles, with admins' edits."""
        return [(spec.key, spec.name, ("comms.edit_role", {"key": spec.key})) for spec in roles.definitions()]


SOURCES: list[Source] = [SeverityModel(), CommsTemplates(), RoleChecklists(), PostmortemTemplates()]
BY_KIND = {s.kind: s for s in SOURCES}


def source(kind: str) -> Source:
    found = BY_KIND.get(kind)
    if found is None:
        raise NotFound("There is no such kind of review.")
    return found


@dataclass
class Group:
    source: Source
    items: list[ReviewItem]


def schedule() -> list[Group]:
    return [Group(s, s.items()) for s in SOURCES]


def due_for(user: User, today: date) -> list[ReviewItem]:
    """This person's reviews that are due or overdue."""
    return [i for g in schedule() for i in g.items
            if i.owner is not None and i.owner.id == user.id and i.state(today) in ("due", "overdue")]


# --- changing it ------------------------------------------------------------------------

def set_schedule(actor: Actor, kind: str, ref: str, now: datetime, *, owner_id: int | None,
                 next_review_on: date | None) -> ReviewItem:
    """Who owns it and when it is next reviewed (admins). An owner with no date
    gets one a quarter from today."""
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin sets who reviews what.")
    src = source(kind)
    item = src.item(ref)
    owner = None
    if owner_id is not None:
        owner = db.session.get(User, owner_id)
        if owner is None or not owner.active:
            raise DomainError("Choose an active person as the owner.", "owner_id")
    if owner is not None and next_review_on is None:
        next_review_on = add_months(now.date(), QUARTER)
    before = {"owner_id": item.owner.id if item.owner else None,
              "next_review_on": item.next_review_on.isoformat() if item.next_review_on else None}
    after = {"owner_id": owner.id if owner else None,
             "next_review_on": next_review_on.isoformat() if next_review_on else None}
    if before == after:
        return item
    src.store(ref, owner_id=owner.id if owner else None, next_review_on=next_review_on)
    audit.record(actor, "review.schedule", object_type=kind, summary=(
        f"{src.label}: {item.title} owned by {owner.name if owner else 'nobody'}"
        + (f", next review {next_review_on.isoformat()}" if next_review_on else "")), before=before, after=after)
    return src.item(ref)


def record_review(actor: Actor, kind: str, ref: str, now: datetime, *, next_review_on: date | None = None,
                  note: str = "") -> ReviewItem:
    """Its owner (or an admin) reviewed it: the audit log says so and the next review
    moves, a quarter on unless another date is given."""
    src = source(kind)
    item = src.item(ref)
    is_owner = actor.user is not None and item.owner is not None and item.owner.id == actor.user.id
    if not (is_owner or actor.can(Role.ADMIN)):
        raise Forbidden("Its owner or an admin records a review.")
    note = (note or "").strip()
    if len(note) > 2000:
        raise DomainError("Keep the note under 2,000 characters.", "note")
    today = now.date()
    next_review_on = next_review_on or add_months(today, QUARTER)
    if next_review_on <= today:
        raise DomainError("The next review is after today.", "next_review_on")
    previous = item.next_review_on
    src.store(ref, next_review_on=next_review_on, last_reviewed_at=now, last_reviewed_by=actor.label[:200])
    audit.record(actor, "review.recorded", object_type=kind, summary=(
        f"{src.label}: {item.title} reviewed; next review {next_review_on.isoformat()}"
        + (f". {note}" if note else "")),
        before={"next_review_on": previous.isoformat() if previous else None},
        after={"next_review_on": next_review_on.isoformat(), "note": note or None})
    return src.item(ref)


# --- reminders (engine) -----------------------------------------------------------------------

def _zone(user: User | None) -> ZoneInfo:
    try:
        return ZoneInfo(user.time_zone if user and user.time_zone else "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def reminder_time(review_on: date, which: str, user: User | None) -> datetime:
    day = review_on + timedelta(days=REMINDERS[which])
    return datetime.combine(day, REMIND_AT, tzinfo=_zone(user))


def _scheduled(horizon: date) -> list[tuple[str, str, date, int]]:
    """(kind, ref, next review, owner) of everything with an owner, due by `horizon`."""
    rows = [("severity_level", str(level), on, owner) for level, on, owner in db.session.execute(
        sa.select(SeverityLevel.level, SeverityLevel.next_review_on, SeverityLevel.owner_id).where(
            SeverityLevel.owner_id.is_not(None), SeverityLevel.next_review_on <= horizon))]
    rows += [(kind, ref, on, owner) for kind, ref, on, owner in db.session.execute(
        sa.select(ReviewSchedule.kind, ReviewSchedule.ref, ReviewSchedule.next_review_on, ReviewSchedule.owner_id)
        .where(ReviewSchedule.kind != "severity_level", ReviewSchedule.owner_id.is_not(None),
               ReviewSchedule.next_review_on <= horizon))]
    return rows


def due_plans(now: datetime, limit: int) -> list[tuple[str, str, str, str]]:
    """Reminder rows that should exist and do not: (kind, ref, review date, which)."""
    horizon = now.date() + timedelta(days=1)  # owners' zones may be a day ahead
    wanted = []
    for kind, ref, on, _ in _scheduled(horizon):
        for which, days in REMINDERS.items():
            if on + timedelta(days=days) <= horizon:
                wanted.append((kind, ref, on, which))
    if not wanted:
        return []
    have = set(db.session.execute(sa.select(ReviewReminder.kind, ReviewReminder.ref, ReviewReminder.for_review_on,
                                            ReviewReminder.which).where(
        ReviewReminder.for_review_on.in_({on for _, _, on, _ in wanted}))).all())
    return [(k, r, on.isoformat(), w) for k, r, on, w in wanted if (k, r, on, w) not in have][:limit]


def plan(key: tuple[str, str, str, str], now: datetime) -> bool:
    """Engine unit: make one reminder row (due at 09:00 in the owner's zone)."""
    kind, ref, on_text, which = key
    on = date.fromisoformat(on_text)
    if db.session.scalar(sa.select(ReviewReminder.id).where(
            ReviewReminder.kind == kind, ReviewReminder.ref == ref, ReviewReminder.for_review_on == on,
            ReviewReminder.which == which)) is not None:
        return False
    owner_id = next((o for k, r, d, o in _scheduled(on) if (k, r, d) == (kind, ref, on)), None)
    owner = db.session.get(User, owner_id) if owner_id else None
    db.session.add(ReviewReminder(kind=kind, ref=ref, for_review_on=on, which=which,
                                  due_at=reminder_time(on, which, owner)))
    return True


def due_reminders(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(ReviewReminder.id).where(ReviewReminder.due_at <= now)
                              .order_by(ReviewReminder.due_at).limit(limit)).all()


def send_reminder(reminder_id: int, now: datetime) -> bool:
    """Engine unit: remind the owner, once; a reminder no longer wanted (reviewed,
    moved, no owner, or a later one due too) is dropped."""
    reminder = db.session.get(ReviewReminder, reminder_id)
    if reminder is None or reminder.due_at is None or reminder.due_at > now:
        return False
    src = BY_KIND.get(reminder.kind)
    item = next((i for i in src.items() if i.ref == reminder.ref), None) if src is not None else None
    later = [w for w, days in REMINDERS.items() if days > REMINDERS[reminder.which]]
    overtaken = db.session.scalar(sa.select(ReviewReminder.id).where(
        ReviewReminder.kind == reminder.kind, ReviewReminder.ref == reminder.ref,
        ReviewReminder.for_review_on == reminder.for_review_on, ReviewReminder.which.in_(later),
        ReviewReminder.due_at <= now).limit(1)) is not None
    owner = item.owner if item else None
    if item is None or owner is None or not owner.active or item.next_review_on != reminder.for_review_on or overtaken:
        reminder.due_at, reminder.cancelled_at = None, now
        return True
    link = external_url("insights.review_index")
    when = "today" if reminder.which == "due" else f"on {reminder.for_review_on.isoformat()} and is overdue"
    message = to_person(
        owner, key=f"review-reminder:{reminder.id}", purpose="reminder", due=now, now=now,
        subject=f"Review due: {src.label.lower()}, {item.title}"[:255],
        body=(f"The review of {src.label.lower()} “{item.title}” was due {when}.\n\n"
              "Read it through with what recent incidents taught us, change what needs changing, "
              f"then record the review (the next one moves a quarter on): {link}\n"))
    reminder.due_at, reminder.sent_at = None, now
    reminder.notification_id = message.id if message else None
    return True


JOBS = [Job("review_reminder_plans", due_plans, plan), Job("review_reminders", due_reminders, send_reminder)]
