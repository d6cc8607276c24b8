"""The mission, end to end: a real Alertmanager fires → a SEV-2 incident → whoever is on
call is paged by SMS at the fake Twilio → no answer → step two calls the next person →
they press 1 → escalation stops; the timeline shows it all; the response objective is
met or breached as it should be."""
from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.escalation import policies
from app.extensions import db
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.incidents.objectives import objectives
from app.notify import contacts
from app.notify.models import Channel
from app.services.models import IntegrationKey
from tests.conftest import provider_config
from tests.factories import SYSTEM, actor, make_service, make_user, reachable
from tests.oncall_factories import make_layer, make_schedule
from tests.test_alertmanager_real import ALERTMANAGER, free_port, http, wait_for

KEY = "e2" * 16

pytestmark = pytest.mark.skipif(not ALERTMANAGER.exists(), reason=f"{ALERTMANAGER} is not installed")


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def alertmanager(live_app, tmp_path):
    app, url = live_app
    config = {"route": {"receiver": "firebreak", "group_by": ["alertname"], "group_wait": "1s",
                        "group_interval": "1s", "repeat_interval": "1h"},
              "receivers": [{"name": "firebreak", "webhook_configs": [
                  {"url": f"{url}/integrations/alertmanager/{KEY}", "send_resolved": True}]}]}
    (tmp_path / "am.yml").write_text(json.dumps(config))
    port = free_port()
    log = open(tmp_path / "am.log", "wb")
    process = subprocess.Popen([str(ALERTMANAGER), f"--config.file={tmp_path / 'am.yml'}",
                                f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
                                "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    am_url = f"http://127.0.0.1:{port}"

    def ready():
        try:
            return http("GET", f"{am_url}/-/ready", timeout=1)[0] == 200
        except OSError:
            return False

    try:
        wait_for(ready, 20, "Alertmanager to be ready")
        yield am_url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.mark.realtime
def test_alert_to_acknowledgement_by_keypress(live_app, alertmanager, twilio):
    app, url = live_app
    now = datetime.now(UTC).replace(microsecond=0)
    dana = reachable(make_user(Role.RESPONDER, name="Dana Okafor", phone="+15551230001"))
    lee = reachable(make_user(Role.RESPONDER, name="Lee Tanaka", phone="+15551230002"))
    voice = next(m for m in lee.contact_methods if m.channel == Channel.VOICE)
    contacts.set_rules(actor(lee), lee, "high", [(voice.id, 0)])  # Lee is called at once
    schedule = make_schedule("Payments primary")
    make_layer(schedule, [dana], unit="days", length=1, weekday=None, start=now.date() - timedelta(days=3))
    admin = make_user(Role.ADMIN)
    policy = policies.create_policy(actor(admin), name="Payments", now=now)
    first = policies.add_step(actor(admin), policy, delay_minutes=5, mode="all", now=now)
    policies.add_target(actor(admin), first, "schedule", schedule.id, now)
    second = policies.add_step(actor(admin), policy, delay_minutes=10, mode="all", now=now)
    policies.add_target(actor(admin), second, "user", lee.id, now)
    service = make_service("checkout-api", with_key=False)
    service.escalation_policy_id = policy.id
    db.session.add(IntegrationKey(service=service, key=KEY, name="Alertmanager"))
    db.session.commit()
    db.session.rollback()

    # Prometheus hands Alertmanager a critical alert; Alertmanager calls our webhook.
    status, _ = http("POST", f"{alertmanager}/api/v2/alerts", [{
        "labels": {"alertname": "CheckoutHighErrorRate", "instance": "checkout-1:8080", "severity": "critical"},
        "annotations": {"summary": "Checkout 5xx ratio above 5%"}, "startsAt": now.isoformat()}])
    assert status == 200

    def opened():
        db.session.rollback()
        return db.session.scalar(sa.select(Incident))
    incident = wait_for(opened, 30, "the incident to open")
    assert (incident.severity, incident.status, incident.title) == (2, Status.TRIGGERED, "Checkout 5xx ratio above 5%")
    t0 = incident.detected_at
    engine = Engine(all_jobs(), holder="e2e")

    def cycle(at):
        db.session.rollback()  # no stale read left open: the live server writes from its threads
        clock.set(at)
        engine.cycle()
        db.session.rollback()

    cycle(t0)  # step one: whoever is on call for Payments primary, by SMS
    [page] = twilio.messages
    assert page.to == "+15551230001" and page.body.startswith(f"[SEV-2 #{incident.id}]")
    cycle(t0 + timedelta(minutes=2))  # Dana's own rules: a call after 2 minutes; she sleeps through it
    assert [c.to for c in twilio.calls] == ["+15551230001"]
    cycle(t0 + timedelta(minutes=5))  # no answer: step two calls Lee
    assert [c.to for c in twilio.calls] == ["+15551230001", "+15551230002"]
    call = twilio.calls[-1]

    # Twilio fetches the call's TwiML, then posts the key Lee pressed; both signed.
    clock.set(t0 + timedelta(minutes=6))
    params = {"CallSid": call.sid, "From": "+15005550006", "To": "+15551230002", "CallStatus": "in-progress"}
    status, twiml = twilio.post(call.url, params)
    assert status == 200 and "Press 1 to acknowledge" in twiml and f"incident {incident.id}" in twiml
    action = twiml.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    status, said = twilio.post(action, {**params, "Digits": "1"})
    assert status == 200 and f"#{incident.id} acknowledged by Lee Tanaka." in said

    cycle(t0 + timedelta(minutes=30))  # nothing more: escalation stopped at the acknowledgement
    incident = db.session.get(Incident, incident.id)
    assert incident.status == Status.ACKNOWLEDGED and incident.next_escalation_at is None
    assert len(twilio.messages) == 1 and len(twilio.calls) == 2
    story = [(e.kind, e.via) for e in db.session.scalars(
        sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.id))]
    kinds = [kind for kind, _ in story]
    for expected in (EventKind.OPENED, EventKind.ALERT_TRIGGERED, EventKind.ESCALATED, EventKind.PAGED,
                     EventKind.PAGE_SENT, EventKind.ACKNOWLEDGED):
        assert expected in kinds, expected
    assert kinds.count(EventKind.ESCALATED) == 2
    assert ("acknowledged", "voice") in story
    response, _ = objectives(incident)
    assert response.state(clock.now()) == "met"  # SEV-2: within 15 minutes; Lee answered at 6


def test_the_response_objective_is_breached_when_nobody_answers_in_time(app):
    clock.set(datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    service = make_service("quiet")
    from app.incidents import service as incidents
    incident = incidents.open_incident(SYSTEM, service=service, title="Nobody home", severity=2, now=clock.now())
    db.session.commit()
    engine = Engine(all_jobs(), holder="breach")
    clock.set(clock.now() + timedelta(minutes=16))
    engine.cycle()
    incidents.acknowledge(SYSTEM, incident, clock.now())
    db.session.commit()
    response, _ = objectives(incident)
    assert response.state(clock.now()) == "breached"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.kind == EventKind.OBJECTIVE_BREACHED)) == 1
