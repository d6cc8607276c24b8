"""Subscribers, end to end through the engine: email with double opt-in over real SMTP
on loopback, SMS with a code through the fake Twilio, webhooks to a real HTTP
receiver, who hears what, unsubscribing, STOP, and the limits that never tell
anyone whether an address is subscribed."""
from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook as Verifier

from app import clock
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.services import maintenance
from app.statuspage import service
from app.statuspage.models import DeliveryStatus, Subscriber, SubscriberDelivery
from tests.conftest import provider_config
from tests.factories import SYSTEM, make_component, make_service

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PHONE = "+15551239876"


@pytest.fixture
def app_config(twilio, mailbox):
    return {**provider_config(twilio, mailbox), "WEBHOOK_ALLOW_HOSTS": "127.0.0.1"}  # the receiver is on loopback


@pytest.fixture
def world(app):
    clock.set(T0)
    checkout = make_service("checkout-api")
    cards = make_component("Card payments", services=[checkout])
    search = make_component("Search")
    db.session.commit()
    return type("World", (), {"checkout": checkout, "cards": cards, "search": search, "engine": Engine(all_jobs()),
                              "n": 0})


def run_engine(world) -> None:
    world.engine.cycle()


def open_and_publish(world, title="Card payments failing", components=None):
    world.n += 1
    incident = incidents.open_incident(SYSTEM, service=world.checkout, title=f"internal {world.n}", severity=2,
                                       now=clock.now())
    service.publish_update(SYSTEM, incident, "investigating", "Some card payments fail.", clock.now(), title=title,
                           components=components if components is not None else {world.cards: "partial_outage"})
    db.session.commit()
    return incident


def publish(incident, stage, body):
    service.publish_update(SYSTEM, incident, stage, body, clock.advance(timedelta(minutes=5)))
    db.session.commit()


def bodies(mailbox) -> list[str]:
    return [m.get_body(("plain",)).get_content() for m in mailbox.messages]


def link(text: str, kind: str) -> str:
    found = re.search(rf"http://localhost(/status/{kind}/[\w-]+)", text)
    assert found, text
    return found.group(1)


def subscribe_email(client, address="ana@example.com", components=()):
    return client.post("/status/subscribe", data={"channel": "email", "email": address, "components": list(components)})


# --- email -----------------------------------------------------------------------------------

@pytest.mark.db
def test_email_double_opt_in_then_every_update_then_one_click_out(world, client, mailbox):
    answer = subscribe_email(client)
    assert answer.status_code == 303 and answer.headers["Location"] == "/status/subscribe/sent"
    assert "Set-Cookie" not in answer.headers
    assert b"Check your inbox" in client.get("/status/subscribe/sent").data
    run_engine(world)
    [confirmation] = mailbox.messages
    assert confirmation["To"] == "ana@example.com" and "Confirm" in confirmation["Subject"]

    open_and_publish(world)  # not confirmed yet: nothing
    run_engine(world)
    assert len(mailbox.messages) == 1

    confirmed = client.get(link(bodies(mailbox)[0], "subscribe/confirm"))
    assert confirmed.status_code == 200 and b"You are subscribed" in confirmed.data
    incident = open_and_publish(world, title="Checkout <script>alert(1)</script>")
    run_engine(world)
    new = mailbox.messages[-1]
    assert new["Subject"] == "[Firebreak status] New incident: Checkout <script>alert(1)</script>"
    text = bodies(mailbox)[-1]
    assert "Investigating" in text and "Some card payments fail." in text and "Card payments (partial outage)" in text
    assert "internal" not in text and "checkout-api" not in text
    publish(incident, "identified", "Found a bad deploy.")
    publish(incident, "resolved", "Rolled back; all good.")
    run_engine(world)
    subjects = [m["Subject"] for m in mailbox.messages[1:]]
    assert subjects == ["[Firebreak status] New incident: Checkout <script>alert(1)</script>",
                        "[Firebreak status] Identified: Checkout <script>alert(1)</script>",
                        "[Firebreak status] Resolved: Checkout <script>alert(1)</script>"]
    assert all("Unsubscribe with one click: http://localhost/status/unsubscribe/" in b for b in bodies(mailbox)[1:])

    out = client.get(link(bodies(mailbox)[-1], "unsubscribe"))
    assert out.status_code == 200 and b"You are unsubscribed" in out.data and "Set-Cookie" not in out.headers
    open_and_publish(world, title="Another one")
    run_engine(world)
    assert len(mailbox.messages) == 4


