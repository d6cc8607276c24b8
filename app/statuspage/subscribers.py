"""Subscribers: email with double opt-in, SMS with a code, webhooks confirmed by
email; one-click unsubscribe links; STOP by SMS; and the engine's fan-out of
notices to them.

Asking to subscribe always answers the same, whatever the address's state, so the
form never tells anyone whether an address is subscribed: a new or pending address
gets a confirmation, an already subscribed one gets a note saying so (only its
owner reads either). Confirmation messages are limited per address
(CONFIRMATIONS_PER_HOUR); the view limits per client too.

Who hears what: SMS only for a new incident, its resolution, and maintenance
starting; email for every update; webhooks for every update and component change.
Messages leave through the outbox (email, SMS) and webhook deliveries, both rows
the engine sends, so no request waits on a provider.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app import clock
from app.audit import service as audit
from app.audit.service import Actor
from app.auth.service import normalise_email, normalise_phone
from app.errors import DomainError
from app.extensions import db
from app.forms import record_id
from app.notify.models import Channel
from app.notify.outbox import enqueue
from app.notify.text import gsm7
from app.services.models import MaintenanceWindow
from app.statuspage import public, service, statusjson
from app.statuspage.models import (
    Component, ComponentStatus, DeliveryStatus, MaintenanceUpdate, PublicIncident, PublicIncidentUpdate, Stage,
    StatusNotice, Subscriber, SubscriberChannel, SubscriberDelivery, subscriber_components,
)
from app.webhooks import addresses, signing

CONFIRMATIONS_PER_HOUR = 3
CODE_ATTEMPTS = 5
SMS_TOKEN_AGE = 3600
BATCH = 500
MAX_URL = 2000
VISITOR = "Status page visitor"


# --- tokens in links ---------------------------------------------------------------------

def token(subscriber: Subscriber, purpose: str) -> str:
    """`<id>-<mac>`: a link that only we can make, checked without storing it."""
    mac = hmac.new(current_app.secret_key.encode(), f"{purpose}:{subscriber.id}:{subscriber.nonce}".encode(),
                   hashlib.sha256).hexdigest()[:32]
    return f"{subscriber.id}-{mac}"


def from_token(value: str, purpose: str) -> Subscriber | None:
    ident, _, mac = (value or "").partition("-")
    number = record_id(ident)  # not isdigit(): "²" is a digit int() refuses
    if number is None or len(mac) != 32:
        return None
    subscriber = db.session.get(Subscriber, number)
    if subscriber is None or not hmac.compare_digest(token(subscriber, purpose), value):
        return None
    return subscriber


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="statuspage-sms")


def unsubscribe_url(subscriber: Subscriber) -> str:
    return public.status_url(f"/unsubscribe/{token(subscriber, 'unsubscribe')}")


def confirm_url(subscriber: Subscriber) -> str:
    return public.status_url(f"/subscribe/confirm/{token(subscriber, 'confirm')}")


def _code_hash(subscriber: Subscriber, code: str) -> str:
    return hmac.new(current_app.secret_key.encode(), f"code:{subscriber.id}:{code}".encode(),
                    hashlib.sha256).hexdigest()


# --- asking, confirming, leaving ------------------------------------------------------------

@dataclass(frozen=True)
class Requested:
    """What the visitor is told: the same whoever owns the address."""

    channel: SubscriberChannel
    sms_token: str | None = None


def _address(channel: SubscriberChannel, address: str) -> str:
    if channel == SubscriberChannel.EMAIL:
        try:
            return normalise_email(address)
        except DomainError:
            raise DomainError("That is not an email address.", "email") from None
    if channel == SubscriberChannel.SMS:
        try:
            number = normalise_phone(address)
        except DomainError as error:
            raise DomainError(error.message, "phone") from None
        if number is None:
            raise DomainError("Give a mobile number, starting with + and the country code.", "phone")
        return number
    return addresses.check_url(address, max_length=MAX_URL)  # resolved and checked again at each delivery


def subscribe(channel, address: str, now: datetime, *, email: str | None = None,
              components: list[Component] | None = None) -> Requested:
    """Ask to subscribe `address` (email, E.164 phone or webhook URL; a webhook also
    needs `email`) to every component (None or empty) or to `components`."""
    try:
        channel = SubscriberChannel(channel)
    except ValueError:
        raise DomainError("Choose email, SMS or webhook.", "channel") from None
    address = _address(channel, address)
    contact = None
    if channel == SubscriberChannel.WEBHOOK:
        try:
            contact = normalise_email(email or "")
        except DomainError:
            raise DomainError("Give an email address: the webhook is confirmed there.", "email") from None
    subscriber = db.session.scalar(sa.select(Subscriber).where(Subscriber.channel == channel,
                                                               Subscriber.address == address))
    if subscriber is None:
        subscriber = Subscriber(channel=channel, address=address, email=contact, created_at=now,
                                nonce=secrets.token_hex(16), confirm_sends=0, code_attempts=0)
        db.session.add(subscriber)
        db.session.flush()
    already = subscriber.active
    if not already:  # a pending or lapsed subscription takes the new choice; a live one is not changed by strangers
        subscriber.all_components = not components
        subscriber.components = list(components or [])
        if contact:
            subscriber.email = contact
    if subscriber.confirm_window_at is None or now - subscriber.confirm_window_at >= timedelta(hours=1):
        subscriber.confirm_window_at, subscriber.confirm_sends = now, 0
    sms_token = _serializer().dumps(address) if channel == SubscriberChannel.SMS else None
    if subscriber.confirm_sends >= CONFIRMATIONS_PER_HOUR:
        return Requested(channel, sms_token)
    subscriber.confirm_sends += 1
    _send_confirmation(subscriber, already, now)
    return Requested(channel, sms_token)


def _send_confirmation(subscriber: Subscriber, already: bool, now: datetime) -> None:
    name = service.get_settings().name
    key = f"sp-confirm:{subscriber.id}:{subscriber.confirm_window_at:%Y%m%d%H%M%S}:{subscriber.confirm_sends}"
    if subscriber.channel == SubscriberChannel.SMS:
        if already:
            body = f"You already get {name} status updates by SMS. Reply STOP to unsubscribe."
        else:
            code = f"{secrets.randbelow(10**6):06d}"
            subscriber.code_hash, subscriber.code_attempts = _code_hash(subscriber, code), 0
            body = f"{name} status updates: your code is {code}. Reply STOP to opt out."
        enqueue(key=key, purpose="status", channel=Channel.SMS, to_address=subscriber.address,
                body=gsm7(body), due=now, now=now)
        return
    to = subscriber.email if subscriber.channel == SubscriberChannel.WEBHOOK else subscriber.address
    what = (f"the webhook {subscriber.address}" if subscriber.channel == SubscriberChannel.WEBHOOK
            else "this address")
    if already:
        subject = f"You are subscribed to {name} status updates"
        body = (f"Someone (perhaps you) asked to subscribe {what} to {name} status updates. It is subscribed "
                f"already, so nothing has changed.\n\nTo stop them: {unsubscribe_url(subscriber)}\n")
    else:
        subject = f"Confirm your subscription to {name} status updates"
        body = (f"Someone (perhaps you) asked to send {name} status updates to {what}.\n\n"
                f"Confirm with this link: {confirm_url(subscriber)}\n\n"
                f"If it was not you, ignore this message: nothing will be sent without the confirmation.\n")
    enqueue(key=key, purpose="status", channel=Channel.EMAIL, to_address=to, subject=subject,
            body=body + f"\n-- \n{name} status: {public.status_url()}\n", due=now, now=now)


def _confirm(subscriber: Subscriber, now: datetime, how: str) -> None:
    if subscriber.active:
        return
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.code_hash = None
    if subscriber.channel == SubscriberChannel.WEBHOOK and not subscriber.webhook_secret:
        subscriber.webhook_secret = signing.new_secret()
    audit.record(Actor.integration(VISITOR), "statuspage.subscribe", subscriber,
                 summary=f"{subscriber.channel.label} subscriber confirmed ({how})",
                 after={"channel": subscriber.channel.value, "all_components": subscriber.all_components})


def confirm(value: str, now: datetime) -> Subscriber | None:
    """The emailed link: confirms (again harmlessly); None for a bad link."""
    subscriber = from_token(value, "confirm")
    if subscriber is None:
        return None
    if subscriber.unsubscribed_at is None or subscriber.confirmed_at is None:
        _confirm(subscriber, now, "link")
    return subscriber


def confirm_sms(sms_token: str, code: str, now: datetime) -> bool:
    """The code from the SMS; a wrong, stale or exhausted code is simply False."""
    try:
        number = _serializer().loads(sms_token, max_age=SMS_TOKEN_AGE)
    except BadSignature:
        return False
    subscriber = db.session.scalar(sa.select(Subscriber).where(Subscriber.channel == SubscriberChannel.SMS,
                                                               Subscriber.address == number))
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if subscriber is None or subscriber.code_hash is None or subscriber.code_attempts >= CODE_ATTEMPTS:
        return False
    subscriber.code_attempts += 1
    if not hmac.compare_digest(subscriber.code_hash, _code_hash(subscriber, code)):
        return False
    _confirm(subscriber, now, "code")
    return True


def unsubscribe(value: str, now: datetime) -> Subscriber | None:
    """One click: the token link unsubscribes (again harmlessly); None for a bad link."""
    subscriber = from_token(value, "unsubscribe")
    if subscriber is None:
        return None
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = now
        audit.record(Actor.integration(VISITOR), "statuspage.unsubscribe", subscriber,
                     summary=f"{subscriber.channel.label} subscriber unsubscribed (link)")
    return subscriber


def resubscribe(value: str, now: datetime) -> Subscriber | None:
    """Undo an unsubscribe from the same link (it proves the address as well as the confirmation did)."""
    subscriber = from_token(value, "unsubscribe")
    if subscriber is None or subscriber.confirmed_at is None:
        return None
    if subscriber.unsubscribed_at is not None:
        subscriber.unsubscribed_at = None
        audit.record(Actor.integration(VISITOR), "statuspage.subscribe", subscriber,
                     summary=f"{subscriber.channel.label} subscriber subscribed again (link)")
    return subscriber


def sms_subscriber(number: str) -> Subscriber | None:
    return db.session.scalar(sa.select(Subscriber).where(Subscriber.channel == SubscriberChannel.SMS,
                                                         Subscriber.address == number))


def stop_number(number: str, now: datetime) -> bool:
    """STOP from a subscriber's phone: no more SMS from the status page."""
    subscriber = sms_subscriber(number)
    if subscriber is None:
        return False
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = now
        subscriber.code_hash = None
        audit.record(Actor.integration("Twilio"), "statuspage.unsubscribe", subscriber,
                     summary="SMS subscriber replied STOP")
    return True


