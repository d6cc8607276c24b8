"""Answering pages: SMS replies, keypresses on the call, delivery reports; all signed."""
from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, Incident, IncidentEvent, Status as IncidentStatus
from app.notify import paging
from app.notify.inbound import Reply, parse_reply
from app.notify.models import Channel, ContactMethod, InboundMessage, Notification, Status
from tests.conftest import provider_config
from tests.factories import SYSTEM, make_service, make_user, reachable

T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)
DANA = "+15551230001"


@pytest.mark.parametrize("body,reply", [
    ("42A", Reply("ack", 42)), ("42 A", Reply("ack", 42)), ("A 42", Reply("ack", 42)), ("ACK 42", Reply("ack", 42)),
    ("ack42", Reply("ack", 42)), ("42ack", Reply("ack", 42)), (" 42a ", Reply("ack", 42)), ("#42A", Reply("ack", 42)),
    ("42 acknowledge", Reply("ack", 42)), ("42R", Reply("resolve", 42)), ("res 42", Reply("resolve", 42)),
    ("RESOLVE 7", Reply("resolve", 7)), ("42E", Reply("escalate", 42)), ("esc 42", Reply("escalate", 42)),
    ("Escalate 42!", Reply("escalate", 42)), ("A", Reply("ack")), ("r", Reply("resolve")), ("e.", Reply("escalate")),
    ("STOP", Reply("stop")), ("stop", Reply("stop")), ("Unsubscribe", Reply("stop")), ("START", Reply("start")),
    ("help", Reply("help")), ("", Reply("unknown")), ("42", Reply("unknown")), ("hello there", Reply("unknown")),
    ("42X", Reply("unknown")), ("A B", Reply("unknown")), ("42A 43A", Reply("unknown")),
])
def test_the_reply_grammar(body, reply):
    assert parse_reply(body) == reply


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "éß€—", max_size=40))
def test_any_text_parses_to_a_known_command(body):
    reply = parse_reply(body)
    assert reply.command in {"ack", "resolve", "escalate", "stop", "start", "help", "unknown"}
    if reply.incident is not None:
        assert reply.command in {"ack", "resolve", "escalate"} and reply.incident >= 0


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10**8), st.sampled_from(["A", "R", "E"]),
       st.sampled_from(["{n}{a}", "{n} {a}", "{a} {n}", "{a}{n}", " {n}{a} ", "#{n}{a}"]), st.booleans())
def test_every_code_form_means_the_same(number, action, form, lower):
    body = form.format(n=number, a=action)
    reply = parse_reply(body.lower() if lower else body)
    assert reply == Reply({"A": "ack", "R": "resolve", "E": "escalate"}[action], number)


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def dana(app):
    clock.set(T0)
    return reachable(make_user(Role.RESPONDER, name="Dana Okafor", phone=DANA))


@pytest.fixture
def incident(app, dana):
    incident = incidents.open_incident(SYSTEM, service=make_service("checkout-api"), title="HTTP 5xx", severity=2, now=T0)
    db.session.commit()
    return incident


def sms(client, twilio, body, *, sender=DANA, sid="SM1", signature=None):
    params = twilio.inbound_sms(sender, body, sid)
    url = "http://localhost/twilio/sms"
    headers = {"X-Twilio-Signature": twilio.sign(url, params) if signature is None else signature}
    return client.post("/twilio/sms", data=params, headers=headers, csrf=False)


def status_of(incident):
    return db.session.get(Incident, incident.id).status


@pytest.mark.db
def test_42a_acknowledges_and_answers_in_twiml(client, twilio, dana, incident):
    answer = sms(client, twilio, f"{incident.id}A")
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    assert f"<Message>#{incident.id} acknowledged by Dana Okafor.</Message>" in answer.get_data(as_text=True)
    assert status_of(incident) == IncidentStatus.ACKNOWLEDGED
    event = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.ACKNOWLEDGED))
    assert (event.via, event.actor_label) == ("sms", "Dana Okafor")
    again = sms(client, twilio, f"{incident.id}A", sid="SM2")
    assert "already acknowledged by Dana Okafor" in again.get_data(as_text=True)
    resolved = sms(client, twilio, f"RES {incident.id}", sid="SM3")
    assert f"#{incident.id} resolved by Dana Okafor." in resolved.get_data(as_text=True)


