"""Sending what is due from the outbox: the engine's notification job.

One unit claims a message (status `sending`, due again after `claim_window()` so a
sender that dies mid-send is retried: at-least-once) and commits; the provider is
called outside any transaction; another unit records the result. Up to
NOTIFY_CONCURRENCY claimed messages go to their providers at once (a burst of
pages does not wait for each provider round trip in turn), which is also how many
a sender that dies mid-send may leave to be sent again. Per-method throttles hold
messages back (and say so); SMS pages due together for one phone go as one
bundle; failures retry with backoff, and a method that keeps failing hands the
page to the person's next method.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app import metrics
from app.audit.service import Actor
from app.engine import backoff, memo
from app.engine.core import Job
from app.extensions import db
from app.incidents.models import EventKind, Incident, IncidentEvent, Status as IncidentStatus
from app.incidents.timeline import event_values, record_event
from app.links import external_url
from app.notify import providers as providers_mod
from app.notify import text
from app.notify.models import Channel, ContactMethod, Notification, Status
from app.notify.outbox import enqueue
from app.notify.paging import facts, message_for
from app.triage import levels

log = logging.getLogger("firebreak.notify")

# A claimed message is left to its sender for this many provider timeouts (60 s at the
# default NOTIFY_TIMEOUT_SECONDS of 10) before anyone may send it again: a send never
# takes longer than its timeout, so only a sender that died leaves one that long.
CLAIM_TIMEOUTS = 6
FALL_THROUGH_AFTER = 2
# Per-number limits (docs/paging.md, "When a message waits"). Pages count only other
# pages, so a code, a test page or a reminder never holds a page back; a high-urgency
# page waits at most PAGE_SMS_GAP behind the page before it, and whatever comes due
# meanwhile goes out with it as one SMS.
PAGE_SMS_GAP = timedelta(seconds=10)  # high-urgency page SMS to one phone
SMS_GAP = timedelta(minutes=1)        # any other SMS to one phone (low-urgency pages among pages)
CALL_WINDOW = timedelta(minutes=15)
CALLS_PER_WINDOW = 3
SYSTEM = Actor.system("Firebreak")
# Messages that page someone about an incident: timeline entries, fall-through.
PAGE_PURPOSES = ("page", "assist")
# After a provider fails, further sends to it within this pause fail at once (and
# count as attempts) instead of each waiting for a timeout: an outage then costs a
# cycle milliseconds, and pages fall through to other methods without delay.
BREAKER_PAUSE = timedelta(seconds=15)


@dataclass(frozen=True)
class IncidentStatusOf(memo.Key):
    incident_id: int


@dataclass(frozen=True)
class IncidentSeverityOf(memo.Key):
    incident_id: int


@dataclass(frozen=True)
class LastSms(memo.Key):
    """When a phone last had an SMS of its own (not riding in a bundle); of pages
    only, or of any kind."""

    contact_method_id: int
    pages_only: bool


@dataclass(frozen=True)
class SmsPagesDue(memo.Key):
    """The SMS pages that may ride in a page to this phone now (`_sms_pages_due`)."""

    contact_method_id: int
    at: datetime


def _breaker() -> dict[str, tuple[datetime, str]]:
    """Per application (per process): channel → (paused until, why)."""
    return current_app.extensions.setdefault("firebreak_notify_breaker", {})


def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(
        sa.select(Notification.id)
        .where(Notification.status.in_((Status.QUEUED, Status.SENDING)), Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id).limit(limit)).all()


def _still_wanted(row: Notification) -> bool:
    """A page is only worth sending while its incident is triggered; a request to
    join ("assist") while it is open."""
    if row.purpose not in PAGE_PURPOSES or row.incident_id is None:
        return True
    status = memo.remembered(IncidentStatusOf(row.incident_id), lambda: db.session.scalar(
        sa.select(Incident.status).where(Incident.id == row.incident_id)))
    if row.purpose == "assist":
        return status != IncidentStatus.RESOLVED
    return status == IncidentStatus.TRIGGERED


def _incident(row: Notification) -> Incident | None:
    return db.session.get(Incident, row.incident_id) if row.incident_id else None


def _who(row: Notification) -> str:
    return row.user.name if row.user else row.to_address


def _is_page(row: Notification) -> bool:
    return row.purpose in PAGE_PURPOSES


def _urgency(row: Notification) -> str:
    severity = memo.remembered(IncidentSeverityOf(row.incident_id), lambda: db.session.scalar(
        sa.select(Incident.severity).where(Incident.id == row.incident_id)))
    return levels.level(severity).urgency if severity is not None else "high"


def sms_gap(row: Notification) -> timedelta:
    """How long an SMS waits behind the one before it to the same phone."""
    return PAGE_SMS_GAP if _is_page(row) and row.incident_id and _urgency(row) == "high" else SMS_GAP


def _throttle(row: Notification, now: datetime) -> datetime | None:
    """When a per-method limit lets this message go, if it must wait. A page counts
    only the pages before it: no other message ever holds a page back."""
    if row.contact_method_id is None or row.channel == Channel.EMAIL:
        return None
    page = _is_page(row)

    def sent():  # built only when asked: building it costs more than a remembered answer
        query = sa.select(Notification.sent_at).where(*_went_out([row.contact_method_id], row.channel),
                                                      Notification.id != row.id)
        return query.where(Notification.purpose.in_(PAGE_PURPOSES)) if page else query

    if row.channel == Channel.SMS:
        last = memo.remembered(LastSms(row.contact_method_id, pages_only=page),
                               lambda: db.session.scalar(sent().order_by(Notification.sent_at.desc()).limit(1)))
        if last is not None and now - last < (gap := sms_gap(row)):
            return last + gap
        return None
    recent = db.session.scalars(sent().where(Notification.sent_at > now - CALL_WINDOW)
                                .order_by(Notification.sent_at)).all()
    if len(recent) >= CALLS_PER_WINDOW:
        return recent[-CALLS_PER_WINDOW] + CALL_WINDOW
    return None


def _limit_text(row: Notification) -> str:
    if row.channel == Channel.VOICE:
        return "at most 3 calls in 15 minutes per number"
    if sms_gap(row) == PAGE_SMS_GAP:
        return "pages to one phone go at most every 10 seconds; what comes due meanwhile goes in one SMS"
    return "at most one SMS a minute per number"


def _went_out(contact_method_ids, channel: Channel) -> tuple:
    """What counts against a method's throttle: messages on the channel that went out
    to it as messages of their own (not riding in another's bundle)."""
    return (Notification.contact_method_id.in_(contact_method_ids), Notification.channel == channel,
            Notification.sent_at.isnot(None), Notification.bundled_into_id.is_(None))


def _bundle_mates(row: Notification, now: datetime) -> list[Notification]:
    """Other SMS pages due now for the same phone: they go in one message."""
    if row.channel != Channel.SMS or row.purpose != "page" or row.contact_method_id is None:
        return []
    mates = [mate for mate in memo.remembered(SmsPagesDue(row.contact_method_id, now), lambda: db.session.scalars(
        _sms_pages_due([row.contact_method_id], now)).all()) if mate.id != row.id]
    wanted = [m for m in mates if _still_wanted(m)]
    for mate in mates:
        if mate not in wanted:
            mate.status, mate.next_attempt_at = Status.CANCELLED, None
    # One page per incident: a second rule step for the same incident adds nothing.
    seen = {row.incident_id}
    unique = []
    for mate in wanted:
        if mate.incident_id in seen:
            mate.status, mate.next_attempt_at, mate.bundled_into_id = Status.CANCELLED, None, row.id
            continue
        seen.add(mate.incident_id)
        unique.append(mate)
    return unique


def _sms_pages_due(contact_method_ids, now: datetime):
    """SMS pages that may ride in a page going to these phones now: those due, and
    those a throttle holds back (a low-urgency page held a minute goes with the next
    high-urgency one rather than wait behind it again)."""
    return (sa.select(Notification).where(
        Notification.contact_method_id.in_(contact_method_ids), Notification.channel == Channel.SMS,
        Notification.purpose == "page", Notification.status == Status.QUEUED,
        sa.or_(Notification.next_attempt_at <= now, Notification.held_until.isnot(None)))
        .order_by(Notification.id))


def remember_claims(rows: list[Notification], now: datetime) -> None:
    """Within a `memo.sharing` block: what claiming these messages reads, for all of
    them at once: the SMS pages due now for each of their phones (bundle mates),
    when each phone last had an SMS, and the state of every incident concerned.
    No two claims of a batch are for one phone (`busy`), so what one claim changes
    no other reads. (A message being claimed has no `sent_at` of its own, so the
    last SMS of its phone is the same with or without it.)"""
    current = memo.current()
    if current is None:  # memo.disabled()
        return
    phones = sorted({r.contact_method_id for r in rows if r.channel == Channel.SMS and r.contact_method_id})
    due: dict[int, list[Notification]] = {phone: [] for phone in phones}
    if phones:
        for mate in db.session.scalars(_sms_pages_due(phones, now)):
            due[mate.contact_method_id].append(mate)
        last = {phone: (any_, page) for phone, any_, page in db.session.execute(
            sa.select(Notification.contact_method_id, sa.func.max(Notification.sent_at),
                      sa.func.max(sa.case((Notification.purpose.in_(PAGE_PURPOSES), Notification.sent_at))))
            .where(*_went_out(phones, Channel.SMS)).group_by(Notification.contact_method_id))}
        for phone in phones:
            current.put(SmsPagesDue(phone, now), due[phone])
            any_, page = last.get(phone, (None, None))
            current.put(LastSms(phone, pages_only=False), any_)
            current.put(LastSms(phone, pages_only=True), page)
    incident_ids = {r.incident_id for r in [*rows, *(m for mates in due.values() for m in mates)] if r.incident_id}
    if incident_ids:
        states = {i: (status, severity) for i, status, severity in db.session.execute(
            sa.select(Incident.id, Incident.status, Incident.severity).where(Incident.id.in_(incident_ids)))}
        for incident_id in incident_ids:
            status, severity = states.get(incident_id, (None, None))
            current.put(IncidentStatusOf(incident_id), status)
            current.put(IncidentSeverityOf(incident_id), severity)


@dataclass(frozen=True)
class Part:
    """One outbox row a send carries (the claimed row, then its bundle mates), as
    its record needs it: known when it is claimed, so recording needs no lookups."""

    id: int
    purpose: str
    incident_id: int | None
    user_id: int | None
    who: str
    to: str


@dataclass(frozen=True)
class Outgoing:
    """A claimed message on its way out: what the provider call needs, as plain
    values (it is made outside any transaction, possibly in another thread), and
    what recording it needs."""

    id: int
    mate_ids: tuple[int, ...]
    channel: Channel
    to: str
    body: str
    subject: str
    html: str | None  # an email's HTML alternative
    status_callback: str
    voice_url: str
    busy_key: tuple  # one message per number or address in flight at a time
    parts: tuple[Part, ...]  # the row, then its mates
    contact_method_id: int | None
    method_failed: bool  # its method has failures that a success clears

    @property
    def channel_key(self) -> str:
        return self.channel.value


# `claim` leaves a message for later in this cycle: another for the same number or
# address is on its way out, and the throttle must first see how that went.
LATER = object()


def _busy_key(row: Notification) -> tuple:
    return (row.channel, row.contact_method_id or row.to_address)


def claim_window() -> timedelta:
    return timedelta(seconds=CLAIM_TIMEOUTS * float(current_app.config["NOTIFY_TIMEOUT_SECONDS"]))


def claim(notification_id: int, now: datetime, busy: frozenset | set = frozenset()):
    """The first half of sending, in the engine's unit transaction: decide, then claim.

    Returns False (nothing to do), True (done here: cancelled or held back), LATER,
    or the `Outgoing` claimed: the row (and its bundle mates) marked `sending`, due
    again after `claim_window()`, so that once this transaction commits a sender that
    dies mid-send leaves it to be retried (at-least-once)."""
    row = db.session.get(Notification, notification_id)
    if row is None or row.status in (Status.SENT, Status.DELIVERED, Status.FAILED, Status.CANCELLED):
        return False
    if row.next_attempt_at is None or row.next_attempt_at > now:
        return False
    if not _still_wanted(row):
        row.status, row.next_attempt_at = Status.CANCELLED, None
        return True
    if _busy_key(row) in busy:
        return LATER
    if row.status == Status.SENDING:  # a sender died mid-send; we cannot know if it left
        log.warning("notification %s was left sending; trying again", row.id)
    hold = _throttle(row, now)
    if hold is not None and hold > now:
        if row.held_until is None and (incident := _incident(row)) is not None:
            record_event(incident, EventKind.HELD_BACK, SYSTEM, via="engine", at=now,
                         text=f"{row.channel.label} to {_who(row)} held back until {hold:%H:%M:%S} UTC "
                              f"({_limit_text(row)})",
                         data={"notification_id": row.id, "user_id": row.user_id})
        row.status, row.next_attempt_at, row.held_until = Status.QUEUED, hold, hold
        return True
    mates = _bundle_mates(row, now)
    body = row.body
    if mates:
        pages = [facts(_incident(n)) for n in [row, *mates]]
        body = text.bundle_sms(pages, external_url("incidents.index"))
    # Claim: anyone finding it `sending` after the claim window may send again.
    for claimed in [row, *mates]:
        claimed.status = Status.SENDING
        claimed.attempts += 1
        claimed.next_attempt_at = now + claim_window()
    for mate in mates:
        mate.bundled_into_id = row.id
    # Only the engine counts a method's failures, and one message per method is in
    # flight at a time, so what is read here is still so when the send is recorded.
    method_failed = bool(row.contact_method_id
                         and (row.contact_method is None or row.contact_method.consecutive_failures))
    return Outgoing(id=row.id, mate_ids=tuple(m.id for m in mates), channel=row.channel, to=row.to_address,
                    body=body, subject=row.subject or "Firebreak", html=row.html_body, status_callback=external_url("twilio.status"),
                    voice_url=external_url("twilio.voice", notification_id=row.id), busy_key=_busy_key(row),
                    parts=tuple(Part(n.id, n.purpose, n.incident_id, n.user_id, _who(n), n.to_address)
                                for n in [row, *mates]),
                    contact_method_id=row.contact_method_id, method_failed=method_failed)


def _sent_entry(out: Outgoing, part: Part) -> tuple[str, dict]:
    """The text and data of the timeline entry that says a page went out."""
    mates = len(out.parts) - 1
    note = f" (with {mates} other page{'s' if mates > 1 else ''} in one SMS)" if mates and part.id == out.id else ""
    return (f"{out.channel.label} sent to {part.who} at {part.to}{note}",
            {"notification_id": part.id, "user_id": part.user_id, "channel": out.channel.value})


def finish(out: Outgoing, outcome, now: datetime) -> bool:
    """The second half, in a unit transaction of its own: record what the provider
    said (`outcome`: its receipt, or the ProviderError)."""
    row = db.session.get(Notification, out.id)
    mates = [db.session.get(Notification, mate_id) for mate_id in out.mate_ids]
    if isinstance(outcome, providers_mod.ProviderError):
        _failed(row, mates, str(outcome), outcome.retry, now)
        return True
    if isinstance(outcome, BaseException):  # not the provider's answer: a bug; the row is retried
        raise outcome
    row.provider, row.provider_id, row.provider_status = outcome.provider, outcome.provider_id, outcome.status
    for sent, part in zip([row, *mates], out.parts, strict=True):
        sent.status, sent.sent_at, sent.next_attempt_at, sent.last_error = Status.SENT, now, None, None
        metrics.notification(out.channel.value, part.purpose, "sent")
        if sent.purpose in PAGE_PURPOSES and (incident := _incident(sent)) is not None:
            text_, data = _sent_entry(out, part)
            record_event(incident, EventKind.PAGE_SENT, SYSTEM, via="engine", at=now, text=text_, data=data)
    if out.method_failed:  # a success clears the method's failures
        db.session.execute(_CLEAR_FAILURES, {"p_ids": [out.contact_method_id]})
    return True


class NotTried(providers_mod.ProviderError):
    def __init__(self, message: str):
        super().__init__(message, retry=True)


def _working() -> set[str]:
    """Per application (per process): channels whose last send succeeded."""
    return current_app.extensions.setdefault("firebreak_notify_working", set())


def _paused(channel: str, now: datetime) -> tuple[datetime, str] | None:
    tripped = _breaker().get(channel)
    return tripped if tripped is not None and tripped[0] > now else None


def deliver(batch: list[Outgoing], now: datetime) -> list:
    """Call the providers for claimed messages, outside any transaction: at most
    NOTIFY_CONCURRENCY at a time. Returns each one's receipt or ProviderError.

    A channel not known to work (none sent yet by this process, or the last failed)
    is tried with one message first: if that fails the channel pauses (the breaker)
    and the rest fail at once without being tried, so a hanging provider costs one
    timeout, not one per message, and a provider that is down is asked once."""
    settings = providers_mod.settings()
    breaker, working = _breaker(), _working()
    outcomes: list = [None] * len(batch)

    def attempt(indices: list[int]) -> None:
        results = _run_all([lambda out=batch[i]: _send(settings, out) for i in indices])
        for i, result in zip(indices, results):
            outcomes[i] = result
            channel = batch[i].channel_key
            if isinstance(result, providers_mod.ProviderError):
                working.discard(channel)
                if result.retry:
                    breaker[channel] = (now + BREAKER_PAUSE, str(result))
            elif not isinstance(result, BaseException):
                working.add(channel)
                breaker.pop(channel, None)

    probes: dict[str, int] = {}
    for i, out in enumerate(batch):
        if out.channel_key not in working and out.channel_key not in probes and not _paused(out.channel_key, now):
            probes[out.channel_key] = i
    attempt(list(probes.values()))
    rest = []
    for i, out in enumerate(batch):
        if outcomes[i] is not None:
            continue
        tripped = _paused(out.channel_key, now)
        if tripped is not None:
            outcomes[i] = NotTried(f"not tried: {tripped[1]} (pausing this channel until {tripped[0]:%H:%M:%S} UTC)")
        else:
            rest.append(i)
    attempt(rest)
    return outcomes


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _run_all(calls: list) -> list:
    """Run the calls, at most NOTIFY_CONCURRENCY at once; each one's result or the
    exception it raised, in order. One call (or a concurrency of 1) runs here."""
    size = max(1, int(current_app.config.get("NOTIFY_CONCURRENCY", 1)))

    def safely(call):
        try:
            return call()
        except Exception as error:  # handed to `finish`, which re-raises it in the unit
            return error

    if len(calls) <= 1 or size == 1:
        return [safely(call) for call in calls]
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="firebreak-notify")
    return list(pool.map(safely, calls))