def start_number(number: str, now: datetime) -> bool:
    """START from a number that had confirmed before and then stopped."""
    subscriber = sms_subscriber(number)
    if subscriber is None or subscriber.confirmed_at is None:
        return False
    if subscriber.unsubscribed_at is not None:
        subscriber.unsubscribed_at = None
        audit.record(Actor.integration("Twilio"), "statuspage.subscribe", subscriber,
                     summary="SMS subscriber replied START")
    return True


def remove(actor: Actor, subscriber: Subscriber) -> None:
    """An admin removes a subscriber altogether."""
    service._admin(actor)
    audit.record(actor, "statuspage.subscriber.remove", subscriber,
                 summary=f"Removed a {subscriber.channel.label.lower()} subscriber",
                 before={"channel": subscriber.channel.value})
    db.session.delete(subscriber)


# --- what each notice says -------------------------------------------------------------

@dataclass
class Message:
    subject: str
    text: str            # the email's body (before the unsubscribe footer)
    sms: str             # before the STOP line
    url: str
    event: str           # the webhook's event name
    payload: dict        # the webhook's body (before "meta")


def _when(at: datetime, snap: public.Snapshot) -> str:
    local = clock.utc(at).astimezone(snap.zone)
    return local.strftime("%d %b %Y %H:%M ") + (local.tzname() or "")