@pytest.mark.db
def test_asking_never_tells_whether_an_address_is_subscribed(world, client, mailbox):
    first = subscribe_email(client)
    run_engine(world)
    client.get(link(bodies(mailbox)[0], "subscribe/confirm"))
    again = subscribe_email(client)
    stranger = subscribe_email(client, "new@example.com")
    assert (again.status_code, again.headers["Location"]) == (stranger.status_code, stranger.headers["Location"]) \
        == (first.status_code, first.headers["Location"])
    assert again.data == stranger.data
    run_engine(world)
    notes = {m["To"]: m for m in mailbox.messages[1:]}
    assert "already" in notes["ana@example.com"]["Subject"] or "subscribed" in notes["ana@example.com"]["Subject"]
    assert "nothing has changed" in notes["ana@example.com"].get_body(("plain",)).get_content()
    assert "Confirm" in notes["new@example.com"]["Subject"]


@pytest.mark.db
def test_a_stranger_cannot_change_what_a_subscriber_gets(world, client, mailbox):
    subscribe_email(client, components=[world.cards.public_id])
    run_engine(world)
    client.get(link(bodies(mailbox)[0], "subscribe/confirm"))
    subscribe_email(client, components=[world.search.public_id])
    subscriber = db.session.scalar(sa.select(Subscriber))
    db.session.refresh(subscriber)
    assert [c.name for c in subscriber.components] == ["Card payments"]


@pytest.mark.db
def test_confirmations_are_limited_per_address_quietly(world, client, mailbox):
    for _ in range(5):
        assert subscribe_email(client).status_code == 303
    run_engine(world)
    assert len(mailbox.messages) == 3
    clock.advance(timedelta(hours=1))
    subscribe_email(client)
    run_engine(world)
    assert len(mailbox.messages) == 4


@pytest.mark.db
@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "STATUS_SUBSCRIBE_RATE_LIMIT": "3 per minute"}])
def test_subscribing_is_limited_per_client(world, client):
    for n in range(3):
        assert subscribe_email(client, f"person{n}@example.com").status_code == 303
    refused = subscribe_email(client, "person9@example.com")
    assert refused.status_code == 429 and b"Slow down" in refused.data and "Set-Cookie" not in refused.headers
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 3


@pytest.mark.db
def test_bad_input_is_said_beside_the_field(world, client):
    answer = client.post("/status/subscribe", data={"channel": "email", "email": "not-an-address"})
    assert answer.status_code == 400 and b"That is not an email address." in answer.data
    assert b'aria-invalid="true"' in answer.data and b'value="not-an-address"' in answer.data
    webhook = client.post("/status/subscribe", data={"channel": "webhook", "url": "http://127.0.0.1:9/x"})
    assert webhook.status_code == 400 and b"confirmed there" in webhook.data
    phone = client.post("/status/subscribe", data={"channel": "sms", "phone": "555"})
    assert phone.status_code == 400 and b"international form" in phone.data


@pytest.mark.db
def test_subscribers_to_some_components_hear_only_of_those(world, client, mailbox):
    subscribe_email(client, "cards@example.com", [world.cards.public_id])
    subscribe_email(client, "search@example.com", [world.search.public_id])
    subscribe_email(client, "all@example.com")
    run_engine(world)
    for text in bodies(mailbox):
        client.get(link(text, "subscribe/confirm"))
    mailbox.reset()
    open_and_publish(world, "Cards failing", {world.cards: "major_outage"})
    open_and_publish(world, "Everything slow", {})
    run_engine(world)
    got = sorted((m["To"], m["Subject"].split(": ", 1)[1]) for m in mailbox.messages)
    assert got == [("all@example.com", "Cards failing"), ("all@example.com", "Everything slow"),
                   ("cards@example.com", "Cards failing"), ("cards@example.com", "Everything slow"),
                   ("search@example.com", "Everything slow")]


