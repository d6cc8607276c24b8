"""Paging people through the real twilio client (at a fake Twilio) and a real SMTP server."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind, IncidentEvent, Status as IncidentStatus
from app.notify import contacts, paging
from app.notify.models import Channel, ContactMethod, Notification, Status
from app.notify.providers import ProviderError, Twilio
from tests.conftest import provider_config
from tests.factories import SYSTEM, actor, make_service, make_user, reachable
from tests.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, free_port

T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)  # 10:12 in New York: daytime


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def engine(app):
    return Engine(all_jobs(), holder="test-engine")


@pytest.fixture
def dana(app):
    clock.set(T0)
    user = make_user(Role.RESPONDER, name="Dana Okafor", phone="+15551230001", time_zone="America/New_York")
    return reachable(user)


@pytest.fixture
def incident(app, dana):
    service = make_service("checkout-api")
    incident = incidents.open_incident(SYSTEM, service=service, title="HTTP 5xx 7.2% over 5m", severity=2, now=T0)
    db.session.commit()
    return incident


def at(engine, moment):
    clock.set(moment)
    return engine.cycle()


def page(incident, user, round_key="1"):
    rows = paging.page(incident, user, clock.now(), round_key=round_key, actor=SYSTEM)
    db.session.commit()
    return rows


def kinds(incident):
    return db.session.scalars(sa.select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident.id)
                              .order_by(IncidentEvent.id)).all()


@pytest.mark.db
def test_a_page_runs_the_persons_rules_until_acknowledged(engine, twilio, mailbox, dana, incident):
    rows = page(incident, dana)
    assert [(r.channel, r.next_attempt_at - T0) for r in rows] == [
        (Channel.SMS, timedelta(0)), (Channel.VOICE, timedelta(minutes=2)), (Channel.EMAIL, timedelta(minutes=5))]
    assert at(engine, T0).done == {"notifications": 1}
    [sms] = twilio.messages
    assert sms.to == "+15551230001" and sms.from_ == "+15005550006"
    assert sms.body == (f"[SEV-2 #{incident.id}] checkout-api: HTTP 5xx 7.2% over 5m\n"
                        f"http://localhost/i/{incident.id}\n"
                        f"Reply {incident.id}A ack, {incident.id}R resolve, {incident.id}E escalate")
    assert len(sms.body) <= 160 and sms.status_callback == "http://localhost/twilio/status"
    at(engine, T0 + timedelta(minutes=2))
    [call] = twilio.calls
    assert call.url == f"http://localhost/twilio/voice/{rows[1].id}"
    incidents.acknowledge(actor(dana), incident, T0 + timedelta(minutes=3))
    db.session.commit()
    at(engine, T0 + timedelta(minutes=6))
    assert mailbox.messages == []  # the rules stopped at the acknowledgement
    statuses = [db.session.get(Notification, r.id).status for r in rows]
    assert statuses == [Status.SENT, Status.SENT, Status.CANCELLED]
    assert kinds(incident).count(EventKind.PAGE_SENT) == 2


def test_paging_twice_in_one_round_sends_once(engine, twilio, dana, incident):
    first, second = page(incident, dana), page(incident, dana)
    assert [r.id for r in first] == [r.id for r in second]
    at(engine, T0)
    at(engine, T0 + timedelta(seconds=1))
    assert len(twilio.messages) == 1


@pytest.mark.db
def test_email_pages_arrive_by_smtp(engine, mailbox, dana, incident):
    contacts.set_rules(actor(dana), dana, "high", [(m.id, 0) for m in dana.contact_methods if m.channel == Channel.EMAIL])
    db.session.commit()
    page(incident, dana)
    at(engine, T0)
    [mail] = mailbox.messages
    assert mail["To"] == dana.email and mail["Subject"] == f"[SEV-2 #{incident.id}] checkout-api: HTTP 5xx 7.2% over 5m"
    assert f"http://localhost/incidents/{incident.id}" in mail.get_content()


def test_provider_errors_retry_with_backoff_and_fall_through_to_the_next_method(engine, twilio, mailbox, dana, incident):
    twilio.fail_always = True
    [sms, _, _] = page(incident, dana)
    at(engine, T0)
    row = db.session.get(Notification, sms.id)
    assert (row.status, row.attempts, row.next_attempt_at) == (Status.QUEUED, 1, T0 + timedelta(seconds=15))
    assert "Twilio HTTP 500" in row.last_error
    at(engine, T0 + timedelta(seconds=15))  # second failure: hand over to email (another provider), at once
    fallback = db.session.scalar(sa.select(Notification).where(Notification.fallback_for_id == sms.id))
    assert fallback.channel == Channel.EMAIL and fallback.next_attempt_at == T0 + timedelta(seconds=15)
    assert EventKind.FELL_THROUGH in kinds(incident)
    at(engine, T0 + timedelta(seconds=16))  # the next cycle sends it
    assert db.session.get(Notification, fallback.id).status == Status.SENT and len(mailbox.messages) == 1
    twilio.fail_always = False  # Twilio is back
    at(engine, T0 + timedelta(seconds=45))
    assert db.session.get(Notification, sms.id).status == Status.SENT
    assert len(twilio.messages) == 1


def test_a_sender_that_dies_mid_send_is_retried(engine, twilio, dana, incident):
    [sms, _, _] = page(incident, dana)
    row = db.session.get(Notification, sms.id)
    row.status, row.attempts, row.next_attempt_at = Status.SENDING, 1, T0 + timedelta(seconds=60)  # claimed, then the process died
    db.session.commit()
    at(engine, T0 + timedelta(seconds=59))
    assert twilio.messages == []
    at(engine, T0 + timedelta(seconds=60))
    assert len(twilio.messages) == 1 and db.session.get(Notification, sms.id).attempts == 2


def test_pages_due_together_go_as_one_sms_and_later_ones_wait_for_the_throttle(engine, twilio, dana, incident):
    service = incident.service
    second = incidents.open_incident(SYSTEM, service=service, title="Payments timeouts", severity=1, now=T0)
    db.session.commit()
    page(incident, dana)
    page(second, dana)
    at(engine, T0)
    [bundle] = twilio.messages
    assert bundle.body.startswith("[2 pages]\n#%d SEV-1" % second.id) and f"#{incident.id} SEV-2" in bundle.body
    third = incidents.open_incident(SYSTEM, service=service, title="Login errors", severity=3, now=T0)
    fourth = incidents.open_incident(SYSTEM, service=service, title="Search slow", severity=3, now=T0)
    db.session.commit()
    clock.set(T0 + timedelta(seconds=4))
    page(third, dana)
    at(engine, T0 + timedelta(seconds=4))
    assert len(twilio.messages) == 1  # held back: pages to one phone at most every 10 seconds
    held = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.incident_id == third.id,
                                                             IncidentEvent.kind == EventKind.HELD_BACK))
    assert "held back until 15:12:10 UTC" in held.text and "every 10 seconds" in held.text
    clock.set(T0 + timedelta(seconds=7))
    page(fourth, dana)
    at(engine, T0 + timedelta(seconds=7))
    at(engine, T0 + timedelta(seconds=10))  # what came due meanwhile goes together
    assert len(twilio.messages) == 2 and twilio.messages[1].body.startswith("[2 pages]\n")
    assert f"#{third.id} SEV-3" in twilio.messages[1].body and f"#{fourth.id} SEV-3" in twilio.messages[1].body


def test_a_page_is_never_held_back_by_a_code_a_test_page_or_a_reminder(engine, twilio, dana, incident):
    """A verification code to the same phone a moment before the first real page
    held it back by 53 seconds: pages count only pages."""
    from app.notify.outbox import enqueue
    sms = next(m for m in dana.contact_methods if m.channel == Channel.SMS)
    for n, purpose in enumerate(("verify", "test", "reminder")):
        enqueue(key=f"other:{n}", purpose=purpose, channel=Channel.SMS, to_address=sms.address, body=f"not a page {n}",
                user_id=dana.id, contact_method_id=sms.id, due=T0 - timedelta(seconds=3))
    db.session.commit()
    at(engine, T0 - timedelta(seconds=3))  # the first goes; the other two wait a minute behind it
    assert [m.body for m in twilio.messages] == ["not a page 0"]
    page(incident, dana)
    at(engine, T0)
    assert len(twilio.messages) == 2 and twilio.messages[1].body.startswith(f"[SEV-2 #{incident.id}]")
    assert not db.session.scalar(sa.select(sa.func.count()).select_from(IncidentEvent).where(
        IncidentEvent.kind == EventKind.HELD_BACK))
    # A page call is not held back by calls that were not pages either.
    voice = next(m for m in dana.contact_methods if m.channel == Channel.VOICE)
    for n in range(3):
        enqueue(key=f"call:{n}", purpose="verify", channel=Channel.VOICE, to_address=voice.address, body="code",
                user_id=dana.id, contact_method_id=voice.id, due=T0)
        db.session.commit()
        at(engine, T0 + timedelta(seconds=n))
    assert len(twilio.calls) == 3
    contacts.set_rules(actor(dana), dana, "high", [(voice.id, 0)])
    db.session.commit()
    clock.set(T0 + timedelta(seconds=5))
    page(incident, dana, round_key="call")
    at(engine, T0 + timedelta(seconds=5))
    assert len(twilio.calls) == 4


def test_a_new_incidents_page_waits_at_most_ten_seconds_behind_another(engine, twilio, dana, incident):
    """Pages for high-urgency incidents arriving one after another: none waits more than
    10 s after it came due, and those due within one wait go as one SMS."""
    sent_at = {}
    opened = []
    for second in range(50):  # an engine cycle a second; a new incident every 3 s for 36 s
        moment = T0 + timedelta(seconds=second)
        clock.set(moment)
        if second % 3 == 0 and second < 36:
            more = incidents.open_incident(SYSTEM, service=incident.service, severity=1 + (second // 3) % 3, now=moment,
                                           title=f"Problem {second}")
            db.session.commit()
            page(more, dana)
            opened.append((more.id, moment))
        at(engine, moment)
        for message in twilio.messages[len(sent_at):]:
            sent_at[message.body] = moment
    for incident_id, moment in opened:
        when = min(at_ for body, at_ in sent_at.items() if f"#{incident_id}" in body)
        assert when - moment <= timedelta(seconds=10), (incident_id, when - moment)
    assert 3 <= len(twilio.messages) <= 6  # bundled, not one SMS per incident


def test_a_held_low_urgency_page_rides_with_the_next_high_urgency_one(engine, twilio, dana, incident):
    """A low-urgency page waits a minute behind the page before it; high-urgency pages
    every 10 s would hold it again and again, so it goes with the next of them."""
    sms = next(m for m in dana.contact_methods if m.channel == Channel.SMS)
    contacts.set_rules(actor(dana), dana, "low", [(sms.id, 0)])
    low = incidents.open_incident(SYSTEM, service=incident.service, title="Disk 80%", severity=4, now=T0)
    later = incidents.open_incident(SYSTEM, service=incident.service, title="Checkout down", severity=1, now=T0)
    db.session.commit()
    page(incident, dana)
    at(engine, T0)
    clock.set(T0 + timedelta(seconds=5))
    page(low, dana)
    at(engine, T0 + timedelta(seconds=5))
    assert len(twilio.messages) == 1  # held: a minute behind the last page
    clock.set(T0 + timedelta(seconds=15))
    page(later, dana)
    at(engine, T0 + timedelta(seconds=15))
    assert len(twilio.messages) == 2
    assert f"#{later.id} SEV-1" in twilio.messages[1].body and f"#{low.id} SEV-4" in twilio.messages[1].body


def test_a_bundle_of_many_pages_fits_in_what_twilio_takes(engine, twilio, dana, incident):
    """A storm pages one person about many incidents at once: the bundle stays within
    Twilio's 1,600 characters (it refuses longer bodies, error 21617), lists the most
    severe first, counts the rest, and carries them all."""
    for n in range(79):
        more = incidents.open_incident(SYSTEM, service=incident.service, severity=1 + n % 3, now=T0,
                                       title=f"Replica {n} lagging by more than thirty seconds behind its primary")
        db.session.commit()
        page(more, dana)
    page(incident, dana)
    at(engine, T0)
    [bundle] = twilio.messages
    assert len(bundle.body) <= 1600 and bundle.body.startswith("[80 pages]\n") and "SEV-1" in bundle.body.splitlines()[1]
    listed = sum(1 for line in bundle.body.splitlines() if line.startswith("#"))
    assert 5 < listed < 80 and f"... and {80 - listed} more" in bundle.body
    sms = db.session.scalars(sa.select(Notification).where(Notification.channel == Channel.SMS)).all()
    assert {row.status for row in sms} == {Status.SENT} and len(sms) == 80


def test_calls_are_capped_at_three_in_fifteen_minutes(engine, twilio, dana, incident):
    voice = next(m for m in dana.contact_methods if m.channel == Channel.VOICE)
    contacts.set_rules(actor(dana), dana, "high", [(voice.id, 0)])
    db.session.commit()
    for n in range(4):
        clock.set(T0 + timedelta(minutes=n))
        page(incident, dana, round_key=str(n))
        at(engine, T0 + timedelta(minutes=n))
    assert len(twilio.calls) == 3
    at(engine, T0 + timedelta(minutes=15))
    assert len(twilio.calls) == 4


def test_low_urgency_pages_never_ring_at_night(engine, twilio, mailbox, dana, incident):
    night = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)  # 02:00 in New York
    clock.set(night)
    incidents.change_severity(SYSTEM, incident, 4, night, reason="internal only")
    contacts.set_rules(actor(dana), dana, "low", [(m.id, 0) for m in dana.contact_methods])
    db.session.commit()
    rows = page(incident, dana, round_key="night")
    by_channel = {r.channel: r.next_attempt_at for r in rows}
    assert by_channel[Channel.EMAIL] == night
    assert by_channel[Channel.SMS] == by_channel[Channel.VOICE] == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # 07:00
    at(engine, night)
    assert len(mailbox.messages) == 1 and twilio.sent == []


def test_without_twilio_settings_pages_go_to_the_console_and_the_outbox(app, engine, dana, incident, client):
    for name in ("TWILIO_ACCOUNT_SID", "SMTP_URL"):
        app.config[name] = ""
    page(incident, dana)
    at(engine, T0)
    row = db.session.scalar(sa.select(Notification).where(Notification.channel == Channel.SMS))
    assert row.status == Status.SENT and row.provider == "console"
    from tests.factories import login
    login(client, make_user(Role.ADMIN))
    outbox = client.get("/admin/outbox").get_data(as_text=True)
    assert f"[SEV-2 #{incident.id}] checkout-api" in outbox and "go to the console" in outbox


def test_contact_methods_are_verified_by_a_code_before_use(engine, twilio, mailbox, app):
    clock.set(T0)
    lee = make_user(Role.RESPONDER, name="Lee")
    method = contacts.add_method(actor(lee), lee, "sms", "+1 555 123 0002", T0)
    db.session.commit()
    assert method.address == "+15551230002" and not method.usable
    at(engine, T0)
    [sms] = twilio.messages
    code = sms.body.split("code is ")[1][:6]
    assert not contacts.verify(actor(lee), method, "000000" if code != "000000" else "111111", T0)
    assert method.code_attempts == 1
    assert contacts.verify(actor(lee), method, code, T0 + timedelta(minutes=1))
    db.session.commit()
    assert method.usable and [r.contact_method_id for r in contacts.rules_for(lee, "high")] == [method.id]
    email = contacts.add_method(actor(lee), lee, "email", "lee@example.com", T0)
    db.session.commit()
    at(engine, T0 + timedelta(minutes=2))
    assert "verification code is" in mailbox.messages[0].get_content()
    clock.set(T0 + timedelta(minutes=30))
    with pytest.raises(Exception, match="expired"):
        contacts.verify(actor(lee), email, "123456", clock.now())


def _code_sent_to(method) -> str:
    body = db.session.scalar(sa.select(Notification.body).where(Notification.contact_method_id == method.id,
                                                                Notification.purpose == "verify")
                             .order_by(Notification.id.desc()).limit(1))
    return "".join(c for c in body.split("code is ")[1].split(".")[0] if c.isdigit())


def _steps(user, urgency):
    return [(r.contact_method.channel, r.delay_minutes) for r in contacts.rules_for(user, urgency)]


@pytest.mark.parametrize("order", list(itertools.permutations(["sms", "voice", "email"])), ids="-".join)
def test_default_rules_are_the_documented_ones_in_any_order_of_verification(app, order):
    """SMS at once, a call after 2 minutes, email after 5 (high); email at once (low):
    whatever order the methods are verified in, each step arriving with its method."""
    clock.set(T0)
    lee = make_user(Role.RESPONDER, name="Lee")
    addresses = {"sms": "+15551230002", "voice": "+15551230003", "email": "lee@example.com"}
    methods = {channel: contacts.add_method(actor(lee), lee, channel, addresses[channel], T0) for channel in order}
    db.session.commit()
    expected_high = [(Channel.SMS, 0), (Channel.VOICE, 2), (Channel.EMAIL, 5)]
    for n, channel in enumerate(order, start=1):
        assert contacts.verify(actor(lee), methods[channel], _code_sent_to(methods[channel]), T0)
        db.session.commit()
        done = {Channel(c) for c in order[:n]}
        assert _steps(lee, "high") == [step for step in expected_high if step[0] in done]
        assert _steps(lee, "low") == ([(Channel.EMAIL, 0)] if Channel.EMAIL in done else [])
    assert not any(r.chosen for r in contacts.rules_for(lee, "high"))


def test_rules_a_person_chose_stand_when_a_method_is_added(app):
    clock.set(T0)
    lee = make_user(Role.RESPONDER, name="Lee")
    sms = contacts.add_method(SYSTEM, lee, "sms", "+15551230002", T0, verified=True)
    contacts.set_rules(actor(lee), lee, "high", [(sms.id, 1)])
    contacts.add_method(SYSTEM, lee, "voice", "+15551230003", T0, verified=True)
    contacts.add_method(SYSTEM, lee, "email", "lee@example.com", T0, verified=True)
    db.session.commit()
    assert _steps(lee, "high") == [(Channel.SMS, 1)]  # theirs stand
    assert _steps(lee, "low") == [(Channel.EMAIL, 0)]  # the untouched urgency still grows


def test_one_code_by_sms_verifies_both_methods_of_an_admin_entered_phone(engine, twilio, app):
    clock.set(T0)
    lee = make_user(Role.RESPONDER, name="Lee")
    sms, voice = contacts.add_phone(SYSTEM, lee, "+1 555 123 0002", T0)
    db.session.commit()
    at(engine, T0)
    assert len(twilio.messages) == 1 and twilio.calls == []  # one code, by SMS
    assert not sms.usable and not voice.usable
    assert contacts.verify(actor(lee), sms, _code_sent_to(sms), T0)
    db.session.commit()
    assert sms.usable and voice.usable
    assert _steps(lee, "high") == [(Channel.SMS, 0), (Channel.VOICE, 2)]


def test_others_cannot_touch_my_contact_methods(app, dana):
    other = make_user(Role.RESPONDER)
    with pytest.raises(Exception, match="Only the person or an admin"):
        contacts.add_method(actor(other), dana, "sms", "+15559990000", T0)
    with pytest.raises(Exception, match="vouch"):
        contacts.add_method(actor(dana), dana, "sms", "+15559990000", T0, verified=True)


def test_test_page_reaches_every_method(engine, twilio, mailbox, dana):
    contacts.test_page(actor(dana), dana, T0)
    db.session.commit()
    at(engine, T0)
    assert len(twilio.messages) == 1 and len(twilio.calls) == 1 and len(mailbox.messages) == 1


def test_nobody_reachable_is_said_on_the_timeline(app, incident):
    lonely = make_user(Role.RESPONDER, name="Lonely")
    assert paging.page(incident, lonely, T0, round_key="1", actor=SYSTEM) == []
    db.session.commit()
    assert kinds(incident)[-1] == EventKind.UNREACHABLE


def test_resolving_stops_pages_not_yet_sent(engine, twilio, dana, incident):
    page(incident, dana)
    incidents.resolve(actor(dana), incident, T0)
    db.session.commit()
    at(engine, T0 + timedelta(minutes=10))
    assert twilio.sent == []
    assert db.session.get(type(incident), incident.id).status == IncidentStatus.RESOLVED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ContactMethod)) == 3


def test_a_hanging_provider_costs_one_timeout_per_cycle_not_one_per_message(app, engine, twilio, dana, incident):
    app.config["NOTIFY_TIMEOUT_SECONDS"] = 1
    others = [incidents.open_incident(SYSTEM, service=incident.service, title=f"Other {n}", severity=2, now=T0)
              for n in range(3)]
    people = [reachable(make_user(Role.RESPONDER, phone=f"+1555000000{n}")) for n in range(4)]
    db.session.commit()
    for person, target in zip(people, [incident, *others]):
        page(target, person)
    twilio.hang_seconds = 3  # longer than NOTIFY_TIMEOUT_SECONDS
    at(engine, T0)
    assert twilio.requests == 1  # the others failed at once: the channel is paused
    failed = db.session.scalars(sa.select(Notification).where(Notification.channel == Channel.SMS)).all()
    assert all(n.status == Status.QUEUED and n.attempts == 1 for n in failed)
    assert sum("pausing this channel" in (n.last_error or "") for n in failed) == 3
    twilio.hang_seconds = 0
    at(engine, T0 + timedelta(seconds=20))
    assert len(twilio.messages) == 4


PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                   "no_proxy", "NO_PROXY")


@pytest.mark.parametrize("bypassed", [False, True])
def test_twilio_follows_the_proxy_settings_it_started_with(twilio, monkeypatch, bypassed):
    """The client reads the environment's proxy settings once, as requests reads them
    (requests itself would re-read them for every message)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: only a proxy gets through
    monkeypatch.setenv("http_proxy", twilio.base_url)  # the fake answers a proxied request as Twilio would
    if bypassed:
        monkeypatch.setenv("no_proxy", "127.0.0.1")
    provider = Twilio(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, closed, 5)
    monkeypatch.delenv("http_proxy")  # later changes do not count
    monkeypatch.delenv("no_proxy", raising=False)
    if bypassed:
        with pytest.raises(ProviderError, match="unreachable") as refused:
            provider.send_sms("+15551230009", "Direct")
        assert refused.value.retry and twilio.requests == 0
        return
    sent = provider.send_sms("+15551230009", "Through the proxy")
    assert [(m.sid, m.to, m.body) for m in twilio.messages] == [(sent.provider_id, "+15551230009", "Through the proxy")]


