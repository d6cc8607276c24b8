"""A person's contact methods and notification rules: add, verify, order, test."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, User
from app.auth.service import normalise_email, normalise_phone
from app.engine import memo
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.notify.models import Channel, ContactMethod, Notification, NotificationRule
from app.notify.outbox import enqueue

CODE_TTL = timedelta(minutes=15)
CODE_ATTEMPTS = 5
CODE_RESEND_AFTER = timedelta(seconds=60)
MAX_RULES = 10
MAX_DELAY = 120
# A new person's rules, as PagerDuty proposes them: high urgency rings then falls back to email.
DEFAULT_HIGH = [(Channel.SMS, 0), (Channel.VOICE, 2), (Channel.EMAIL, 5)]
DEFAULT_LOW = [(Channel.EMAIL, 0)]


@dataclass(frozen=True)
class RulesOf(memo.Key):
    """A person's rules for one urgency (`rules_for`), in a `memo.sharing` block."""

    user_id: int
    urgency: str


def _may_manage(actor: Actor, user: User) -> None:
    own = actor.user is not None and actor.user.id == user.id
    if not own and not actor.can(Role.ADMIN):
        raise Forbidden("Only the person or an admin may change their contact methods.")


def get_method(method_id: int, user: User | None = None) -> ContactMethod:
    method = db.session.get(ContactMethod, method_id)
    if method is None or (user is not None and method.user_id != user.id):
        raise NotFound("No such contact method.")
    return method


def normalise_address(channel: Channel, address: str) -> str:
    if channel == Channel.EMAIL:
        return normalise_email(address)
    number = normalise_phone(address)
    if number is None:
        raise DomainError("Give a phone number.", "address")
    return number


def add_method(actor: Actor, user: User, channel: Channel | str, address: str, now: datetime, *,
               label: str = "", verified: bool = False, send: bool = True) -> ContactMethod:
    """A new contact method. Unless an admin vouches for it, a code goes to it first
    (`send=False`: the caller sends one code for several methods, see `add_phone`)."""
    _may_manage(actor, user)
    try:
        channel = Channel(channel)
    except ValueError:
        raise DomainError("Choose SMS, voice or email.", "channel") from None
    try:
        address = normalise_address(channel, address)
    except DomainError as error:
        raise DomainError(error.message, "address") from None
    exists = db.session.scalar(sa.select(ContactMethod).where(
        ContactMethod.user_id == user.id, ContactMethod.channel == channel, ContactMethod.address == address))
    if exists is not None:
        if exists.active:
            raise Conflict(f"{user.name} already has {channel.label} {address}.", "address")
        exists.active = True
        method = exists
    else:
        method = ContactMethod(user=user, channel=channel, address=address, label=(label or "")[:60],
                               created_at=now, active=True)
        db.session.add(method)
        db.session.flush()
    if verified:
        if not actor.can(Role.ADMIN):
            raise Forbidden("Only an admin may vouch for a contact method without a code.")
        method.verified_at = now
    audit.record(actor, "contact.add", method, summary=f"Added {channel.label} {address} for {user.name}",
                 after={"user_id": user.id, "channel": channel.value, "address": address, "verified": verified})
    if verified:
        ensure_rules(user)
    elif send:
        send_code(actor, method, now)
    return method


def phone_methods(user: User, number: str) -> list[ContactMethod]:
    """The person's active SMS and voice methods on this number."""
    return [m for m in user.contact_methods
            if m.active and m.address == number and m.channel in (Channel.SMS, Channel.VOICE)]