def _affected_text(rows: list[dict] | None) -> str:
    if not rows:
        return ""
    parts = [f"{row['name']} ({ComponentStatus(row['new_status']).label.lower()})" for row in rows]
    return "Affected: " + ", ".join(parts) + "\n\n"


def compose(notice: StatusNotice, snap: public.Snapshot) -> Message | None:
    name = snap.settings.name
    page_json = {"id": snap.settings.public_id, "status_indicator": snap.indicator,
                 "status_description": snap.description}
    if notice.kind in ("incident_update", "postmortem"):
        incident = public.incident_by_public_id(
            db.session.scalar(sa.select(PublicIncident.public_id).where(PublicIncident.id == notice.public_incident_id)))
        if incident is None:
            return None
        url = public.status_url(f"/incidents/{incident.public_id}")
        payload = {"page": page_json, "incident": statusjson.incident(incident, snap)}
        if notice.kind == "postmortem":
            return Message(subject=f"[{name} status] Post-mortem: {incident.name}",
                           text=f"{incident.name}\n\nPost-mortem\n\n{incident.postmortem}\n\nRead it online: {url}\n",
                           sms="", url=url, event="incident.postmortem", payload=payload)
        update = db.session.get(PublicIncidentUpdate, notice.update_id)
        if update is None:
            return None
        data = notice.data or {}
        label = Stage(update.status).label
        prefix = "New incident" if data.get("first") else label
        return Message(subject=f"[{name} status] {prefix}: {incident.name}",
                       text=(f"{incident.name}\n\n{label} — {_when(update.display_at, snap)}\n{update.body}\n\n"
                             f"{_affected_text(update.affected_components)}Follow this incident: {url}\n"),
                       sms=f"{name}: {prefix}: {incident.name} - {update.body}",
                       url=url, event="incident.update", payload=payload)
    if notice.kind in ("maintenance_update", "maintenance_reminder"):
        found = public.maintenances(public.WITH_CANCELLED, 1,
                                    public_id=db.session.scalar(sa.select(MaintenanceWindow.public_id).where(
                                        MaintenanceWindow.id == notice.maintenance_id)))
        if not found:
            return None
        m = found[0]
        url = public.status_url(f"/maintenance/{m.public_id}")
        payload = {"page": page_json, "incident": statusjson.maintenance(m, snap)}
        window = (f"Scheduled for {_when(m.window.starts_at, snap)} until {_when(m.window.ends_at, snap)}.")
        if notice.kind == "maintenance_reminder":
            return Message(subject=f"[{name} status] Reminder: {m.window.title}",
                           text=f"{m.window.title}\n\nStarts soon. {window}\n\nDetails: {url}\n",
                           sms="", url=url, event="maintenance.reminder", payload=payload)
        update = db.session.get(MaintenanceUpdate, notice.update_id)
        if update is None:
            return None
        label = {"scheduled": "Scheduled maintenance", "in_progress": "Maintenance in progress",
                 "verifying": "Verifying maintenance", "completed": "Maintenance completed",
                 "cancelled": "Maintenance cancelled"}.get(update.status, "Maintenance")
        return Message(subject=f"[{name} status] {label}: {m.window.title}",
                       text=(f"{m.window.title}\n\n{label} — {_when(update.display_at, snap)}\n{update.body}\n\n"
                             f"{window}\n\n{_affected_text(update.affected_components)}Details: {url}\n"),
                       sms=f"{name}: {label}: {m.window.title}", url=url, event="maintenance.update",
                       payload=payload)
    if notice.kind == "component_update":
        component = db.session.get(Component, notice.component_id)
        if component is None:
            return None
        data = notice.data or {}
        payload = {"page": page_json, "component_update": {
            "old_status": data.get("old_status"), "new_status": data.get("new_status"),
            "created_at": statusjson.iso(notice.created_at, snap.zone), "component_type": "Component",
            "id": f"cu{notice.id}", "component_id": component.public_id},
            "component": statusjson.component(component, snap)}
        return Message(subject="", text="", sms="", url=public.status_url(), event="component.update", payload=payload)
    return None


