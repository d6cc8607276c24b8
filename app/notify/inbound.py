"""Answers from responders: SMS replies and keypresses on the page call.

`parse_reply` is the pure grammar. `handle_sms` and `handle_keypress` find the
person by their verified number, check what they may do, and call the same
incident functions the web page calls.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.audit.service import Actor
from app.auth.models import Role, User
from app.errors import DomainError
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import Incident, Status
from app.notify import text
from app.notify.models import Channel, ContactMethod, InboundMessage, Notification

ACTIONS = {
    "A": "ack", "ACK": "ack", "ACKNOWLEDGE": "ack",
    "R": "resolve", "RES": "resolve", "RESOLVE": "resolve",
    "E": "escalate", "ESC": "escalate", "ESCALATE": "escalate",
}
# What carriers expect a number to understand (CTIA): opt out, opt back in, help.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}
# Replies that act on nothing (unknown numbers, nonsense) are capped per number.
REPLY_CAP = 3
REPLY_CAP_WINDOW = timedelta(hours=1)

_WORD = "|".join(sorted(ACTIONS, key=len, reverse=True))
_PATTERNS = [
    re.compile(rf"^#?(?P<n>\d{{1,9}})\s*(?P<a>{_WORD})$"),   # 42A, 42 A, #42 ack
    re.compile(rf"^(?P<a>{_WORD})\s*#?(?P<n>\d{{1,9}})$"),   # A 42, ACK 42, ack#42
    re.compile(rf"^(?P<a>{_WORD})$"),                        # A: the last page
]


@dataclass(frozen=True)
class Reply:
    command: str            # ack, resolve, escalate, stop, start, help, unknown
    incident: int | None = None


def parse_reply(body: str | None) -> Reply:
    """The reply grammar of DESIGN.md, case-insensitive, forgiving of spaces and punctuation."""
    cleaned = re.sub(r"[^\w#]+", " ", (body or "").upper()).strip()
    cleaned = re.sub(r"\s+", " ", cleaned)
    if cleaned in STOP_WORDS:
        return Reply("stop")
    if cleaned in START_WORDS:
        return Reply("start")
    if cleaned in HELP_WORDS:
        return Reply("help")
    for pattern in _PATTERNS:
        match = pattern.match(cleaned)
        if match:
            number = match.groupdict().get("n")
            return Reply(ACTIONS[match.group("a")], int(number) if number else None)
    return Reply("unknown")


@dataclass
class Answer:
    outcome: str
    text: str
    user: User | None = None


def person_for_number(number: str) -> User | None:
    """The active person whose verified phone this is."""
    return db.session.scalar(
        sa.select(User).join(ContactMethod, ContactMethod.user_id == User.id)
        .where(ContactMethod.address == number, ContactMethod.channel.in_((Channel.SMS, Channel.VOICE)),
               ContactMethod.verified_at.isnot(None), ContactMethod.active.is_(True), User.active.is_(True))
        .limit(1))


def last_paged_incidents(number: str) -> list[int]:
    """The incidents of the last page SMS sent to this number (several when bundled)."""
    last = db.session.scalar(
        sa.select(Notification).where(Notification.to_address == number, Notification.purpose.in_(("page", "assist")),
                                      Notification.channel == Channel.SMS, Notification.sent_at.isnot(None),
                                      Notification.bundled_into_id.is_(None))
        .order_by(Notification.sent_at.desc(), Notification.id.desc()).limit(1))
    if last is None:
        return []
    riders = db.session.scalars(sa.select(Notification.incident_id).where(Notification.bundled_into_id == last.id)).all()
    return [last.incident_id, *[r for r in riders if r != last.incident_id]]


def act(user: User, incident_number: int, command: str, now: datetime, via: str) -> str:
    """Do one command on one incident as `user`; the sentence to answer with."""
    incident = db.session.get(Incident, incident_number)
    if incident is None:
        return f"There is no incident #{incident_number}."
    if incident.merged_into_id:
        target = db.session.get(Incident, incident.merged_into_id)
        if target is not None:
            incident = target
    actor = Actor.for_user(user)
    ref = f"#{incident.id}"
    if command == "ack":
        if incident.status == Status.RESOLVED:
            return f"{ref} is already resolved."
        if not incidents.acknowledge(actor, incident, now, via=via):
            from app.incidents import warroom
            from app.notify.paging import incident_url
            # Asked to join from another team: acknowledging their page is joining.
            if warroom.was_asked(incident, user) and warroom.join(actor, incident, now, via=via):
                return f"{ref}: you have joined, {user.name}. The war room: {incident_url(incident.id)}"
            who = incident.acknowledged_by.name if incident.acknowledged_by else "someone"
            return f"{ref} was already acknowledged by {who}."
        return f"{ref} acknowledged by {user.name}."
    if command == "resolve":
        if not incidents.resolve(actor, incident, now, via=via):
            return f"{ref} is already resolved."
        return f"{ref} resolved by {user.name}."
    if command == "escalate":
        from app.escalation import service as escalation
        try:
            reached = escalation.escalate_now(actor, incident, now, via=via)
        except DomainError as error:
            return f"{ref}: {error.message}"
        return f"{ref} escalated by {user.name}" + (f": paging {reached}." if reached else ".")
    raise ValueError(command)


def _capped(number: str, now: datetime) -> bool:
    recent = db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage).where(
        InboundMessage.from_address == number, InboundMessage.replied.is_(True),
        InboundMessage.outcome.in_(("unknown_number", "not_understood", "not_allowed", "no_recent_page")),
        InboundMessage.at > now - REPLY_CAP_WINDOW))
    return recent >= REPLY_CAP


def handle_sms(number: str, body: str, now: datetime) -> Answer:
    reply = parse_reply(body)
    user = person_for_number(number)
    if user is None:
        answer = _status_subscriber(number, reply.command, now)
        if answer is not None:
            return answer
    if reply.command == "help":
        return Answer("help", text.help_sms(), user)
    if user is None:
        return Answer("unknown_number", "This number is not set up to answer Firebreak pages. "
                      "Ask your Firebreak admin to add and verify it.")
    if reply.command in ("stop", "start"):
        return _opt(user, number, reply.command == "stop", now)
    if reply.command == "unknown":
        return Answer("not_understood", f"Sorry, that was not understood. {text.help_sms()}", user)
    if not user.can(Role.RESPONDER):
        return Answer("not_allowed", f"{user.name}, your role may not act on incidents.", user)
    targets = [reply.incident] if reply.incident else last_paged_incidents(number)
    if not targets:
        return Answer("no_recent_page", "There is no recent page to this number to act on. Reply with the "
                      "incident number too, e.g. 42A.", user)
    sentences = [act(user, number_, reply.command, now, via="sms") for number_ in targets]
    return Answer(reply.command, " ".join(sentences), user)


def _status_subscriber(number: str, command: str, now: datetime) -> Answer | None:
    """STOP, START and HELP from a status page subscriber's phone (not a person's)."""
    from app.statuspage import service as status_page
    from app.statuspage import subscribers
    if command not in ("stop", "start", "help") or subscribers.sms_subscriber(number) is None:
        return None
    name = status_page.get_settings().name
    if command == "stop":
        subscribers.stop_number(number, now)
        return Answer("subscriber_stop", f"You will get no more {name} status updates by SMS. Reply START to resume.")
    if command == "start":
        if subscribers.start_number(number, now):
            return Answer("subscriber_start", f"{name} status updates by SMS are back on. Reply STOP to end them.")
        return None
    return Answer("help", f"{name} status updates: an SMS when an incident starts, when it is resolved and when "
                  "maintenance starts. Reply STOP to end them, START to resume.")


def _opt(user: User, number: str, stop: bool, now: datetime) -> Answer:
    methods = db.session.scalars(sa.select(ContactMethod).where(
        ContactMethod.user_id == user.id, ContactMethod.channel == Channel.SMS, ContactMethod.address == number)).all()
    for method in methods:
        method.opted_out_at = now if stop else None
    if stop:
        return Answer("stop", "You will get no more SMS from Firebreak; pages go to your other methods. "
                      "Reply START to resume.", user)
    return Answer("start", "SMS pages from Firebreak are back on. Reply HELP for help.", user)


def record(provider_id: str, channel: Channel, number: str, body: str, answer: Answer, now: datetime,
           replied: bool) -> InboundMessage:
    row = InboundMessage(provider_id=provider_id[:80], channel=channel, from_address=number[:32], body=body[:1600],
                         user_id=answer.user.id if answer.user else None, outcome=answer.outcome,
                         reply=answer.text[:1600] if replied else "", replied=replied, at=now)
    db.session.add(row)
    return row


def receive_sms(provider_id: str, number: str, body: str, now: datetime) -> InboundMessage:
    """The whole inbound SMS: once per provider message id (a replay gets the first answer)."""
    seen = db.session.scalar(sa.select(InboundMessage).where(InboundMessage.provider_id == provider_id))
    if seen is not None:
        return seen
    capped = _capped(number, now)
    answer = handle_sms(number, body, now)
    quiet = capped and answer.outcome in ("unknown_number", "not_understood", "not_allowed", "no_recent_page")
    return record(provider_id, Channel.SMS, number, body, answer, now, replied=not quiet)


KEYS = {"1": "ack", "2": "resolve", "3": "escalate"}


def receive_keypress(provider_id: str, notification: Notification, digits: str, now: datetime) -> Answer:
    """A key pressed on a page call, acting as the person the call went to."""
    seen = db.session.scalar(sa.select(InboundMessage).where(InboundMessage.provider_id == provider_id))
    if seen is not None:
        return Answer(seen.outcome, seen.reply)
    user = notification.user
    command = KEYS.get((digits or "").strip()[:1])
    if user is None or notification.incident_id is None:
        answer = Answer("unknown_number", "This call is not a page. Goodbye.")
    elif command is None:
        answer = Answer("not_understood", "Sorry, that key does nothing.", user)
    elif not user.active or not user.can(Role.RESPONDER):
        answer = Answer("not_allowed", "Your role may not act on incidents. Goodbye.", user)
    else:
        answer = Answer(command, act(user, notification.incident_id, command, now, via="voice"), user)
    record(provider_id, Channel.VOICE, notification.to_address, digits or "", answer, now, replied=True)
    return answer
