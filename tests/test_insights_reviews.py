"""The review schedule: owners, quarterly dates, reminders through the outbox (once,
the latest after an outage), recording a review, and what is reviewed: the severity
model, post-mortem templates, and the communication templates and role checklists
as their own domains list them (shipped in code, an admin's edit replacing one)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.comms import defaults as comms_defaults
from app.comms import library
from app.comms.models import CommsTemplate
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents import roles
from app.incidents.roles_models import RoleDefinition
from app.insights import reviews
from app.insights.models import ReviewReminder
from app.notify.models import Notification
from app.postmortems import service as postmortems
from app.triage.models import SeverityLevel
from tests.conftest import provider_config
from tests.factories import actor, login, make_user

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def app_config(twilio, mailbox):
    return provider_config(twilio, mailbox)


@pytest.fixture
def world(app):
    clock.set(T0)
    postmortems.ensure_defaults()
    db.session.commit()
    admin = make_user(Role.ADMIN, name="Ada Admin")
    owner = make_user(Role.RESPONDER, name="Olu Owner", time_zone="America/New_York")
    other = make_user(Role.RESPONDER, name="Oren Other")
    return admin, owner, other


def kinds(groups):
    return {g.source.kind: [i.ref for i in g.items] for g in groups}


def titles(kind):
    return [i.title for g in reviews.schedule() if g.source.kind == kind for i in g.items]


@pytest.mark.db
def test_a_fresh_install_lists_everything_it_ships_for_review(world):
    # Nothing in comms_templates or role_definitions: the shipped ones live in code.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CommsTemplate)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RoleDefinition)) == 0
    found = kinds(reviews.schedule())
    assert found["severity_level"] == ["1", "2", "3", "4"]
    assert found["postmortem_template"] == ["executive_summary", "detailed_technical", "lightweight",
                                            "quick_retrospective"]
    assert found["comms_template"] == ["internal_technical", "management", "resolution", "customer_notice",
                                       "partner_notice", "regulatory", "social", "press"]
    assert found["comms_template"] == list(comms_defaults.TEMPLATE_KEYS)
    assert found["role_checklist"] == ["commander", "deputy", "technical_lead", "comms_lead", "scribe", "sme",
                                       "customer_liaison", "internal_liaison"]
    assert all(i.state(T0.date()) == "unowned" for g in reviews.schedule() for i in g.items)
    [commander] = [i for g in reviews.schedule() for i in g.items if i.ref == "commander"]
    assert (commander.title, commander.link) == ("Incident Commander", ("comms.edit_role", {"key": "commander"}))


@pytest.mark.db
def test_an_owner_without_a_date_is_due_a_quarter_on_and_only_admins_assign(world):
    admin, owner, other = world
    item = reviews.set_schedule(actor(admin), "postmortem_template", "lightweight", T0, owner_id=owner.id,
                                next_review_on=None)
    assert (item.owner.id, item.next_review_on) == (owner.id, date(2026, 6, 2))
    level = reviews.set_schedule(actor(admin), "severity_level", "1", T0, owner_id=owner.id,
                                 next_review_on=date(2026, 4, 1))
    assert level.next_review_on == date(2026, 4, 1)
    row = db.session.get(SeverityLevel, 1)
    assert (row.owner_id, row.next_review_on) == (owner.id, date(2026, 4, 1))  # the severity model's own columns
    with pytest.raises(Forbidden):
        reviews.set_schedule(actor(owner), "severity_level", "2", T0, owner_id=owner.id, next_review_on=None)
    db.session.commit()
    entries = db.session.scalars(sa.select(AuditEntry.summary).where(AuditEntry.action == "review.schedule")).all()
    assert len(entries) == 2 and "Olu Owner" in entries[0]


@pytest.mark.db
def test_recording_a_review_moves_the_next_date_and_is_audited(world):
    admin, owner, other = world
    reviews.set_schedule(actor(admin), "severity_level", "2", T0, owner_id=owner.id, next_review_on=T0.date())
    with pytest.raises(Forbidden):
        reviews.record_review(actor(other), "severity_level", "2", T0)
    with pytest.raises(DomainError):
        reviews.record_review(actor(owner), "severity_level", "2", T0, next_review_on=T0.date())
    item = reviews.record_review(actor(owner), "severity_level", "2", T0, note="Objectives still right")
    assert item.next_review_on == date(2026, 6, 2) and item.last_reviewed_by == "Olu Owner"
    assert item.state(T0.date()) == "scheduled"
    db.session.commit()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "review.recorded"))
    assert entry.after == {"next_review_on": "2026-06-02", "note": "Objectives still right"}
    assert entry.before == {"next_review_on": "2026-03-02"} and entry.object_type == "severity_level"


@pytest.mark.db
def test_the_owner_is_reminded_on_the_day_and_a_week_later_once_each(world, mailbox):
    admin, owner, _ = world
    reviews.set_schedule(actor(admin), "postmortem_template", "lightweight", T0, owner_id=owner.id,
                         next_review_on=date(2026, 3, 10))
    db.session.commit()
    engine = Engine(all_jobs(), holder="test")

    def tick(at):
        clock.set(at)
        return engine.cycle()

    tick(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))
    planned = {r.which: r.due_at for r in db.session.scalars(sa.select(ReviewReminder))}
    assert planned == {"due": datetime(2026, 3, 10, 13, 0, tzinfo=UTC)}  # 09:00 in New York (EDT)
    assert mailbox.messages == []
    report = tick(datetime(2026, 3, 10, 13, 0, tzinfo=UTC))
    assert report.done["review_reminders"] == 1
    [first] = mailbox.messages
    assert first["To"] == owner.email and "Review due: post-mortem templates, Lightweight" in first["Subject"]
    assert "/insights/reviews" in first.get_content()
    tick(datetime(2026, 3, 10, 14, 0, tzinfo=UTC))
    assert len(mailbox.messages) == 1  # never twice
    tick(datetime(2026, 3, 17, 13, 0, tzinfo=UTC))
    assert len(mailbox.messages) == 2 and "is overdue" in mailbox.messages[1].get_content()
    keys = db.session.scalars(sa.select(Notification.key).where(Notification.purpose == "reminder")).all()
    assert len(keys) == len(set(keys)) == 2


@pytest.mark.db
def test_after_an_outage_only_the_latest_reminder_goes_and_a_review_stops_them(world, mailbox):
    admin, owner, _ = world
    reviews.set_schedule(actor(admin), "severity_level", "3", T0, owner_id=owner.id, next_review_on=date(2026, 3, 3))
    reviews.set_schedule(actor(admin), "severity_level", "4", T0, owner_id=owner.id, next_review_on=date(2026, 3, 20))
    db.session.commit()
    engine = Engine(all_jobs(), holder="test")
    clock.set(datetime(2026, 3, 12, 15, 0, tzinfo=UTC))  # SEV-3's day and week-later reminders are both due
    engine.cycle()
    [message] = mailbox.messages
    assert "SEV-3" in message["Subject"] and "is overdue" in message.get_content()
    reviews.record_review(actor(owner), "severity_level", "4", clock.now())
    db.session.commit()
    clock.set(datetime(2026, 3, 20, 15, 0, tzinfo=UTC))
    engine.cycle()
    assert len(mailbox.messages) == 1  # SEV-4 was reviewed early: its date moved


@pytest.mark.db
def test_communication_templates_and_role_checklists_follow_their_edits(world):
    admin, owner, _ = world
    # An edit of a shipped template or role replaces it (one entry, its new name); an
    # admin's own template joins; a retired one leaves.
    library.save(actor(admin), "press", T0, name="Press statement", audience="press", description="",
                 subject="{{ title }}", body="{{ summary }}")
    mine = library.save(actor(admin), None, T0, name="Board briefing", audience="management", description="",
                        subject="{{ title }}", body="{{ summary }}")
    library.save(actor(admin), "social", T0, name="Social media post", audience="social", description="",
                 subject="", body="{{ summary }}", active=False)
    roles.save_definition(actor(admin), "scribe", T0, name="Note taker", description="Keeps the timeline",
                          checklist=["Write it all down"])
    db.session.commit()
    found = kinds(reviews.schedule())
    assert mine.key == "custom_board_briefing"
    assert found["comms_template"] == ["internal_technical", "management", "resolution", "customer_notice",
                                       "partner_notice", "regulatory", "press", "custom_board_briefing"]
    assert titles("comms_template")[-2:] == ["Press statement", "Board briefing"]
    assert len(found["role_checklist"]) == 8 and titles("role_checklist")[4] == "Note taker"

    # They are scheduled, reviewed and reminded like everything else.
    item = reviews.set_schedule(actor(admin), "role_checklist", "commander", T0, owner_id=owner.id,
                                next_review_on=None)
    assert (item.title, item.next_review_on) == ("Incident Commander", date(2026, 6, 2))
    item = reviews.set_schedule(actor(admin), "comms_template", "custom_board_briefing", T0, owner_id=owner.id,
                                next_review_on=date(2026, 3, 3))
    assert item.state(T0.date()) == "soon"
    reviewed = reviews.record_review(actor(owner), "role_checklist", "commander", T0)
    assert reviewed.last_reviewed_by == "Olu Owner"
    with pytest.raises(NotFound):
        reviews.set_schedule(actor(admin), "comms_template", "social", T0, owner_id=owner.id, next_review_on=None)
    with pytest.raises(NotFound):
        reviews.set_schedule(actor(admin), "role_checklist", "janitor", T0, owner_id=owner.id, next_review_on=None)
    db.session.commit()
    assert [(i.ref, i.owner.name) for i in reviews.due_for(owner, date(2026, 3, 3))] == [
        ("custom_board_briefing", "Olu Owner")]


@pytest.mark.db
def test_the_owner_of_a_communication_template_is_reminded(world, mailbox):
    admin, owner, _ = world
    reviews.set_schedule(actor(admin), "comms_template", "customer_notice", T0, owner_id=owner.id,
                         next_review_on=date(2026, 3, 10))
    db.session.commit()
    engine = Engine(all_jobs(), holder="test")
    clock.set(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))
    engine.cycle()
    clock.set(datetime(2026, 3, 10, 13, 0, tzinfo=UTC))  # 09:00 in New York (EDT)
    engine.cycle()
    [message] = mailbox.messages
    assert message["To"] == owner.email
    assert "Review due: communication templates, Customer notice" in message["Subject"]


def test_the_page_and_its_forms(world, client):
    admin, owner, other = world
    login(client, owner)
    page = client.get("/insights/reviews")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "SEV-1 · Critical" in text and "Communication templates" in text
    assert "Customer notice" in text and "Communications Lead" in text and "Not built yet" not in text
    refused = client.post("/insights/reviews/severity_level/1/schedule", data={"owner_id": str(owner.id)})
    assert refused.status_code == 403
    login(client, admin)
    answer = client.post("/insights/reviews/severity_level/1/schedule",
                         data={"owner_id": str(owner.id), "next_review_on": "2026-03-02"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("#review-severity_level-1")
    assert client.post("/insights/reviews/severity_level/9/schedule", data={}).status_code == 404
    login(client, other)
    assert client.post("/insights/reviews/severity_level/1/reviewed", data={}).status_code == 403
    login(client, owner)
    assert "Overdue" not in client.get("/insights/reviews").get_data(as_text=True)  # due today
    answer = client.post("/insights/reviews/severity_level/1/reviewed", data={"note": "Fine", "next_review_on": ""})
    assert answer.status_code == 303
    assert db.session.get(SeverityLevel, 1).next_review_on == date(2026, 6, 2)
    bad = client.post("/insights/reviews/severity_level/1/reviewed", data={"next_review_on": "2026-01-01"})
    assert bad.status_code == 400 and "after today" in bad.get_data(as_text=True)