def channels_for(notice: StatusNotice) -> set[SubscriberChannel]:
    if notice.kind == "component_update":
        return {SubscriberChannel.WEBHOOK}
    if notice.kind in ("postmortem", "maintenance_reminder"):
        return {SubscriberChannel.EMAIL, SubscriberChannel.WEBHOOK}
    wanted = {SubscriberChannel.EMAIL, SubscriberChannel.WEBHOOK}
    if notice.sms:
        wanted.add(SubscriberChannel.SMS)
    return wanted


def _sms_text(message: Message, subscriber: Subscriber) -> str:
    tail = f" {message.url} Reply STOP to unsubscribe"
    head = gsm7(" ".join(message.sms.split()))
    room = 300 - len(tail)
    if len(head) > room:
        head = head[: room - 3].rstrip() + "..."
    return head + gsm7(tail)


def _email_text(message: Message, subscriber: Subscriber, snap: public.Snapshot) -> str:
    scope = "every component" if subscriber.all_components or not subscriber.components else \
        ", ".join(c.name for c in subscriber.components)
    return (message.text + f"\n-- \nYou subscribed to {snap.settings.name} status updates for {scope}.\n"
            f"Unsubscribe with one click: {unsubscribe_url(subscriber)}\n")


# --- the engine's fan-out ---------------------------------------------------------------