def run_all(ids: list[int], now: datetime, units) -> None:
    """The engine's notification job: claim up to NOTIFY_CONCURRENCY messages, send
    them together, record what the providers said; again until nothing due is
    left or the job's slice is spent. One message per number or address at a time,
    so the throttle sees what the one before did.

    The claims of a batch share one unit, and so do its records (when every message
    went out, a few statements for all: `_record_sent`): if either fails, it is
    rolled back and done again one unit per message, so one bad message cannot hold
    the others back."""
    size = max(1, int(current_app.config.get("NOTIFY_CONCURRENCY", 1)))
    pending = deque(ids)
    later: list[int] = []
    while pending:
        taken: list[int] = []
        while pending and len(taken) < size and not units.out_of_time():
            taken.append(pending.popleft())
        batch = _claim_all(taken, now, units, later)
        if not batch:
            if not taken:
                break
            continue
        outcomes = deliver(batch, now)
        recorded = False
        if all(isinstance(outcome, providers_mod.Sent) for outcome in outcomes):  # the usual case
            with units.unit(f"{len(batch)} messages", report=False) as together:
                together.done = _record_sent(batch, outcomes, now)
            recorded = together.committed
        if not recorded and len(batch) > 1:
            with units.unit(f"{len(batch)} messages", report=False) as together, db.session.no_autoflush:
                loaded = _load_for_finish(batch)  # noqa: F841 (held while the records are made)
                together.done = sum(1 for out, outcome in zip(batch, outcomes) if finish(out, outcome, now))
            recorded = together.committed
        if not recorded:
            for out, outcome in zip(batch, outcomes):
                with units.unit(out.id) as unit:
                    unit.done = finish(out, outcome, now)
        pending.extendleft(reversed(later))
        later.clear()