def add_phone(actor: Actor, user: User, number: str | None, now: datetime, *, verified: bool = False) -> list[ContactMethod]:
    """A phone number someone typed for the person (an admin creating them or changing
    it, or the person's profile) becomes what pages use: an SMS and a voice method.
    Call it when the number is new to the person, not at every save.

    One code goes by SMS and verifies both (`verify`), unless an admin vouches for the
    number (`verified`, audited) or the person already proved it (a verified method on
    it: the other is verified with it). Once verified, the number takes over the
    person's default rules from any older one (`ensure_rules`)."""
    if not number:
        return []
    number = normalise_address(Channel.SMS, number)
    have = {m.channel: m for m in phone_methods(user, number)}
    made = [have.get(channel) or add_method(actor, user, channel, number, now, send=False)
            for channel in (Channel.SMS, Channel.VOICE)]
    proven = next((m for m in made if m.verified), None)
    if verified:
        vouch(actor, made[0], now)
    elif proven is not None:
        _verified_with(actor, proven, now)
        ensure_rules(user)
    elif user.active and (made[0].code_sent_at is None or now - made[0].code_sent_at >= CODE_RESEND_AFTER):
        send_code(actor, made[0], now)
    return made


def vouch(actor: Actor, method: ContactMethod, now: datetime) -> ContactMethod:
    """An admin marks a method verified without a code (PagerDuty lets admins do so);
    the number's other phone method with it. Audited."""
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may vouch for a contact method without a code.")
    if not method.active:
        raise DomainError("That contact method was removed.")
    _verified_with(actor, method, now, vouched=True)
    ensure_rules(method.user)
    return method


def _siblings(method: ContactMethod) -> list[ContactMethod]:
    """The method, and the person's other phone method on the same number: a code
    that reached the phone proves both."""
    if method.channel == Channel.EMAIL:
        return [method]
    return [method, *(m for m in phone_methods(method.user, method.address) if m.id != method.id)]