def test_unsigned_or_forged_webhooks_are_refused_and_change_nothing(client, twilio, dana, incident):
    for signature in ("", "bm90IGEgc2lnbmF0dXJl"):
        assert sms(client, twilio, f"{incident.id}A", signature=signature).status_code == 403
    other = twilio.inbound_sms(DANA, f"{incident.id}R", "SM9")  # signed for different fields
    tampered = dict(other, Body=f"{incident.id}A")
    assert client.post("/twilio/sms", data=tampered, csrf=False,
                       headers={"X-Twilio-Signature": twilio.sign("http://localhost/twilio/sms", other)}).status_code == 403
    wrong_url = client.post("/twilio/sms", data=other, csrf=False, headers={
        "X-Twilio-Signature": twilio.sign("http://evil.example/twilio/sms", other)})
    assert wrong_url.status_code == 403
    assert status_of(incident) == IncidentStatus.TRIGGERED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0


def test_a_replayed_message_acts_once(client, twilio, dana, incident):
    sms(client, twilio, f"{incident.id}R", sid="SMreplay")
    incidents.reopen(SYSTEM, incident, T0 + timedelta(minutes=1))
    db.session.commit()
    replay = sms(client, twilio, f"{incident.id}R", sid="SMreplay")
    assert replay.status_code == 200 and "resolved by Dana Okafor" in replay.get_data(as_text=True)
    assert status_of(incident) == IncidentStatus.TRIGGERED  # the replay did not resolve it again


def test_a_bare_letter_acts_on_the_last_page_and_a_bundle_acts_on_all(client, twilio, dana, incident):
    second = incidents.open_incident(SYSTEM, service=incident.service, title="Timeouts", severity=1, now=T0)
    db.session.commit()
    for target in (incident, second):
        paging.page(target, dana, T0, round_key="1", actor=SYSTEM)
    db.session.commit()
    Engine(all_jobs(), holder="t").cycle()
    assert len(twilio.messages) == 1  # one bundle
    answer = sms(client, twilio, "a").get_data(as_text=True)
    assert f"#{incident.id} acknowledged" in answer and f"#{second.id} acknowledged" in answer
    assert status_of(incident) == status_of(second) == IncidentStatus.ACKNOWLEDGED


def test_a_bare_letter_with_no_page_asks_for_the_number(client, twilio, dana, incident):
    assert "There is no recent page" in sms(client, twilio, "A").get_data(as_text=True)


def test_strangers_and_viewers_are_refused_politely_and_capped(client, twilio, dana, incident):
    for n in range(5):
        answer = sms(client, twilio, f"{incident.id}A", sender="+15559876543", sid=f"SMx{n}").get_data(as_text=True)
        if n < 3:
            assert "not set up to answer Firebreak pages" in answer
        else:
            assert "<Message>" not in answer  # capped: no more replies to this number this hour
    viewer = reachable(make_user(Role.VIEWER, name="Morgan"), phone="+15551230011")
    answer = sms(client, twilio, f"{incident.id}A", sender="+15551230011", sid="SMv").get_data(as_text=True)
    assert "Morgan, your role may not act on incidents." in answer
    assert status_of(incident) == IncidentStatus.TRIGGERED
    assert viewer.id
    assert "There is no incident #99999." in sms(client, twilio, "99999A", sid="SMn").get_data(as_text=True)


def test_stop_start_and_help(client, twilio, dana, incident):
    assert "no more SMS from Firebreak" in sms(client, twilio, "STOP", sid="S1").get_data(as_text=True)
    method = db.session.scalar(sa.select(ContactMethod).where(ContactMethod.channel == Channel.SMS))
    assert method.opted_out_at is not None and not method.usable
    rows = paging.page(incident, dana, T0, round_key="1", actor=SYSTEM)
    assert Channel.SMS not in {r.channel for r in rows}  # pages go to the other methods
    assert "back on" in sms(client, twilio, "start", sid="S2").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ContactMethod, method.id).usable
    assert "reply 42A to acknowledge" in sms(client, twilio, "HELP", sid="S3").get_data(as_text=True)


def call_for(incident, dana, twilio):
    voice = next(m for m in dana.contact_methods if m.channel == Channel.VOICE)
    from app.notify import contacts
    contacts.set_rules(SYSTEM, dana, "high", [(voice.id, 0)])
    [row] = paging.page(incident, dana, T0, round_key="call", actor=SYSTEM)
    db.session.commit()
    Engine(all_jobs(), holder="t").cycle()
    return row