def _claim_all(taken: list[int], now: datetime, units, later: list[int]) -> list[Outgoing]:
    """Claim these messages in one unit (each alone if that fails): what goes out now."""
    if len(taken) > 1:
        batch: list[Outgoing] = []
        waiting: list[int] = []
        # Without autoflush: no two claims of a batch touch the same number or
        # address (`busy`), so none reads what another has changed but not flushed.
        with units.unit(f"{len(taken)} messages", report=False) as together, db.session.no_autoflush, memo.sharing():
            loaded = db.session.scalars(sa.select(Notification).where(Notification.id.in_(taken))
                                        .options(sa.orm.selectinload(Notification.user),
                                                 sa.orm.selectinload(Notification.contact_method))).all()
            remember_claims(loaded, now)
            busy: set = set()
            done = 0
            for ident in taken:
                result = claim(ident, now, busy)
                if result is LATER:
                    waiting.append(ident)
                elif isinstance(result, Outgoing):
                    batch.append(result)
                    busy.add(result.busy_key)
                else:
                    done += bool(result)
            together.done = done
        if together.committed:
            later.extend(waiting)
            return batch
    batch, busy = [], set()
    for ident in taken:
        claimed = None
        with units.unit(ident) as unit:
            result = claim(ident, now, busy)
            if result is LATER:
                later.append(ident)
            elif isinstance(result, Outgoing):
                claimed = result
            else:
                unit.done = bool(result)
        if claimed is not None and unit.committed:
            batch.append(claimed)
            busy.add(claimed.busy_key)
    return batch