def _code_hash(method: ContactMethod, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{method.id}:{method.address}:{code}".encode(), hashlib.sha256).hexdigest()


def send_code(actor: Actor, method: ContactMethod, now: datetime) -> Notification:
    _may_manage(actor, method.user)
    if method.verified:
        raise DomainError("That contact method is already verified.")
    if method.code_sent_at and now - method.code_sent_at < CODE_RESEND_AFTER:
        wait = int((CODE_RESEND_AFTER - (now - method.code_sent_at)).total_seconds()) + 1
        raise DomainError(f"A code was just sent. Wait {wait} seconds before asking for another.", "code")
    code = f"{secrets.randbelow(1_000_000):06d}"
    method.code_hash = _code_hash(method, code)
    method.code_sent_at = now
    method.code_attempts = 0
    words = " ".join(code)
    body = {
        Channel.SMS: f"Your Firebreak code is {code}. It expires in 15 minutes.",
        Channel.VOICE: f"This is Firebreak. Your code is {words}. Again: {words}.",
        Channel.EMAIL: f"Your Firebreak verification code is {code}.\n\nIt expires in 15 minutes. "
                       f"If you did not ask for it, ignore this email.\n\n-- Firebreak\n",
    }[method.channel]
    return enqueue(key=f"verify:{method.id}:{int(now.timestamp())}", purpose="verify", channel=method.channel,
                   to_address=method.address, body=body, subject="Your Firebreak verification code",
                   user_id=method.user_id, contact_method_id=method.id, due=now)


def verify(actor: Actor, method: ContactMethod, code: str, now: datetime) -> bool:
    """True when the code is right. A wrong code counts an attempt (commit it) and is False."""
    _may_manage(actor, method.user)
    if method.verified:
        return True
    if method.code_hash is None:  # the code went to the number's other method (`add_phone`)
        method = next((m for m in _siblings(method) if m.code_hash is not None), method)
    if method.code_hash is None or method.code_sent_at is None:
        raise DomainError("Ask for a code first.", "code")
    if now - method.code_sent_at > CODE_TTL:
        raise DomainError("That code has expired. Ask for a new one.", "code")
    if method.code_attempts >= CODE_ATTEMPTS:
        raise DomainError("Too many wrong codes. Ask for a new one.", "code")
    method.code_attempts += 1
    if not hmac.compare_digest(method.code_hash, _code_hash(method, (code or "").strip().replace(" ", ""))):
        return False
    _verified_with(actor, method, now)
    ensure_rules(method.user)
    return True


def _verified_with(actor: Actor, method: ContactMethod, now: datetime, *, vouched: bool = False) -> None:
    """The method is proven (a right code, or an admin's word: `vouched`): so is the
    number's other phone method. Each one verified here is audited."""
    for each in _siblings(method):
        if not each.verified:
            each.verified_at, each.code_hash = now, None
            if vouched:
                audit.record(actor, "contact.vouch", each,
                             summary=f"Marked {each.display} of {each.user.name} verified without a code")
            else:
                audit.record(actor, "contact.verify", each, summary=f"Verified {each.display} for {each.user.name}")


def relabel(actor: Actor, method: ContactMethod, label: str) -> ContactMethod:
    """Name a contact method ("work phone"): shown beside it, pages use it as before.
    Audited when the name changes."""
    _may_manage(actor, method.user)
    if not method.active:
        raise DomainError("That contact method was removed.")
    label = " ".join((label or "").split())[:60]
    if label != method.label:
        audit.record(actor, "contact.label", method, summary=f"Named {method.display} of {method.user.name} {label!r}",
                     before={"label": method.label}, after={"label": label})
        method.label = label
    return method


def remove_method(actor: Actor, method: ContactMethod) -> None:
    _may_manage(actor, method.user)
    method.active = False
    db.session.execute(sa.delete(NotificationRule).where(NotificationRule.contact_method_id == method.id))
    memo.forget(RulesOf(method.user_id, "high"))
    memo.forget(RulesOf(method.user_id, "low"))
    db.session.expire(method.user)  # its rules' collection and the rows just deleted
    audit.record(actor, "contact.remove", method, summary=f"Removed {method.display} of {method.user.name}")
    ensure_rules(method.user)


def usable_methods(user: User) -> list[ContactMethod]:
    return [m for m in user.contact_methods if m.usable]


def rules_for(user: User, urgency: str) -> list[NotificationRule]:
    return list(memo.remembered(RulesOf(user.id, urgency), lambda: db.session.scalars(
        sa.select(NotificationRule).where(NotificationRule.user_id == user.id, NotificationRule.urgency == urgency)
        .order_by(NotificationRule.delay_minutes, NotificationRule.id)).all()))


def remember_rules(user_ids) -> None:
    """Within a `memo.sharing` block: every rule of these people in one query, so
    `rules_for` answers from memory for each."""
    wanted = memo.missing(user_ids, lambda i: RulesOf(i, "high"))
    if not wanted:
        return
    current = memo.current()
    found: dict = {(i, urgency): [] for i in wanted for urgency in ("high", "low")}
    for rule in db.session.scalars(sa.select(NotificationRule).where(NotificationRule.user_id.in_(wanted))
                                   .order_by(NotificationRule.delay_minutes, NotificationRule.id)):
        found.setdefault((rule.user_id, rule.urgency), []).append(rule)
    for (user_id, urgency), rules in found.items():
        current.put(RulesOf(user_id, urgency), rules)


def default_steps(methods: list[ContactMethod], urgency: str) -> list[tuple[ContactMethod, int]]:
    """The documented defaults for the methods a person has, whatever order they came
    in: high urgency SMS at once, a call after 2 minutes, email after 5; low urgency
    email at once. (A method of a channel counts once: its first.)"""
    steps = []
    for channel, delay in DEFAULT_HIGH if urgency == "high" else DEFAULT_LOW:
        method = next((m for m in methods if m.channel == channel), None)
        if method is not None:
            steps.append((method, delay))
    return steps


def ensure_rules(user: User) -> None:
    """Keep a person's default rules the documented ones for the methods they can be
    paged on now: a step per channel, each on that channel's method (the phone their
    record names first, so a new number takes over once verified). Rules the person
    chose (`set_rules`) stand as they are. Rules are changed in place where they can
    be, so a page under way keeps its keys."""
    methods = sorted(usable_methods(user), key=lambda m: (m.address != user.phone, m.id))
    changed = False
    for urgency in ("high", "low"):
        rules = rules_for(user, urgency)
        if any(rule.chosen for rule in rules):
            continue
        wanted = default_steps(methods, urgency)
        if not wanted or [(r.contact_method_id, r.delay_minutes) for r in rules] == [(m.id, d) for m, d in wanted]:
            continue
        by_channel: dict[Channel, list[NotificationRule]] = {}
        for rule in rules:
            by_channel.setdefault(rule.contact_method.channel, []).append(rule)
        for method, delay in wanted:
            same = by_channel.get(method.channel)
            if same:
                rule = same.pop(0)
                rule.contact_method, rule.delay_minutes = method, delay
            else:
                db.session.add(NotificationRule(user_id=user.id, contact_method=method, delay_minutes=delay,
                                                urgency=urgency, chosen=False))
        for left in (rule for same in by_channel.values() for rule in same):
            db.session.delete(left)
        memo.forget(RulesOf(user.id, urgency))
        changed = True
    if changed:
        db.session.flush()


def set_rules(actor: Actor, user: User, urgency: str, steps: list[tuple[int, int]]) -> None:
    """Replace a person's rules for one urgency with (contact method id, delay minutes) steps."""
    _may_manage(actor, user)
    if urgency not in ("high", "low"):
        raise DomainError("Urgency is high or low.", "urgency")
    if not steps:
        raise DomainError("Keep at least one way to reach you.", "rules")
    if len(steps) > MAX_RULES:
        raise DomainError(f"At most {MAX_RULES} steps.", "rules")
    mine = {m.id: m for m in user.contact_methods if m.active}
    for method_id, delay in steps:
        if method_id not in mine:
            raise DomainError("That contact method is not yours.", "rules")
        if not mine[method_id].verified:
            raise DomainError(f"Verify {mine[method_id].display} before paging it.", "rules")
        if not 0 <= delay <= MAX_DELAY:
            raise DomainError(f"Delays are 0 to {MAX_DELAY} minutes.", "rules")
    before = [(r.contact_method_id, r.delay_minutes) for r in rules_for(user, urgency)]
    db.session.execute(sa.delete(NotificationRule).where(NotificationRule.user_id == user.id,
                                                         NotificationRule.urgency == urgency))
    for method_id, delay in sorted(steps, key=lambda s: s[1]):
        db.session.add(NotificationRule(user_id=user.id, contact_method_id=method_id, delay_minutes=delay,
                                        urgency=urgency, chosen=True))
    memo.forget(RulesOf(user.id, urgency))
    audit.record(actor, "contact.rules", user, summary=f"Set {urgency}-urgency rules of {user.name}",
                 before={"steps": before}, after={"steps": sorted(steps, key=lambda s: s[1])})


def reset_rules(actor: Actor, user: User, urgency: str) -> None:
    """Put a person's rules of one urgency back to the documented defaults: the rules
    they chose go, and `ensure_rules` makes the defaults for the methods they have."""
    _may_manage(actor, user)
    if urgency not in ("high", "low"):
        raise DomainError("Urgency is high or low.", "urgency")
    before = [(r.contact_method_id, r.delay_minutes) for r in rules_for(user, urgency)]
    db.session.execute(sa.delete(NotificationRule).where(NotificationRule.user_id == user.id,
                                                         NotificationRule.urgency == urgency))
    memo.forget(RulesOf(user.id, urgency))
    db.session.expire(user)
    audit.record(actor, "contact.rules", user,
                 summary=f"Put the {urgency}-urgency rules of {user.name} back to the defaults",
                 before={"steps": before})
    ensure_rules(user)


def test_page(actor: Actor, user: User, now: datetime) -> list[Notification]:
    """'Send me a test page': one message on every usable method, now."""
    _may_manage(actor, user)
    methods = usable_methods(user)
    if not methods:
        raise DomainError("Add and verify a contact method first.")
    stamp = int(now.timestamp())
    sent = []
    for method in methods:
        sent.append(enqueue(key=f"test:{method.id}:{stamp}", purpose="test", channel=method.channel,
                            to_address=method.address, user_id=user.id, contact_method_id=method.id, due=now,
                            subject="Firebreak test page",
                            body="Firebreak test page: this is how a page reaches you. Nothing to do."))
    audit.record(actor, "contact.test", user, summary=f"Test page for {user.name} on {len(methods)} methods")
    return sent
