"""Escalation under faults: Twilio down for five minutes, and the engine killed at
random moments (SIGKILL) while it escalates. No page is lost; none goes twice beyond
what at-least-once delivery allows."""
from __future__ import annotations

import random
import signal
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.escalation.models import EscalationPolicy, EscalationStep, EscalationTarget
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, IncidentEvent
from app.notify import contacts
from app.notify.models import Channel, Notification, Status
from tests.conftest import provider_config
from tests.factories import SYSTEM, make_service, make_user, reachable
from tests.test_engine_takeover import Engines, wait_for

pytestmark = pytest.mark.realtime

T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)


def policy_of(*people, delay: int = 5, repeat: int = 0, name: str = "Faults") -> EscalationPolicy:
    """A policy made directly: the editor refuses 0-minute delays, which the crash test needs."""
    policy = EscalationPolicy(name=name, repeat=repeat, created_at=clock.now(), updated_at=clock.now())
    for position, person in enumerate(people):
        step = EscalationStep(policy=policy, position=position, delay_minutes=delay, mode="all")
        step.targets.append(EscalationTarget(kind="user", user_id=person.id))
    db.session.add(policy)
    db.session.commit()
    return policy


class TestTwilioDownForFiveMinutes:
    @pytest.fixture
    def app_config(self, twilio, mailbox):
        return provider_config(twilio, mailbox)

    def test_pages_fall_through_meanwhile_and_go_out_when_it_recovers(self, app, twilio, mailbox):
        clock.set(T0)
        dana = reachable(make_user(Role.RESPONDER, name="Dana", phone="+15551230001"))
        lee = reachable(make_user(Role.RESPONDER, name="Lee", phone="+15551230002"))
        service = make_service("checkout-api")
        service.escalation_policy_id = policy_of(dana, lee, delay=3).id
        service.ack_timeout_minutes = None
        db.session.commit()
        twilio.fail_always = True
        incident = incidents.open_incident(SYSTEM, service=service, title="Checkout down", severity=2, now=T0)
        db.session.commit()
        engine = Engine(all_jobs(), holder="outage")
        moment = T0
        while moment <= T0 + timedelta(minutes=5):  # one cycle every 5 s for five minutes
            clock.set(moment)
            engine.cycle()
            moment += timedelta(seconds=5)
        # Meanwhile: email reached both people (fall-through, then Dana's and Lee's own email rules).
        reached = {m["To"] for m in mailbox.messages}
        assert reached == {dana.email, lee.email}
        assert twilio.messages == [] and twilio.calls == []
        falls = db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
            IncidentEvent.kind == EventKind.FELL_THROUGH))
        assert falls >= 2
        twilio.fail_always = False  # Twilio is back
        while moment <= T0 + timedelta(minutes=11):
            clock.set(moment)
            engine.cycle()
            moment += timedelta(seconds=5)
        pages = db.session.scalars(sa.select(Notification).where(Notification.incident_id == incident.id)).all()
        assert {n.status for n in pages} <= {Status.SENT, Status.CANCELLED}
        lost = [n for n in pages if n.status not in (Status.SENT, Status.CANCELLED)]
        assert lost == []
        phones = {m.to for m in twilio.messages} | {c.to for c in twilio.calls}
        assert phones == {"+15551230001", "+15551230002"}  # every SMS and call went out after the outage
        for n in pages:  # none twice: one provider request per outbox row
            if n.channel != Channel.EMAIL:
                assert sum(1 for s in twilio.sent if s.sid == n.provider_id) <= 1


@pytest.mark.parametrize("kills", [3])
@pytest.mark.parametrize("concurrency", [1, 8])
def test_the_engine_killed_at_random_during_escalations_loses_no_page(tmp_path, app, mailbox, kills, concurrency):
    """Engine processes are SIGKILLed at random moments while 8 incidents escalate
    through 3 steps × 3 rounds (0-minute steps, so it all happens in seconds), each
    page an email to a real SMTP server. Every page is sent; duplicates are bounded
    by the kills times the messages in flight at once (NOTIFY_CONCURRENCY):
    at-least-once, a kill between a send and its record."""
    people = []
    for n in range(3):
        person = make_user(Role.RESPONDER, name=f"Responder {n}")
        method = contacts.add_method(SYSTEM, person, "email", person.email, clock.now(), verified=True)
        contacts.set_rules(SYSTEM, person, "high", [(method.id, 0)])  # email at once
        db.session.commit()
        people.append(person)
    service = make_service("crash-test")
    service.escalation_policy_id = policy_of(*people, delay=0, repeat=2, name="Crash").id
    service.ack_timeout_minutes = None
    db.session.commit()
    for n in range(8):
        incidents.open_incident(SYSTEM, service=service, title=f"Crash {n}", severity=3, now=datetime.now(UTC))
    db.session.commit()
    expected_keys = 8 * 3 * 3  # incidents × steps × rounds: one page each (email only)
    url = str(db.engine.url)
    db.session.remove()
    db.engine.dispose()

    engines = Engines(tmp_path, url)
    # A send to the loopback SMTP server takes milliseconds: a 2-second timeout makes the
    # pages a killed engine left `sending` due again after 12 s, not the default 60.
    engines.env.update({"SMTP_URL": mailbox.url, "MAIL_FROM": "firebreak@example.com",
                        "NOTIFY_CONCURRENCY": str(concurrency), "NOTIFY_TIMEOUT_SECONDS": "2"})
    path = url.removeprefix("sqlite:///")

    def counts():
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            sent = conn.execute("SELECT count(*) FROM notifications WHERE purpose = 'page' AND status = 'sent'").fetchone()[0]
            total = conn.execute("SELECT count(*) FROM notifications WHERE purpose = 'page'").fetchone()[0]
            active = conn.execute("SELECT count(*) FROM incidents WHERE escalation_state = 'active'").fetchone()[0]
            return sent, total, active

    rng = random.Random(42)
    try:
        for _ in range(kills):
            engine = engines.start()
            time.sleep(rng.uniform(0.8, 2.5))  # let it work a random while, then kill it mid-stride
            engine.send_signal(signal.SIGKILL)
            engine.wait()
        engines.start()
        wait_for(lambda: counts() == (expected_keys, expected_keys, 0), 90, "every page sent, every policy run out")
    finally:
        engines.stop_all()

    with closing(sqlite3.connect(path)) as conn:
        rounds = conn.execute("SELECT count(*) FROM incident_events WHERE kind = 'escalated'").fetchone()[0]
        states = {row[0] for row in conn.execute("SELECT escalation_state FROM incidents")}
        keys = conn.execute("SELECT count(DISTINCT key) FROM notifications WHERE purpose = 'page'").fetchone()[0]
    assert rounds == expected_keys  # every step of every round reached exactly once
    assert states == {"exhausted"}
    assert keys == expected_keys
    received = len(mailbox.messages)
    assert expected_keys <= received <= expected_keys + kills * concurrency