def _load_for_finish(batch: list[Outgoing]) -> list:
    """The rows `finish` reads for a batch, with their people (a failure names them),
    in three queries instead of a few each. Returned so the caller's frame holds
    them (the session holds them weakly)."""
    ids = [i for out in batch for i in (out.id, *out.mate_ids)]
    rows = db.session.scalars(sa.select(Notification).where(Notification.id.in_(ids))
                              .options(sa.orm.selectinload(Notification.user))).all()
    incident_ids = {row.incident_id for row in rows if row.incident_id}
    incidents = db.session.scalars(sa.select(Incident).where(Incident.id.in_(incident_ids))).all() if incident_ids else []
    return [*rows, *incidents]


def run(notification_id: int, now: datetime) -> bool:
    """One message alone, start to end (claim, send, record), in the caller's session."""
    out = claim(notification_id, now)
    if not isinstance(out, Outgoing):
        return bool(out)
    db.session.commit()
    [outcome] = deliver([out], now)
    return finish(out, outcome, now)


def _send(settings: dict, out: Outgoing):
    chosen = providers_mod.for_thread(settings)
    if out.channel == Channel.SMS:
        return chosen.sms.send_sms(out.to, out.body, out.status_callback)
    if out.channel == Channel.VOICE:
        return chosen.voice.place_call(out.to, out.voice_url, out.status_callback)
    return chosen.email.send_email(out.to, out.subject, out.body, out.html)