def due_notices(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(StatusNotice.id).where(StatusNotice.due_at <= now)
                              .order_by(StatusNotice.due_at, StatusNotice.id).limit(limit)).all()


def fan_out(notice_id: int, now: datetime) -> bool:
    """One batch of one notice: outbox rows and webhook deliveries for the next BATCH
    subscribers; the notice stays due until every subscriber has been passed."""
    notice = db.session.get(StatusNotice, notice_id)
    if notice is None or notice.due_at is None or notice.due_at > now:
        return False
    wanted = channels_for(notice)
    subscribers = db.session.scalars(
        sa.select(Subscriber).where(Subscriber.id > notice.cursor, Subscriber.confirmed_at.isnot(None),
                                    Subscriber.unsubscribed_at.is_(None), Subscriber.channel.in_(wanted))
        .order_by(Subscriber.id).limit(BATCH)).all()
    if not subscribers:
        notice.due_at = None
        return True
    snap = public.snapshot(now)
    message = compose(notice, snap)
    if message is None:
        notice.due_at = None
        return True
    chosen: dict[int, set[int]] = {}
    for sid, cid in db.session.execute(sa.select(subscriber_components.c.subscriber_id,
                                                 subscriber_components.c.component_id)
                                       .where(subscriber_components.c.subscriber_id.in_([s.id for s in subscribers]))):
        chosen.setdefault(sid, set()).add(cid)
    concerned = set(notice.component_ids or [])
    for subscriber in subscribers:
        picks = chosen.get(subscriber.id)
        if not subscriber.all_components and picks and concerned and not (picks & concerned):
            continue
        key = f"sp:{notice.id}:{subscriber.id}"
        if subscriber.channel == SubscriberChannel.EMAIL:
            enqueue(key=key, purpose="status", channel=Channel.EMAIL, to_address=subscriber.address,
                    subject=message.subject[:255], body=_email_text(message, subscriber, snap), due=now, now=now)
        elif subscriber.channel == SubscriberChannel.SMS:
            enqueue(key=key, purpose="status", channel=Channel.SMS, to_address=subscriber.address,
                    body=_sms_text(message, subscriber), due=now, now=now)
        else:
            body = {"meta": {"unsubscribe": unsubscribe_url(subscriber),
                             "documentation": public.status_url("/api"),
                             "generated_at": statusjson.iso(now, snap.zone)}, **message.payload}
            if db.session.scalar(sa.select(SubscriberDelivery.id).where(SubscriberDelivery.key == key)) is None:
                db.session.add(SubscriberDelivery(key=key, subscriber_id=subscriber.id, event=message.event,
                                               payload=json.dumps(body, separators=(",", ":")),
                                               status=DeliveryStatus.QUEUED, attempts=0, next_attempt_at=now,
                                               created_at=now))
    notice.cursor = subscribers[-1].id
    notice.due_at = now if len(subscribers) == BATCH else None
    return True