def post_signed(client, twilio, path, params):
    return client.post(path, data=params, csrf=False,
                       headers={"X-Twilio-Signature": twilio.sign(f"http://localhost{path}", params)})


def test_the_page_call_reads_the_incident_and_takes_a_keypress(client, twilio, dana, incident):
    row = call_for(incident, dana, twilio)
    [call] = twilio.calls
    params = {"CallSid": call.sid, "AccountSid": "AC", "From": "+15005550006", "To": DANA, "CallStatus": "in-progress"}
    twiml = post_signed(client, twilio, f"/twilio/voice/{row.id}", params).get_data(as_text=True)
    assert twiml.count("<Gather") == 2 and 'numDigits="1"' in twiml
    assert f"Severity 2 incident {incident.id} on checkout api" in twiml and "Press 1 to acknowledge" in twiml
    assert f'action="http://localhost/twilio/voice/{row.id}/keypress"' in twiml
    repeat = post_signed(client, twilio, f"/twilio/voice/{row.id}/keypress", {**params, "Digits": "*"})
    assert "<Gather" in repeat.get_data(as_text=True) and status_of(incident) == IncidentStatus.TRIGGERED
    pressed = post_signed(client, twilio, f"/twilio/voice/{row.id}/keypress", {**params, "Digits": "1"})
    assert f"#{incident.id} acknowledged by Dana Okafor." in pressed.get_data(as_text=True)
    assert status_of(incident) == IncidentStatus.ACKNOWLEDGED
    event = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.kind == EventKind.ACKNOWLEDGED))
    assert event.via == "voice"
    resolve = post_signed(client, twilio, f"/twilio/voice/{row.id}/keypress", {**params, "Digits": "2"})
    assert "resolved by Dana Okafor" in resolve.get_data(as_text=True)
    assert client.post(f"/twilio/voice/{row.id}", data=params, csrf=False).status_code == 403


def test_a_verification_call_says_the_code_twice_and_hangs_up(client, twilio, dana, incident):
    """It offers no incident keys, and a key pressed on it anyway changes nothing."""
    from app.notify import contacts
    lee = make_user(Role.RESPONDER, name="Lee")
    method = contacts.add_method(SYSTEM, lee, "voice", "+15551230077", T0)
    db.session.commit()
    Engine(all_jobs(), holder="t").cycle()
    [call] = twilio.calls
    row = db.session.scalar(sa.select(Notification).where(Notification.contact_method_id == method.id))
    params = {"CallSid": call.sid, "AccountSid": "AC", "From": "+15005550006", "To": "+15551230077",
              "CallStatus": "in-progress"}
    twiml = post_signed(client, twilio, f"/twilio/voice/{row.id}", params).get_data(as_text=True)
    words = row.body.split("Your code is ")[1].split(".")[0]
    assert twiml.count(words) == 2 and "<Hangup" in twiml
    assert "<Gather" not in twiml and "Press" not in twiml and "keypress" not in twiml
    before = db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage))
    for digit in "123":
        pressed = post_signed(client, twilio, f"/twilio/voice/{row.id}/keypress", {**params, "Digits": digit})
        assert pressed.status_code == 200 and "<Hangup" in pressed.get_data(as_text=True)
    assert status_of(incident) == IncidentStatus.TRIGGERED and not method.verified
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == before


def test_pressing_3_on_a_page_call_escalates_once(client, twilio, dana, incident):
    row = call_for(incident, dana, twilio)
    [call] = twilio.calls
    params = {"CallSid": call.sid, "AccountSid": "AC", "From": "+15005550006", "To": DANA, "CallStatus": "in-progress",
              "Digits": "3"}
    pressed = post_signed(client, twilio, f"/twilio/voice/{row.id}/keypress", params).get_data(as_text=True)
    assert f"#{incident.id} escalated by Dana Okafor" in pressed
    event = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.kind == EventKind.ESCALATED,
                                                             IncidentEvent.via == "voice"))
    assert event is not None and event.data["by"] == "Dana Okafor"
    assert status_of(incident) == IncidentStatus.TRIGGERED  # escalating is not acknowledging
    again = post_signed(client, twilio, f"/twilio/voice/{row.id}/keypress", params)  # Twilio retries the webhook
    assert again.get_data(as_text=True) == pressed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.kind == EventKind.ESCALATED, IncidentEvent.via == "voice")) == 1