_rows = Notification.__table__
_incidents = Incident.__table__
_methods = ContactMethod.__table__
_RECEIPT = (sa.update(_rows).where(_rows.c.id == sa.bindparam("p_id"))
            .values(provider=sa.bindparam("p_provider"), provider_id=sa.bindparam("p_provider_id"),
                    provider_status=sa.bindparam("p_provider_status")))
_SENT = (sa.update(_rows).where(_rows.c.id.in_(sa.bindparam("p_ids", expanding=True)))
         .values(status=Status.SENT, sent_at=sa.bindparam("p_now", type_=_rows.c.sent_at.type),
                 next_attempt_at=None, last_error=None)
         .returning(_rows.c.id))
_TOUCH = (sa.update(_incidents).where(_incidents.c.id == sa.bindparam("p_id"))
          .values(version=_incidents.c.version + sa.bindparam("p_n"),
                  updated_at=sa.bindparam("p_now", type_=_incidents.c.updated_at.type)))
_CLEAR_FAILURES = (sa.update(_methods).where(_methods.c.id.in_(sa.bindparam("p_ids", expanding=True)))
                   .values(consecutive_failures=0))


def _record_sent(batch: list[Outgoing], outcomes: list[providers_mod.Sent], now: datetime) -> int:
    """`finish` for messages the provider took, all at once: the same rows, timeline
    entries and counts (a test holds the two equal) in a few statements, from what
    the claims noted, instead of loading and flushing every row. Raises if a row has
    gone meanwhile; the caller then records them the long way.

    The incidents are marked changed first, in id order, as the ORM's flush would:
    on PostgreSQL that takes their row locks in the order ingestion's hot path takes
    them, before the rows and entries that refer to them (an entry's foreign key
    check locks its incident too), so the two cannot deadlock."""
    entries, touched = [], Counter()
    for out in batch:
        for part in out.parts:
            metrics.notification(out.channel.value, part.purpose, "sent")
            if part.purpose in PAGE_PURPOSES and part.incident_id is not None:
                text_, data = _sent_entry(out, part)
                entries.append({"incident_id": part.incident_id, **event_values(
                    EventKind.PAGE_SENT, SYSTEM, via="engine", at=now, text=text_, data=data)})
                touched[part.incident_id] += 1
    if touched:  # as `record_event` marks them: once per entry
        db.session.execute(_TOUCH, [{"p_id": incident_id, "p_n": n, "p_now": now}
                                    for incident_id, n in sorted(touched.items())])
    db.session.execute(_RECEIPT, [{"p_id": out.id, "p_provider": sent.provider, "p_provider_id": sent.provider_id,
                                   "p_provider_status": sent.status} for out, sent in zip(batch, outcomes, strict=True)])
    ids = [part.id for out in batch for part in out.parts]
    if len(db.session.scalars(_SENT, {"p_ids": ids, "p_now": now}).all()) != len(ids):
        raise LookupError("a message was removed while it was being sent")
    if entries:
        db.session.execute(sa.insert(IncidentEvent.__table__), entries)
    cleared = [out.contact_method_id for out in batch if out.method_failed]
    if cleared:
        db.session.execute(_CLEAR_FAILURES, {"p_ids": cleared})
    return len(batch)