@pytest.mark.db
def test_maintenance_is_announced_reminded_started_and_ended_by_email(world, client, mailbox):
    subscribe_email(client)
    run_engine(world)
    client.get(link(bodies(mailbox)[0], "subscribe/confirm"))
    window = maintenance.schedule(SYSTEM, title="Database upgrade", starts_at=T0 + timedelta(hours=3),
                                  ends_at=T0 + timedelta(hours=4), services=[world.checkout], now=clock.now(),
                                  public=True)
    db.session.commit()
    run_engine(world)
    for moment in (T0 + timedelta(hours=2), T0 + timedelta(hours=3), T0 + timedelta(hours=4)):
        clock.set(moment)
        run_engine(world)
    assert [m["Subject"] for m in mailbox.messages[1:]] == [
        "[Firebreak status] Scheduled maintenance: Database upgrade",
        "[Firebreak status] Reminder: Database upgrade",
        "[Firebreak status] Maintenance in progress: Database upgrade",
        "[Firebreak status] Maintenance completed: Database upgrade"]
    assert window.public_id in bodies(mailbox)[-1]


# --- SMS -------------------------------------------------------------------------------------------

@pytest.mark.db
def test_sms_with_a_code_then_only_the_big_moments_then_stop(world, client, twilio):
    answer = client.post("/status/subscribe", data={"channel": "sms", "phone": "+1 555 123 9876"})
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/status/subscribe/sms/")
    code_page = answer.headers["Location"]
    run_engine(world)
    [message] = twilio.messages
    assert message.to == PHONE and "your code is" in message.body
    code = re.search(r"code is (\d{6})", message.body).group(1)
    wrong = client.post(code_page, data={"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 400 and b"not right" in wrong.data
    right = client.post(code_page, data={"code": code})
    assert right.status_code == 200 and b"You are subscribed" in right.data

    incident = open_and_publish(world)
    publish(incident, "identified", "Found it")
    publish(incident, "monitoring", "Fixed, watching")
    publish(incident, "resolved", "All good")
    run_engine(world)
    texts = [m.body for m in twilio.messages[1:]]
    assert len(texts) == 2  # the new incident and its resolution only
    assert texts[0].startswith("Firebreak: New incident: Card payments failing - Some card payments fail.")
    assert texts[1].startswith("Firebreak: Resolved: Card payments failing - All good")
    assert all(t.endswith("Reply STOP to unsubscribe") and "http://localhost/status/incidents/" in t for t in texts)

    params = twilio.inbound_sms(PHONE, "STOP", "SM-stop")
    url = "http://localhost/twilio/sms"
    stop = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": twilio.sign(url, params)},
                       csrf=False)
    assert "no more Firebreak status updates" in stop.get_data(as_text=True)
    open_and_publish(world, "Again")
    run_engine(world)
    assert len(twilio.messages) == 3
    params = twilio.inbound_sms(PHONE, "START", "SM-start")
    start = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": twilio.sign(url, params)},
                        csrf=False)
    assert "back on" in start.get_data(as_text=True)


@pytest.mark.db
def test_codes_expire_after_five_wrong_tries(world, client, twilio):
    page = client.post("/status/subscribe", data={"channel": "sms", "phone": PHONE}).headers["Location"]
    run_engine(world)
    code = re.search(r"code is (\d{6})", twilio.messages[0].body).group(1)
    for _ in range(5):
        client.post(page, data={"code": "12345x"})
    assert client.post(page, data={"code": code}).status_code == 400
    assert db.session.scalar(sa.select(Subscriber.confirmed_at)) is None


# --- webhooks ----------------------------------------------------------------------------------------

class Receiver:
    """A real HTTP endpoint on loopback that records what it is sent."""

    def __init__(self):
        self.received, self.fail = [], {}  # event → how many of its posts to answer with 500
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                event = self.headers["X-Firebreak-Event"]
                status = 500 if receiver.fail.get(event, 0) > 0 else 204
                receiver.fail[event] = receiver.fail.get(event, 0) - 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/status"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.mark.db