def test_the_notification_log_shows_on_the_incident_and_the_person(client, twilio, dana, incident):
    import re
    from tests.factories import login
    paging.page(incident, dana, T0, round_key="1", actor=SYSTEM)
    db.session.commit()
    Engine(all_jobs(), holder="t").cycle()
    [sent] = twilio.messages
    post_signed(client, twilio, "/twilio/status", {"MessageSid": sent.sid, "MessageStatus": "delivered"})
    login(client, make_user(Role.ADMIN))

    def log_rows(path):
        html = client.get(path).get_data(as_text=True)
        table = html[html.index('<table class="notification-log">'):]
        table = table[:table.index("</table>")]
        return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in table.split("<tr>")[2:]]

    on_incident = log_rows(f"/incidents/{incident.id}")
    # Dana's rules: SMS at once, a call two minutes later, email five minutes later; newest first.
    assert [row.split(" ", 3)[3] for row in on_incident] == [
        f"Dana Okafor Email {dana.email} page #{incident.id} queued",
        f"Dana Okafor Voice call {DANA} page #{incident.id} queued",
        f"Dana Okafor SMS {DANA} page #{incident.id} delivered"]
    on_person = log_rows(f"/people/{dana.id}")
    assert any(f"SMS {DANA} page #{incident.id} delivered" in row and "Dana Okafor" not in row for row in on_person)


def test_delivery_reports_are_recorded_and_failures_fall_through(client, twilio, dana, incident):
    rows = paging.page(incident, dana, T0, round_key="1", actor=SYSTEM)
    db.session.commit()
    Engine(all_jobs(), holder="t").cycle()
    [sms_sent] = twilio.messages
    delivered = post_signed(client, twilio, "/twilio/status", {"MessageSid": sms_sent.sid, "MessageStatus": "delivered"})
    assert delivered.status_code == 204
    assert db.session.get(Notification, rows[0].id).status == Status.DELIVERED
    assert "SMS to Dana Okafor delivered" in db.session.scalar(
        sa.select(IncidentEvent.text).where(IncidentEvent.kind == EventKind.DELIVERED))
    clock.set(T0 + timedelta(minutes=2))
    Engine(all_jobs(), holder="t").cycle()
    [call] = twilio.calls
    post_signed(client, twilio, "/twilio/status", {"CallSid": call.sid, "CallStatus": "no-answer"})
    assert db.session.get(Notification, rows[1].id).status == Status.FAILED
    fallback = db.session.scalar(sa.select(Notification).where(Notification.fallback_for_id == rows[1].id))
    assert fallback.channel == Channel.EMAIL
    assert client.post("/twilio/status", data={"MessageSid": sms_sent.sid, "MessageStatus": "failed"},
                       csrf=False).status_code == 403


def test_the_whole_loop_over_http(live_app, twilio):
    """Page → SMS at the fake → the fake posts a signed 42A to the live app → acknowledged → rules stop."""
    app, url = live_app
    with app.app_context():
        clock.set(T0)
        dana = reachable(make_user(Role.RESPONDER, name="Dana Okafor", phone=DANA))
        incident = incidents.open_incident(SYSTEM, service=make_service("loop-service"), title="Checkout down",
                                           severity=2, now=T0)
        db.session.commit()
        paging.page(incident, dana, T0, round_key="1", actor=SYSTEM)
        db.session.commit()
        engine = Engine(all_jobs(), holder="loop")
        engine.cycle()
        [page_sms] = twilio.messages
        assert f"Reply {incident.id}A ack" in page_sms.body
        status, body = twilio.post(f"{url}/twilio/sms", twilio.inbound_sms(DANA, f"{incident.id}A", "SMloop"))
        assert status == 200 and f"#{incident.id} acknowledged by Dana Okafor." in body
        db.session.rollback()  # a fresh snapshot: the server wrote in another connection
        assert db.session.get(Incident, incident.id).status == IncidentStatus.ACKNOWLEDGED
        clock.set(T0 + timedelta(minutes=10))
        engine.cycle()
        assert twilio.calls == [] and len(twilio.messages) == 1  # the rules stopped
        forged_status, _ = twilio.post(f"{url}/twilio/sms", twilio.inbound_sms(DANA, f"{incident.id}R", "SMf"),
                                       signature="forged")
        assert forged_status == 403
        db.session.rollback()
        assert db.session.get(Incident, incident.id).status == IncidentStatus.ACKNOWLEDGED
