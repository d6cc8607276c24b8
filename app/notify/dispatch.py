"""Sending what is due from the outbox: the engine's notification job.

One unit claims a message (status `sending`, due again after SEND_TIMEOUT so a
sender that dies mid-send is retried: at-least-once), commits, calls the provider
outside any transaction, then records the result. Per-method throttles hold
messages back (and say so); SMS pages due together for one phone go as one
bundle; failures retry with backoff, and a method that keeps failing hands the
page to the person's next method.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.audit.service import Actor
from app.engine.core import Job
from app.extensions import db
from app.incidents.models import EventKind, Incident, Status as IncidentStatus
from app.incidents.timeline import record_event
from app.notify import providers as providers_mod
from app.notify import text
from app.notify.models import Channel, ContactMethod, Notification, Status
from app.notify.outbox import enqueue
from app.notify.paging import facts, message_for

log = logging.getLogger("firebreak.notify")

SEND_TIMEOUT = timedelta(seconds=60)
BACKOFF = [15, 30, 60, 120, 240, 300]  # seconds after the 1st, 2nd, … failure; then every 5 minutes
MAX_ATTEMPTS = 12  # about 40 minutes of trying
FALL_THROUGH_AFTER = 2
SMS_GAP = timedelta(minutes=1)   # at most one SMS a minute per phone, outside bundles
CALL_WINDOW = timedelta(minutes=15)
CALLS_PER_WINDOW = 3
SYSTEM = Actor.system("Firebreak")
# Messages that page someone about an incident: timeline entries, fall-through.
PAGE_PURPOSES = ("page", "assist")
# After a provider fails, further sends to it within this pause fail at once (and
# count as attempts) instead of each waiting for a timeout: an outage then costs a
# cycle milliseconds, and pages fall through to other methods without delay.
BREAKER_PAUSE = timedelta(seconds=15)


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
    status = db.session.scalar(sa.select(Incident.status).where(Incident.id == row.incident_id))
    if row.purpose == "assist":
        return status != IncidentStatus.RESOLVED
    return status == IncidentStatus.TRIGGERED


def _incident(row: Notification) -> Incident | None:
    return db.session.get(Incident, row.incident_id) if row.incident_id else None


def _who(row: Notification) -> str:
    return row.user.name if row.user else row.to_address


def _throttle(row: Notification, now: datetime) -> datetime | None:
    """When a per-method limit lets this message go, if it must wait."""
    if row.contact_method_id is None or row.channel == Channel.EMAIL:
        return None
    sent = (sa.select(Notification.sent_at)
            .where(Notification.contact_method_id == row.contact_method_id, Notification.channel == row.channel,
                   Notification.sent_at.isnot(None), Notification.bundled_into_id.is_(None),
                   Notification.id != row.id))
    if row.channel == Channel.SMS:
        last = db.session.scalar(sent.order_by(Notification.sent_at.desc()).limit(1))
        if last is not None and now - last < SMS_GAP:
            return last + SMS_GAP
        return None
    recent = db.session.scalars(sent.where(Notification.sent_at > now - CALL_WINDOW)
                                .order_by(Notification.sent_at)).all()
    if len(recent) >= CALLS_PER_WINDOW:
        return recent[-CALLS_PER_WINDOW] + CALL_WINDOW
    return None


def _bundle_mates(row: Notification, now: datetime) -> list[Notification]:
    """Other SMS pages due now for the same phone: they go in one message."""
    if row.channel != Channel.SMS or row.purpose != "page" or row.contact_method_id is None:
        return []
    mates = db.session.scalars(
        sa.select(Notification).where(
            Notification.contact_method_id == row.contact_method_id, Notification.channel == Channel.SMS,
            Notification.purpose == "page", Notification.status == Status.QUEUED,
            Notification.next_attempt_at <= now, Notification.id != row.id)
        .order_by(Notification.id)).all()
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


def _callback(path: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}{path}"


def run(notification_id: int, now: datetime) -> bool:
    row = db.session.get(Notification, notification_id)
    if row is None or row.status in (Status.SENT, Status.DELIVERED, Status.FAILED, Status.CANCELLED):
        return False
    if row.next_attempt_at is None or row.next_attempt_at > now:
        return False
    if not _still_wanted(row):
        row.status, row.next_attempt_at = Status.CANCELLED, None
        return True
    if row.status == Status.SENDING:  # a sender died mid-send; we cannot know if it left
        log.warning("notification %s was left sending; trying again", row.id)
    hold = _throttle(row, now)
    if hold is not None and hold > now:
        if row.held_until is None and (incident := _incident(row)) is not None:
            record_event(incident, EventKind.HELD_BACK, SYSTEM, via="engine", at=now,
                         text=f"{row.channel.label} to {_who(row)} held back until {hold:%H:%M:%S} UTC "
                              f"(at most one {'SMS a minute' if row.channel == Channel.SMS else '3 calls in 15 minutes'} per number)",
                         data={"notification_id": row.id, "user_id": row.user_id})
        row.status, row.next_attempt_at, row.held_until = Status.QUEUED, hold, hold
        return True
    mates = _bundle_mates(row, now)
    body = row.body
    if mates:
        pages = [facts(_incident(n)) for n in [row, *mates]]
        body = text.bundle_sms(pages, current_app.config["PUBLIC_BASE_URL"])
    # Claim: anyone finding it `sending` after SEND_TIMEOUT may send again.
    for claimed in [row, *mates]:
        claimed.status = Status.SENDING
        claimed.attempts += 1
        claimed.next_attempt_at = now + SEND_TIMEOUT
    for mate in mates:
        mate.bundled_into_id = row.id
    db.session.commit()

    channel_key = row.channel.value
    breaker = _breaker()
    tripped = breaker.get(channel_key)
    if tripped is not None and tripped[0] > now:
        _failed(row, mates, f"not tried: {tripped[1]} (pausing this channel until {tripped[0]:%H:%M:%S} UTC)",
                True, now)
        return True
    try:
        result = _send(row, body)
    except providers_mod.ProviderError as error:
        if error.retry:
            breaker[channel_key] = (now + BREAKER_PAUSE, str(error))
        _failed(row, mates, str(error), error.retry, now)
        return True
    breaker.pop(channel_key, None)
    row.provider, row.provider_id, row.provider_status = result.provider, result.provider_id, result.status
    for sent in [row, *mates]:
        sent.status, sent.sent_at, sent.next_attempt_at, sent.last_error = Status.SENT, now, None, None
        if sent.purpose in PAGE_PURPOSES and (incident := _incident(sent)) is not None:
            note = f" (with {len(mates)} other page{'s' if len(mates) > 1 else ''} in one SMS)" if mates and sent is row else ""
            record_event(incident, EventKind.PAGE_SENT, SYSTEM, via="engine", at=now,
                         text=f"{sent.channel.label} sent to {_who(sent)} at {sent.to_address}{note}",
                         data={"notification_id": sent.id, "user_id": sent.user_id, "channel": sent.channel.value})
    if row.contact_method_id:
        db.session.execute(sa.update(ContactMethod).where(ContactMethod.id == row.contact_method_id)
                           .values(consecutive_failures=0))
    return True


def _send(row: Notification, body: str):
    chosen = providers_mod.configured()
    if row.channel == Channel.SMS:
        return chosen.sms.send_sms(row.to_address, body, _callback("/twilio/status"))
    if row.channel == Channel.VOICE:
        return chosen.voice.place_call(row.to_address, _callback(f"/twilio/voice/{row.id}"), _callback("/twilio/status"))
    return chosen.email.send_email(row.to_address, row.subject or "Firebreak", body)


def _failed(row: Notification, mates: list[Notification], error: str, retry: bool, now: datetime) -> None:
    """Record a failed send: retry with backoff, fall through, or give up."""
    give_up = not retry or row.attempts >= MAX_ATTEMPTS
    delay = timedelta(seconds=BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)])
    for failed in [row, *mates]:
        failed.last_error = error[:2000]
        failed.bundled_into_id = None
        if give_up and failed is row:
            failed.status, failed.next_attempt_at = Status.FAILED, None
        else:
            failed.status, failed.next_attempt_at = Status.QUEUED, now + delay
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
        if incident is not None:
            verb = "answered" if row.channel == Channel.VOICE else "delivered"
            record_event(incident, EventKind.DELIVERED, SYSTEM, via="twilio", at=now,
                         text=f"{row.channel.label} to {_who(row)} {verb}",
                         data={"notification_id": row.id, "user_id": row.user_id, "status": status})
    elif failed and row.status not in (Status.FAILED, Status.DELIVERED):
        for item in [row, *riders]:
            item.status, item.last_error = Status.FAILED, f"provider said {status}" + (f" ({error_code})" if error_code else "")
        if incident is not None:
            record_event(incident, EventKind.DELIVERY_FAILED, SYSTEM, via="twilio", at=now,
                         text=f"{row.channel.label} to {_who(row)}: {status.replace('-', ' ')}",
                         data={"notification_id": row.id, "user_id": row.user_id, "status": status})
            if row.purpose == "page" and incident.status == IncidentStatus.TRIGGERED:
                fall_through(row, now, status)
    return row


JOBS = [Job("notifications", due, run)]
