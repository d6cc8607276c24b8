"""A new team's first hour: a phone an admin types pages its person once verified, and
until then every page that depends on them says who cannot be paged."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.escalation import policies
from app.extensions import db
from app.notify import contacts, reach
from app.notify.models import Channel, ContactMethod, Notification
from app.services import service as services
from tests.factories import SYSTEM, actor, login, make_service, make_user
from tests.oncall_factories import make_layer, make_schedule

T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # a Monday
PHONES = {"Ana Ash": "+15551230101", "Bob Birch": "+15551230102", "Cara Cole": "+15551230103"}
BOB = "Bob Birch cannot be paged: no verified contact method"


def person(name: str) -> User:
    return db.session.scalar(sa.select(User).where(User.name == name))


def code_sent_to(number: str) -> str:
    row = db.session.scalar(sa.select(Notification).where(Notification.to_address == number,
                                                          Notification.purpose == "verify"))
    return row.body.split("code is ")[1][:6]


@pytest.fixture
def team(app, runner):
    """Three responders made as the README says (create-user --phone), a weekly rotation
    of them, a policy paging whoever is on call, and a service on it."""
    clock.set(T0)
    for name, phone in PHONES.items():
        email = name.split()[0].lower() + "@example.com"
        made = runner.invoke(args=["create-user", "--email", email, "--name", name, "--role", "responder",
                                   "--phone", phone])
        assert made.exit_code == 0, made.output
        assert "once verified: a code is on its way" in made.output
    people = [person(name) for name in PHONES]
    schedule = make_schedule("Payments on-call", now=T0)
    make_layer(schedule, people, start=T0.date(), handoff=T0.time().replace(hour=9), weekday=0, now=T0)
    policy = policies.create_policy(SYSTEM, name="Payments escalation", now=T0)
    step = policies.add_step(SYSTEM, policy, delay_minutes=10, mode="all", now=T0)
    policies.add_target(SYSTEM, step, "schedule", schedule.id, T0)
    service = make_service("payments-api")
    services_policy = policies.set_service_policy(SYSTEM, service, policy.id, None)
    db.session.commit()
    assert services_policy is None
    return {"people": people, "schedule": schedule, "policy": policy, "service": service}


def test_an_admin_entered_phone_becomes_sms_and_voice_methods_and_a_code_is_sent(team):
    for user in team["people"]:
        methods = [m for m in user.contact_methods if m.active]
        assert {(m.channel, m.address) for m in methods} == {(Channel.SMS, user.phone), (Channel.VOICE, user.phone)}
        assert not any(m.usable for m in methods)
        codes = db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.purpose == "verify")).all()
        assert [c.channel for c in codes] == [Channel.SMS]  # one code, by SMS, for both
    assert [u.user.name for u in reach.unpageable(u.id for u in team["people"])] == list(PHONES)


def test_every_page_that_depends_on_them_says_who_cannot_be_paged(team, client):
    admin = make_user(Role.ADMIN, name="Admin")
    login(client, admin)
    pages = {"schedule": f"/schedules/{team['schedule'].id}", "policy": f"/escalation-policies/{team['policy'].id}",
             "service": f"/services/{team['service'].id}", "home": "/"}
    for where, path in pages.items():
        body = client.get(path).get_data(as_text=True)
        assert BOB in body, where
    bob = person("Bob Birch")
    sms = next(m for m in bob.contact_methods if m.channel == Channel.SMS)
    assert contacts.verify(actor(bob), sms, code_sent_to(bob.phone), T0 + timedelta(minutes=1))
    db.session.commit()
    for where, path in pages.items():
        body = client.get(path).get_data(as_text=True)
        assert "Bob Birch cannot be paged" not in body and "Ana Ash cannot be paged" in body, where
    # A responder sees the warning too, without the admin's remedy.
    login(client, make_user(Role.RESPONDER))
    assert "Ana Ash cannot be paged" in client.get(pages["schedule"]).get_data(as_text=True)


def test_the_check_lists_everyone_on_call_in_the_next_seven_days_who_cannot_be_paged(team, runner):
    checked = runner.invoke(args=["check-paging"])
    assert checked.exit_code == 1
    lines = checked.output.strip().splitlines()
    # Weekly from Monday 09:00: Ana until the 14th, then Bob; Cara's turn is past 7 days.
    assert [line.split(" cannot")[0] for line in lines] == ["Ana Ash", "Bob Birch"]
    assert "(on call for Payments on-call from 2026-12-14 09:00 UTC)" in lines[1]
    three_weeks = runner.invoke(args=["check-paging", "--days", "21"])
    assert "Cara Cole cannot be paged" in three_weeks.output
    for user in team["people"]:
        contacts.vouch(SYSTEM, next(m for m in user.contact_methods if m.channel == Channel.SMS), T0)
    db.session.commit()
    fine = runner.invoke(args=["check-paging"])
    assert fine.exit_code == 0 and "can be paged" in fine.output


def test_an_admin_marks_a_phone_verified_and_it_is_audited(team, client):
    admin = make_user(Role.ADMIN, name="Admin")
    cara = person("Cara Cole")
    sms = next(m for m in cara.contact_methods if m.channel == Channel.SMS)
    login(client, make_user(Role.RESPONDER, name="Not an admin"))
    assert client.post(f"/people/{cara.id}/contact-methods/{sms.id}/mark-verified").status_code == 403
    login(client, admin)
    page = client.get(f"/people/{cara.id}").get_data(as_text=True)
    assert "Cara Cole cannot be paged: no verified contact method" in page and "Mark verified" in page
    answer = client.post(f"/people/{cara.id}/contact-methods/{sms.id}/mark-verified")
    assert answer.status_code == 303
    db.session.expire_all()
    cara = person("Cara Cole")
    assert all(m.usable for m in cara.contact_methods if m.active)
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "contact.vouch")).all()
    assert {e.object_id for e in entries} == {m.id for m in cara.contact_methods} and entries[0].actor_user_id == admin.id
    steps = [(r.contact_method.channel, r.delay_minutes) for r in contacts.rules_for(cara, "high")]
    assert steps == [(Channel.SMS, 0), (Channel.VOICE, 2)]
    assert "cannot be paged" not in client.get(f"/people/{cara.id}").get_data(as_text=True)


def test_create_user_may_vouch_for_the_phone(app, runner):
    clock.set(T0)
    made = runner.invoke(args=["create-user", "--email", "dee@example.com", "--name", "Dee", "--phone",
                               "+1 555 123 0104", "--phone-verified"])
    assert made.exit_code == 0 and "(marked verified)" in made.output
    dee = person("Dee")
    assert {m.channel for m in dee.contact_methods if m.usable} == {Channel.SMS, Channel.VOICE}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0  # no code sent
    vouched = db.session.scalars(sa.select(AuditEntry.object_id).where(AuditEntry.action == "contact.vouch")).all()
    assert sorted(vouched) == sorted(m.id for m in dee.contact_methods)
    bad = runner.invoke(args=["create-user", "--email", "eve@example.com", "--name", "Eve", "--phone", "12"])
    assert bad.exit_code == 1 and person("Eve") is None  # a bad number changes nothing


def test_the_admins_person_form_gives_the_phone_to_pages_too(app, client):
    clock.set(T0)
    admin = make_user(Role.ADMIN)
    login(client, admin)
    made = client.post("/people/new", data={"email": "fay@example.com", "name": "Fay", "role": "responder",
                                            "phone": "+15551230105", "time_zone": "UTC", "active": "y"})
    assert made.status_code == 303
    fay = person("Fay")
    assert {(m.channel, m.verified) for m in fay.contact_methods} == {(Channel.SMS, False), (Channel.VOICE, False)}
    edited = client.post(f"/people/{fay.id}/edit", data={"email": "fay@example.com", "name": "Fay",
                                                          "role": "responder", "phone": "+15551230106",
                                                          "time_zone": "UTC", "active": "y"})
    assert edited.status_code == 303
    db.session.expire_all()
    numbers = {m.address for m in person("Fay").contact_methods}
    assert numbers == {"+15551230105", "+15551230106"}
    # Saving again without a change sends no second code.
    sent = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    clock.set(T0 + timedelta(minutes=5))
    client.post(f"/people/{fay.id}/edit", data={"email": "fay@example.com", "name": "Fay", "role": "responder",
                                                 "phone": "+15551230106", "time_zone": "UTC", "active": "y"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == sent


def test_a_new_number_takes_over_the_pages_once_verified(team, client):
    """An admin changes a verified person's phone: pages stay on the old number until
    the new one is verified, then go to the new one; saving the form again without a
    change neither sends another code nor brings back a method the person removed."""
    ana = person("Ana Ash")
    contacts.vouch(SYSTEM, ana.contact_methods[0], T0)
    db.session.commit()
    login(client, make_user(Role.ADMIN))
    form = {"email": "ana@example.com", "name": "Ana Ash", "role": "responder", "phone": "+15551230111",
            "time_zone": "UTC", "active": "y"}
    assert client.post(f"/people/{ana.id}/edit", data=form).status_code == 303
    db.session.expire_all()
    ana = person("Ana Ash")

    def paged_at():
        return {(r.contact_method.channel, r.contact_method.address) for r in contacts.rules_for(ana, "high")}
    assert paged_at() == {(Channel.SMS, PHONES["Ana Ash"]), (Channel.VOICE, PHONES["Ana Ash"])}
    new_sms = next(m for m in ana.contact_methods if m.address == "+15551230111" and m.channel == Channel.SMS)
    assert contacts.verify(actor(ana), new_sms, code_sent_to("+15551230111"), T0 + timedelta(minutes=1))
    db.session.commit()
    assert paged_at() == {(Channel.SMS, "+15551230111"), (Channel.VOICE, "+15551230111")}
    voice = next(m for m in ana.contact_methods if m.address == "+15551230111" and m.channel == Channel.VOICE)
    contacts.remove_method(actor(ana), voice)
    db.session.commit()
    codes = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    clock.set(T0 + timedelta(minutes=10))
    assert client.post(f"/people/{ana.id}/edit", data={**form, "name": "Ana Ash-Lee"}).status_code == 303
    db.session.expire_all()
    ana = person("Ana Ash-Lee")
    assert not db.session.get(ContactMethod, voice.id).active
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == codes
    assert paged_at() == {(Channel.SMS, "+15551230111"), (Channel.VOICE, PHONES["Ana Ash"])}


def test_a_number_the_person_already_proved_needs_no_second_code(app):
    clock.set(T0)
    lee = make_user(Role.RESPONDER, name="Lee")
    sms = contacts.add_method(SYSTEM, lee, "sms", "+15551230120", T0, verified=True)
    sms_only = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    _, voice = contacts.add_phone(actor(lee), lee, "+15551230120", T0)
    db.session.commit()
    assert voice.usable and db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == sms_only
    assert [(r.contact_method_id, r.delay_minutes) for r in contacts.rules_for(lee, "high")] == [(sms.id, 0),
                                                                                                 (voice.id, 2)]


def test_a_person_with_an_unverified_phone_is_asked_for_the_code_at_sign_in(team, client):
    from app.auth import service as people
    bob = person("Bob Birch")
    people.set_password(SYSTEM, bob, "correct horse battery")
    db.session.commit()
    signed_in = client.post("/login", data={"email": "bob@example.com", "password": "correct horse battery"})
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith("/profile/paging")
    page = client.get("/profile/paging").get_data(as_text=True)
    assert "enter the code sent to your phone" in page
    voice = next(m for m in bob.contact_methods if m.channel == Channel.VOICE)
    # The code went by SMS; entering it beside the voice method verifies both.
    client.post(f"/profile/contact-methods/{voice.id}/verify", data={"code": code_sent_to(bob.phone)})
    db.session.expire_all()
    assert all(m.usable for m in person("Bob Birch").contact_methods)


@pytest.mark.db
def test_the_migration_gives_existing_phones_to_pages_and_keeps_chosen_rules(app):
    """Upgrading to 0014: a phone typed before it becomes unverified SMS and voice
    methods; rules set by hand (the audit log says so) stay the person's choice; the
    defaults stay defaults, to grow."""
    from flask_migrate import downgrade, upgrade
    clock.set(T0)
    old = make_user(Role.RESPONDER, name="Old Timer", phone="+15551230199")
    proved = make_user(Role.RESPONDER, name="Proved", phone="+15551230197")
    contacts.add_method(SYSTEM, proved, "sms", "+15551230197", T0, verified=True)
    chooser = make_user(Role.RESPONDER, name="Chooser")
    sms = contacts.add_method(SYSTEM, chooser, "sms", "+15551230198", T0, verified=True)
    contacts.add_method(SYSTEM, chooser, "email", "chooser@example.com", T0, verified=True)
    contacts.set_rules(actor(chooser), chooser, "high", [(sms.id, 3)])
    db.session.commit()
    ids = (old.id, chooser.id, proved.id)
    db.session.remove()
    downgrade(revision="0013")
    db.session.remove()
    upgrade()
    db.session.remove()
    old, chooser = db.session.get(User, ids[0]), db.session.get(User, ids[1])
    assert {(m.channel, m.address, m.verified) for m in old.contact_methods} == {
        (Channel.SMS, "+15551230199", False), (Channel.VOICE, "+15551230199", False)}
    assert [(r.delay_minutes, r.chosen) for r in contacts.rules_for(chooser, "high")] == [(3, True)]
    assert [r.chosen for r in contacts.rules_for(chooser, "low")] == [False]
    proved = db.session.get(User, ids[2])
    assert {(m.channel, m.verified) for m in proved.contact_methods} == {(Channel.SMS, True), (Channel.VOICE, True)}
