"""The anonymous culture survey: asked once after resolution through the outbox, a
link that works once, answers kept apart from people, figures only from three."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.incidents.models import EventKind
from app.incidents.timeline import record_event
from app.insights import metrics
from app.insights.models import SurveyAnswer, SurveyInvitation, SurveyRound
from app.insights.periods import Period
from app.notify.models import Notification
from tests.conftest import provider_config
from tests.factories import SYSTEM, actor, login, make_service, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def world(app):
    clock.set(T0)
    people = [make_user(Role.RESPONDER, name=n) for n in ("Ann Acker", "Ray Resolver", "Pat Paged", "Nia Noter")]
    service = make_service("checkout-api")
    return people, service


def resolved_incident(people, service, *, exercise=False):
    acker, resolver, paged, noter = people
    incident = incidents.open_incident(SYSTEM, service=service, title="Checkout slow", severity=3, now=T0,
                                       is_exercise=exercise)
    record_event(incident, EventKind.PAGE_SENT, SYSTEM, at=T0, data={"user_id": paged.id, "channel": "sms"})
    incidents.acknowledge(actor(acker), incident, T0 + timedelta(minutes=2))
    incidents.add_note(actor(noter), incident, "Looking at the pool", T0 + timedelta(minutes=5))
    incidents.resolve(actor(resolver), incident, T0 + timedelta(minutes=20))
    db.session.commit()
    return incident


def links(mailbox) -> list[str]:
    return [re.search(r"http://localhost(/survey/\S+)", m.get_content()).group(1) for m in mailbox.messages]


@pytest.mark.db
def test_every_responder_is_asked_once_half_an_hour_after_resolution(world, mailbox):
    people, service = world
    incident = resolved_incident(people, service)
    engine = Engine(all_jobs(), holder="test")
    clock.set(T0 + timedelta(minutes=49))
    assert "survey_invitations" not in engine.cycle().done
    clock.set(T0 + timedelta(minutes=50))
    assert engine.cycle().done["survey_invitations"] == 1
    assert sorted(m["To"] for m in mailbox.messages) == sorted(p.email for p in people)
    assert all(f"incident #{incident.id}" in m["Subject"] for m in mailbox.messages)
    engine.cycle()
    assert len(mailbox.messages) == 4  # never twice
    incidents.reopen(actor(people[0]), incident, clock.now())
    incidents.resolve(actor(people[1]), incident, clock.now())
    db.session.commit()
    clock.advance(timedelta(hours=1))
    engine.cycle()
    assert len(mailbox.messages) == 4  # resolving again asks nobody twice
    invitations = db.session.scalars(sa.select(SurveyInvitation)).all()
    assert len(invitations) == 4 and all(len(i.token_hash) == 64 and not i.answered for i in invitations)
    keys = db.session.scalars(sa.select(Notification.key).where(Notification.purpose == "survey")).all()
    assert len(set(keys)) == 4


@pytest.mark.db
def test_drills_and_old_rounds_are_not_surveyed(world, mailbox):
    people, service = world
    resolved_incident(people, service, exercise=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyRound)) == 0
    resolved_incident(people, service)
    clock.set(T0 + timedelta(days=3))  # the engine was down for three days
    Engine(all_jobs(), holder="test").cycle()
    assert mailbox.messages == []
    assert db.session.scalar(sa.select(SurveyRound.outcome)) == "missed"


def test_a_link_works_once_and_the_answer_keeps_no_person(world, mailbox, client):
    people, service = world
    incident = resolved_incident(people, service)
    clock.set(T0 + timedelta(hours=1))
    Engine(all_jobs(), holder="test").cycle()
    link = links(mailbox)[0]
    page = client.get(link)
    assert page.status_code == 200 and "Two questions about incident" in page.get_data(as_text=True)
    bad = client.post(link, data={"blameless": "9"})
    assert bad.status_code == 400 and "Choose one answer" in bad.get_data(as_text=True)
    answer = client.post(link, data={"blameless": "4", "safety": "5"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/survey/thanks")
    assert client.get("/survey/thanks").status_code == 200
    assert client.get(link).status_code == 404
    assert client.post(link, data={"blameless": "1", "safety": "1"}).status_code == 404
    assert client.get("/survey/not-a-token").status_code == 404
    [row] = db.session.scalars(sa.select(SurveyAnswer)).all()
    assert (row.incident_id, row.blameless, row.safety) == (incident.id, 4, 5)
    assert set(SurveyAnswer.__table__.columns.keys()) == {"id", "incident_id", "blameless", "safety"}
    assert re.fullmatch(r"[0-9a-f]{32}", row.id)
    used = db.session.scalars(sa.select(SurveyInvitation).where(SurveyInvitation.answered.is_(True))).all()
    assert len(used) == 1 and used[0].token_hash is None
    assert not {"answered_at", "used_at"} & set(SurveyInvitation.__table__.columns.keys())


def test_links_expire_and_signed_in_people_answer_anonymously_too(world, mailbox, client):
    people, service = world
    resolved_incident(people, service)
    clock.set(T0 + timedelta(hours=1))
    Engine(all_jobs(), holder="test").cycle()
    first, second = links(mailbox)[:2]
    login(client, people[0])
    assert client.post(first, data={"blameless": "3", "safety": "3"}).status_code == 303
    clock.set(T0 + timedelta(days=15))
    closed = client.get(second)
    assert closed.status_code == 404 and "used or has expired" in closed.get_data(as_text=True)


@pytest.mark.db
def test_figures_need_three_answers(world, mailbox):
    people, service = world
    incident = resolved_incident(people, service)
    clock.set(T0 + timedelta(hours=1))
    Engine(all_jobs(), holder="test").cycle()
    march = metrics.Filters(Period(T0.date().replace(day=1), T0.date().replace(day=31), UTC))
    from app.insights import surveys
    tokens = [link.rsplit("/", 1)[1] for link in links(mailbox)]
    for token, score in zip(tokens[:2], (5, 4)):
        surveys.answer(token, clock.now(), blameless=score, safety=score)
    db.session.commit()
    two = metrics.culture(march)
    assert (two.invited, two.answered, two.answers, two.shown, two.blameless) == (4, 2, 2, False, None)
    surveys.answer(tokens[2], clock.now(), blameless=3, safety=2)
    db.session.commit()
    three = metrics.culture(march)
    assert (three.shown, three.blameless, three.safety) == (True, 4.0, 3.67)
    assert incident.id