def _failed(row: Notification, mates: list[Notification], error: str, retry: bool, now: datetime) -> None:
    """Record a failed send: retry with backoff, fall through, or give up."""
    give_up = not retry or backoff.exhausted(row.attempts)
    delay = backoff.retry_delay(row.attempts)
    for failed in [row, *mates]:
        failed.last_error = error[:2000]
        failed.bundled_into_id = None
        if give_up and failed is row:
            failed.status, failed.next_attempt_at = Status.FAILED, None
            outcome = "gave_up"
        else:
            failed.status, failed.next_attempt_at = Status.QUEUED, now + delay
            outcome = "failed"
        metrics.notification(failed.channel.value, failed.purpose, outcome)
    if row.contact_method_id:
        db.session.execute(sa.update(ContactMethod).where(ContactMethod.id == row.contact_method_id)
                           .values(consecutive_failures=ContactMethod.consecutive_failures + 1))
    incident = _incident(row)
    if incident is not None and (row.attempts == 1 or give_up):
        record_event(incident, EventKind.DELIVERY_FAILED, SYSTEM, via="engine", at=now,
                     text=f"{row.channel.label} to {_who(row)} failed ({error})"
                          + ("; giving up" if give_up else f"; trying again in {int(delay.total_seconds())} s"),
                     data={"notification_id": row.id, "user_id": row.user_id, "attempt": row.attempts})
    if row.purpose in PAGE_PURPOSES and (row.attempts == FALL_THROUGH_AFTER or (give_up and row.attempts < FALL_THROUGH_AFTER)):
        fall_through(row, now, error)


