"""Outbound webhooks against a local receiver: JSON signed per Standard Webhooks
(checked with the `standardwebhooks` package, as a receiver would), Slack and Teams
shapes, retries with the outbox's backoff, never twice, never from the request."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from app import clock
from app.auth.models import Role
from app.comms import updates, webhooks
from app.comms.models import DeliveryStatus, WebhookDelivery
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.webhooks import signing
from app.incidents import service as incidents
from app.incidents.models import EventKind, IncidentEvent
from tests.factories import SYSTEM, actor, make_service, make_user
from tests.fakes import WebhookReceiver

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def app_config():
    return {"WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}  # the receiver is on loopback


@pytest.fixture
def receiver():
    server = WebhookReceiver(default=200)
    yield server
    server.close()


@pytest.fixture
def incident(app):
    clock.set(T0)
    made = incidents.open_incident(SYSTEM, service=make_service("checkout-api"), title="Checkout fails", severity=2,
                                   now=T0)
    db.session.commit()
    return made


def send(incident, hooks, at=T0):
    update = updates.send(actor(make_user(Role.RESPONDER, name="Lee Lead")), incident, updates.Draft(
        template_key="internal_technical", stage="identified", subject="[{{ severity }} {{ ref }}] Rolling back",
        body="Cause found <b>&</b> rolling back. Next update by {{ next_update_at }}.",
        webhook_ids=[h.id for h in hooks]), at)
    db.session.commit()
    return update


def cycle(at):
    clock.set(at)
    report = Engine(all_jobs(), holder="test").cycle()
    assert not report.errors, report.errors
    return report


@pytest.mark.db
def test_a_json_webhook_carries_a_standard_webhooks_signature(incident, receiver):
    secret = signing.new_secret()
    hook = webhooks.create_webhook(SYSTEM, T0, name="Status relay", kind="generic", url=receiver.url("/hooks/fb"),
                                   secret=secret)
    db.session.commit()
    update = send(incident, [hook])
    assert receiver.received == []  # the request only queued it: the engine posts
    now = datetime.now(UTC).replace(microsecond=0)  # the receiver checks the timestamp against its own clock
    cycle(now)
    [got] = receiver.received
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert got["path"] == "/hooks/fb" and headers["content-type"].startswith("application/json")
    assert headers["webhook-id"] == f"update:{update.id}:webhook:{hook.id}"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["x-firebreak-event"] == "incident.update"
    payload = Verifier(secret).verify(got["body"], got["headers"])
    with pytest.raises(WebhookVerificationError):
        Verifier(signing.new_secret()).verify(got["body"], got["headers"])
    with pytest.raises(WebhookVerificationError):
        Verifier(secret).verify(got["body"] + b" ", got["headers"])
    assert payload["event"] == "incident.update"
    assert payload["incident"]["ref"] == f"#{incident.id}" and payload["incident"]["severity"] == 2
    assert payload["update"]["id"] == update.id and payload["update"]["subject"] == f"[SEV-2 #{incident.id}] Rolling back"
    assert payload["update"]["on_time"] is True and payload["update"]["due_at"] == "2026-03-02T10:00:00Z"
    cycle(now + timedelta(minutes=5))
    assert len(receiver.received) == 1  # never twice
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert (delivery.status, delivery.response_code, delivery.attempts) == (DeliveryStatus.SENT, 200, 1)


@pytest.mark.db
def test_slack_and_teams_get_their_own_shapes(incident, receiver):
    slack = webhooks.create_webhook(SYSTEM, T0, name="Slack #incidents", kind="slack", url=receiver.url("/slack"))
    teams = webhooks.create_webhook(SYSTEM, T0, name="Teams ops", kind="teams", url=receiver.url("/teams"))
    db.session.commit()
    assert slack.secret.startswith("whsec_") and teams.secret.startswith("whsec_") and slack.secret != teams.secret
    send(incident, [slack, teams])
    now = datetime.now(UTC)
    cycle(now)
    by_path = {got["path"]: json.loads(got["body"]) for got in receiver.received}
    assert set(by_path) == {"/slack", "/teams"}
    blocks = by_path["/slack"]["blocks"]
    assert blocks[0]["text"]["text"] == f"[SEV-2 #{incident.id}] Rolling back"
    assert "Cause found &lt;b&gt;&amp;&lt;/b&gt; rolling back." in blocks[1]["text"]["text"]  # Slack escaping
    assert by_path["/slack"]["text"].startswith(f"[SEV-2 #{incident.id}] Rolling back")
    card = by_path["/teams"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][1]["text"].startswith("Cause found <b>")
    assert card["content"]["actions"][0]["url"].endswith(f"/incidents/{incident.id}")
    # Signed like every webhook (Slack and Teams ignore the headers).
    for got, hook in zip(sorted(receiver.received, key=lambda g: g["path"]), (slack, teams)):
        Verifier(hook.secret).verify(got["body"], got["headers"])


@pytest.mark.db
def test_a_failing_receiver_is_retried_with_backoff_then_succeeds(incident, receiver):
    hook = webhooks.create_webhook(SYSTEM, T0, name="Flaky", kind="generic", url=receiver.url("/x"))
    db.session.commit()
    receiver.answers = [500, 503]
    send(incident, [hook])
    cycle(T0)
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        DeliveryStatus.QUEUED, 1, T0 + timedelta(seconds=15))
    assert "HTTP 500" in delivery.last_error
    cycle(T0 + timedelta(seconds=10))  # not due yet
    assert len(receiver.received) == 1
    cycle(T0 + timedelta(seconds=15))
    db.session.refresh(delivery)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=45)
    cycle(T0 + timedelta(seconds=45))
    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts, len(receiver.received)) == (DeliveryStatus.SENT, 3, 3)
    failed = db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.DELIVERY_FAILED)).all()
    assert len(failed) == 1 and "Webhook Flaky failed (HTTP 500" in failed[0].text  # said once, not per retry


@pytest.mark.db
def test_a_receiver_that_refuses_is_not_retried_and_an_unreachable_one_is(incident, receiver):
    refusing = webhooks.create_webhook(SYSTEM, T0, name="Gone", kind="slack", url=receiver.url("/gone"))
    nowhere = webhooks.create_webhook(SYSTEM, T0, name="Nowhere", kind="generic", url="http://127.0.0.1:9/x")
    db.session.commit()
    receiver.answers = [404]
    send(incident, [refusing, nowhere])
    cycle(T0)
    rows = {d.webhook.name: d for d in db.session.scalars(sa.select(WebhookDelivery))}
    assert rows["Gone"].status == DeliveryStatus.FAILED and rows["Gone"].response_code == 404
    assert rows["Nowhere"].status == DeliveryStatus.QUEUED and "could not reach 127.0.0.1:9" in rows["Nowhere"].last_error


@pytest.mark.db
def test_webhooks_are_configured_by_admins_with_http_addresses(app):
    with pytest.raises(Forbidden):
        webhooks.create_webhook(actor(make_user(Role.RESPONDER)), T0, name="Mine", kind="slack",
                                url="https://hooks.example.com/x")
    admin = actor(make_user(Role.ADMIN))
    with pytest.raises(DomainError, match="http"):
        webhooks.create_webhook(admin, T0, name="Files", kind="generic", url="file:///etc/passwd")
    with pytest.raises(DomainError, match="slack, teams or generic"):
        webhooks.create_webhook(admin, T0, name="Pager", kind="pager", url="https://hooks.example.com/x")
    for url in ("javascript:alert(1)", "relay.example.com/in", "https://user:pw@relay.example.com/in"):
        with pytest.raises(DomainError, match="http|credentials"):
            webhooks.create_webhook(admin, T0, name="Odd", kind="generic", url=url)
    with pytest.raises(DomainError, match="whsec_"):
        webhooks.create_webhook(admin, T0, name="Weak", kind="generic", url="https://relay.example.com/in",
                                secret="hunter2")
    made = webhooks.create_webhook(admin, T0, name="Relay", kind="generic", url="https://relay.example.com/in")
    assert made.secret.startswith("whsec_") and len(signing.key(made.secret)) == 32  # one is made when none is given
    assert db.session.scalar(sa.select(sa.func.count()).select_from(type(made))) == 1  # the refused ones left nothing


@pytest.mark.db
def test_a_disabled_webhook_cannot_be_chosen(incident, receiver):
    hook = webhooks.create_webhook(SYSTEM, T0, name="Old", kind="slack", url=receiver.url("/old"))
    webhooks.set_active(SYSTEM, hook, False)
    db.session.commit()
    with pytest.raises(DomainError, match="Old is disabled"):
        send(incident, [hook])


@pytest.mark.db
def test_a_redirect_fails_the_delivery_and_is_not_followed(incident, receiver):
    hook = webhooks.create_webhook(SYSTEM, T0, name="Moved", kind="slack", url=receiver.url("/old"))
    db.session.commit()
    receiver.answers = [302]
    receiver.location = receiver.url("/new")
    send(incident, [hook])
    cycle(T0)
    assert [got["path"] for got in receiver.received] == ["/old"]  # /new was never asked
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert (delivery.status, delivery.response_code) == (DeliveryStatus.FAILED, 302)
    assert delivery.last_error == f"HTTP 302: redirected to {receiver.url('/new')}, not followed; " \
                                  "give the webhook's final address"


@pytest.mark.db
@pytest.mark.parametrize("app_config", [{"WEBHOOK_ALLOW_HOSTS": ""}])
def test_a_webhook_on_loopback_is_refused_without_the_allow_list(incident, receiver, monkeypatch):
    """Saved when the name is not yet known to be internal; refused when sending, after
    resolving it, and never retried; a literal loopback address is refused at once."""
    import socket
    with pytest.raises(DomainError, match="127.0.0.1 is a loopback address.*WEBHOOK_ALLOW_HOSTS"):
        webhooks.create_webhook(SYSTEM, T0, name="Local", kind="generic", url=receiver.url("/x"))
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(
        "127.0.0.1" if host == "relay.test" else host, *a, **k))
    hook = webhooks.create_webhook(SYSTEM, T0, name="Relay", kind="generic",
                                   url=f"http://relay.test:{receiver.server.server_port}/x")
    db.session.commit()
    send(incident, [hook])
    cycle(T0)
    assert receiver.received == []
    delivery = db.session.scalar(sa.select(WebhookDelivery))
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.FAILED, 1, None)
    assert "relay.test (127.0.0.1) is a loopback address" in delivery.last_error
