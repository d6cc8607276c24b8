"""Webhook deliveries to status-page subscribers, sent by the engine.

Like the outbox: a unit claims a delivery (due again after CLAIM, so a sender that
dies mid-send is retried: at least once), commits, posts through the one webhook
sender (app.webhooks.sender: Standard Webhooks signature with the subscriber's
`whsec_` secret, the address policy, no redirects) outside any transaction, then
records the answer. Failures retry with the outbox's backoff (app.engine.backoff).
`webhook-id` is the delivery's key, the same on every retry.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.engine import backoff
from app.extensions import db
from app.statuspage.models import DeliveryStatus, SubscriberDelivery
from app.webhooks import sender

log = logging.getLogger("firebreak.statuspage")

CLAIM = timedelta(seconds=60)


def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(
        sa.select(SubscriberDelivery.id)
        .where(SubscriberDelivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
               SubscriberDelivery.next_attempt_at <= now)
        .order_by(SubscriberDelivery.next_attempt_at, SubscriberDelivery.id).limit(limit)).all()


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

    result = sender.deliver(url, secret, key, payload.encode(), now, event=event)
    row.response_status = result.code
    if result.ok:
        row.status, row.delivered_at, row.next_attempt_at, row.last_error = DeliveryStatus.DELIVERED, now, None, None
        subscriber.consecutive_failures = 0
        return True
    log.info("webhook %s to subscriber %s failed: %s", key, subscriber.id, result.error)
    row.last_error = result.error[:2000]
    subscriber.consecutive_failures += 1
    if not result.retry or backoff.exhausted(row.attempts):
        row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        row.status = DeliveryStatus.QUEUED
        row.next_attempt_at = now + backoff.retry_delay(row.attempts)
    return True