def fall_through(row: Notification, now: datetime, why: str) -> Notification | None:
    """Hand a failing page to the person's next usable method (once per page)."""
    if row.user is None or row.incident_id is None or row.fallback_for_id is not None:
        return None
    used = {row.contact_method_id}
    methods = [m for m in row.user.contact_methods if m.usable and m.id not in used]
    # Prefer another provider: when SMS fails, Twilio or the number is the trouble, and a
    # call goes the same way; email does not. Then the other phone channel.
    order = {Channel.SMS: [Channel.EMAIL, Channel.VOICE], Channel.VOICE: [Channel.EMAIL, Channel.SMS],
             Channel.EMAIL: [Channel.SMS, Channel.VOICE]}[row.channel]
    methods.sort(key=lambda m: order.index(m.channel) if m.channel in order else 9)
    if not methods:
        return None
    method = methods[0]
    incident = _incident(row)
    subject, body = message_for(method.channel, facts(incident))
    fallback = enqueue(key=f"fallback:{row.id}", purpose=row.purpose, channel=method.channel, to_address=method.address,
                       body=body, subject=subject, due=now, now=now, user_id=row.user_id,
                       contact_method_id=method.id, incident_id=row.incident_id, fallback_for_id=row.id)
    record_event(incident, EventKind.FELL_THROUGH, SYSTEM, via="engine", at=now,
                 text=f"{row.channel.label} to {_who(row)} keeps failing; paging by {method.channel.label.lower()} "
                      f"at {method.address} instead",
                 data={"notification_id": row.id, "fallback_id": fallback.id, "user_id": row.user_id})
    return fallback