def test_my_paging_page_manages_methods_rules_and_test_pages(engine, twilio, client, app):
    from tests.factories import login
    clock.set(T0)
    lee = make_user(Role.RESPONDER, name="Lee", email="lee@example.com")
    login(client, lee)
    assert client.get("/profile/paging").status_code == 200
    added = client.post("/profile/contact-methods", data={"channel": "sms", "address": "+15551230002"})
    assert added.status_code == 303
    at(engine, T0)
    code = twilio.messages[0].body.split("code is ")[1][:6]
    method = db.session.scalar(sa.select(ContactMethod).where(ContactMethod.address == "+15551230002"))
    wrong = client.post(f"/profile/contact-methods/{method.id}/verify", data={"code": "999999" if code != "999999" else "111111"})
    assert wrong.status_code == 400 and "That code is not right." in wrong.get_data(as_text=True)
    assert client.post(f"/profile/contact-methods/{method.id}/verify", data={"code": code}).status_code == 303
    bad = client.post("/profile/contact-methods", data={"channel": "sms", "address": "555"})
    assert bad.status_code == 400 and "international form" in bad.get_data(as_text=True)
    saved = client.post("/profile/rules/high", data={"high-rows-0-method_id": str(method.id), "high-rows-0-delay": "0",
                                                     "high-rows-1-method_id": str(method.id), "high-rows-1-delay": "10"})
    assert saved.status_code == 303
    assert [r.delay_minutes for r in contacts.rules_for(lee, "high")] == [0, 10]
    assert client.post("/profile/test-page").status_code == 303
    at(engine, T0 + timedelta(minutes=1))
    assert twilio.messages[-1].body.startswith("Firebreak test page")
    page_html = client.get("/profile/paging").get_data(as_text=True)
    assert "verified" in page_html and "test" in page_html