def test_webhooks_are_signed_retried_with_backoff_and_never_block(world, client, mailbox, receiver):
    answer = client.post("/status/subscribe", data={"channel": "webhook", "url": receiver.url,
                                                    "email": "ops@example.com"})
    assert answer.status_code == 303
    run_engine(world)
    confirmed = client.get(link(bodies(mailbox)[0], "subscribe/confirm"))
    secret = re.search(rb'class="secret">(whsec_[A-Za-z0-9+/=]{44})<', confirmed.data).group(1).decode()
    clock.set(datetime.now(UTC).replace(microsecond=0))  # the receiver checks the signature's age by its own clock
    start = clock.now()

    receiver.fail = {"incident.update": 1}
    open_and_publish(world)  # returns at once: deliveries are rows
    assert receiver.received == []
    run_engine(world)
    assert [h["X-Firebreak-Event"] for h, _ in receiver.received] == ["component.update", "incident.update"]
    delivery = db.session.scalar(sa.select(SubscriberDelivery).where(SubscriberDelivery.event == "incident.update"))
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.QUEUED and delivery.attempts == 1
    assert delivery.last_error == "HTTP 500 Internal Server Error" and delivery.response_status == 500
    assert delivery.next_attempt_at == start + timedelta(seconds=15)  # the outbox's backoff
    run_engine(world)
    assert len([r for r in receiver.received if r[0]["X-Firebreak-Event"] == "incident.update"]) == 1  # not yet due
    clock.advance(timedelta(seconds=15))
    run_engine(world)
    db.session.refresh(delivery)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2

    first, last = [r for r in receiver.received if r[0]["X-Firebreak-Event"] == "incident.update"]
    headers, body = last
    assert headers["webhook-id"] == first[0]["webhook-id"] == delivery.key  # the same on every retry
    assert headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    payload = Verifier(secret).verify(body, headers)
    assert payload == json.loads(body)
    assert set(payload) == {"meta", "page", "incident"}
    assert payload["meta"]["unsubscribe"].startswith("http://localhost/status/unsubscribe/")
    assert payload["page"]["status_indicator"] == "major"
    assert payload["incident"]["name"] == "Card payments failing"
    assert headers["Content-Type"] == "application/json"
    components = [json.loads(b) for h, b in receiver.received if h["X-Firebreak-Event"] == "component.update"]
    assert components and components[0]["component_update"]["new_status"] == "partial_outage"


@pytest.mark.db
@pytest.mark.parametrize("app_config", [{"WEBHOOK_ALLOW_HOSTS": ""}])
def test_webhooks_to_private_addresses_are_refused(world, client):
    for url in ("http://127.0.0.1:8080/x", "https://127.0.0.1/x", "https://10.0.0.5/x", "https://localhost/x",
                "https://[::1]/x", "ftp://example.com/x", "https://user:pw@example.com/x"):
        answer = client.post("/status/subscribe", data={"channel": "webhook", "url": url, "email": "a@example.com"})
        assert answer.status_code == 400, url
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0


@pytest.mark.db
@pytest.mark.parametrize("app_config", [{"WEBHOOK_ALLOW_HOSTS": ""}])
def test_a_webhook_whose_name_resolves_to_a_private_address_is_not_posted(world, monkeypatch):
    """The address is checked when sending, after resolving: a name that points into
    our network fails at once (not retried) and nothing is sent."""
    import socket
    from app.webhooks import signing

    def resolve(host, port, *args, **kwargs):
        assert host == "status-hooks.example", host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("no connection may be made"))
    db.session.add(Subscriber(channel="webhook", address="https://status-hooks.example/in", email="ops@example.com",
                              confirmed_at=T0, webhook_secret=signing.new_secret()))
    db.session.commit()
    open_and_publish(world)
    run_engine(world)
    deliveries = db.session.scalars(sa.select(SubscriberDelivery)).all()
    assert deliveries and all(d.status == DeliveryStatus.FAILED and d.attempts == 1 for d in deliveries)
    assert "status-hooks.example (10.1.2.3) is a private address" in deliveries[0].last_error