def record_status(provider_id: str, status: str, now: datetime, error_code: str | None = None) -> Notification | None:
    """A provider's delivery report (Twilio status callback) for a message or call."""
    row = db.session.scalar(sa.select(Notification).where(Notification.provider_id == provider_id))
    if row is None:
        return None
    row.provider_status = status
    delivered = status in ("delivered", "in-progress", "answered", "completed")
    failed = status in ("failed", "undelivered", "busy", "no-answer", "canceled")
    riders = db.session.scalars(sa.select(Notification).where(Notification.bundled_into_id == row.id)).all()
    incident = _incident(row)
    if delivered and row.status != Status.DELIVERED:
        for item in [row, *riders]:
            item.status, item.delivered_at = Status.DELIVERED, now
            metrics.notification(item.channel.value, item.purpose, "delivered")
        if incident is not None:
            verb = "answered" if row.channel == Channel.VOICE else "delivered"
            record_event(incident, EventKind.DELIVERED, SYSTEM, via="twilio", at=now,
                         text=f"{row.channel.label} to {_who(row)} {verb}",
                         data={"notification_id": row.id, "user_id": row.user_id, "status": status})
    elif failed and row.status not in (Status.FAILED, Status.DELIVERED):
        for item in [row, *riders]:
            item.status, item.last_error = Status.FAILED, f"provider said {status}" + (f" ({error_code})" if error_code else "")
            metrics.notification(item.channel.value, item.purpose, "undelivered")
        if incident is not None:
            record_event(incident, EventKind.DELIVERY_FAILED, SYSTEM, via="twilio", at=now,
                         text=f"{row.channel.label} to {_who(row)}: {status.replace('-', ' ')}",
                         data={"notification_id": row.id, "user_id": row.user_id, "status": status})
            if row.purpose == "page" and incident.status == IncidentStatus.TRIGGERED:
                fall_through(row, now, status)
    return row


JOBS = [Job("notifications", due, run, run_all=run_all)]
