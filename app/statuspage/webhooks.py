"""Webhook deliveries: signed JSON POSTs to webhook subscribers, sent by the engine.

Like the outbox: a unit claims a delivery (due again after CLAIM, so a sender that
dies mid-send is retried: at least once), commits, posts outside any transaction,
then records the answer. Failures retry with backoff up to MAX_ATTEMPTS.

Each POST carries `X-Firebreak-Signature: t=<unix time>,v1=<hex>`, where v1 is
HMAC-SHA256 with the subscriber's secret over "<t>.<body>"; receivers check it and
refuse old timestamps. `X-Firebreak-Delivery` is the same on every retry.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.error
import urllib.request
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.errors import DomainError
from app.extensions import db
from app.statuspage.models import DeliveryStatus, SubscriberDelivery
from app.statuspage.subscribers import check_webhook_url

log = logging.getLogger("firebreak.statuspage")

CLAIM = timedelta(seconds=60)
BACKOFF = [30, 120, 600, 1800, 3600]  # seconds after the 1st, 2nd, … failure
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5
USER_AGENT = "Firebreak-Statuspage/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(
        sa.select(SubscriberDelivery.id)
        .where(SubscriberDelivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
               SubscriberDelivery.next_attempt_at <= now)
        .order_by(SubscriberDelivery.next_attempt_at, SubscriberDelivery.id).limit(limit)).all()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure (as Statuspage treats it), never followed elsewhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read(1024)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def run(delivery_id: int, now: datetime) -> bool:
    row = db.session.get(SubscriberDelivery, delivery_id)
    if row is None or row.status not in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
        return False
    if row.next_attempt_at is None or row.next_attempt_at > now:
        return False
    subscriber = row.subscriber
    if not subscriber.active or not subscriber.webhook_secret:
        row.status, row.next_attempt_at = DeliveryStatus.CANCELLED, None
        return True
    row.status = DeliveryStatus.SENDING
    row.attempts += 1
    row.next_attempt_at = now + CLAIM
    url, secret, payload, key, event = subscriber.address, subscriber.webhook_secret, row.payload, row.key, row.event
    db.session.commit()

    body = payload.encode()
    timestamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Firebreak-Event": event,
               "X-Firebreak-Delivery": key, "X-Firebreak-Signature": sign(secret, timestamp, body)}
    error = None
    status = None
    try:
        check_webhook_url(url, resolve=True)
        status = post(url, body, headers)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except DomainError as refused:
        error = refused.message
    except (OSError, ValueError) as failure:  # refused, timed out, TLS, bad URL
        error = f"{type(failure).__name__}: {failure}"
    row.response_status = status
    if error is None:
        row.status, row.delivered_at, row.next_attempt_at, row.last_error = DeliveryStatus.DELIVERED, now, None, None
        subscriber.consecutive_failures = 0
        return True
    log.info("webhook %s to subscriber %s failed: %s", key, subscriber.id, error)
    row.last_error = error[:2000]
    subscriber.consecutive_failures += 1
    if row.attempts >= MAX_ATTEMPTS:
        row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        row.status = DeliveryStatus.QUEUED
        row.next_attempt_at = now + timedelta(seconds=BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)])
    return True
