"""`flask --app wsgi import pagerduty` against a loopback PagerDuty (tests/vendors/
pagerduty.py): the whole organisation comes in through the service functions; the
key is sent as PagerDuty wants it and a wrong one writes nothing; pages are followed;
a 429 is waited out as Retry-After says (recorded, not waited); a second run updates
in place; a dry run leaves every row as it was; and for the imported schedules
Firebreak names the same person on call as PagerDuty's own answer at a dozen instants
on both sides of a daylight-saving change."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role, Team, User
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.importers.models import ImportedObject
from app.importers.pagerduty import import_pagerduty
from app.notify import contacts
from app.notify.models import Channel
from app.oncall import compute
from app.oncall.models import Override, Schedule
from app.oncall.specs import load_spec
from app.services.models import IntegrationKey, MaintenanceWindow, Service
from tests.importing import count, person, by_name
from tests.vendors.pagerduty import API_KEY, FakePagerDuty
from tests.whole_database import every_row

# The tests that write the most (the whole import or file, a second run, a dry run)
# also run on PostgreSQL (pytest.mark.db); the rest on SQLite alone.

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, a week before New York's clocks go forward


@pytest.fixture
def pagerduty(app):
    clock.set(T0)
    fake = FakePagerDuty()
    app.config["PAGERDUTY_API_BASE"] = fake.url
    yield fake
    fake.close()


def run(runner, *args, key=API_KEY):
    return runner.invoke(args=["import", "pagerduty", "--api-key", key, *args])


@pytest.mark.db
def test_the_whole_organisation_comes_in(app, runner, pagerduty):
    answer = run(runner)
    assert answer.exit_code == 0, answer.output
    out = answer.output
    assert out.startswith("Import from PagerDuty\n")

    # Every request carried the key and the version header the way PagerDuty wants them.
    assert pagerduty.requests and all(r.headers["authorization"] == f"Token token={API_KEY}"
                                      and r.headers["accept"] == "application/vnd.pagerduty+json;version=2"
                                      for r in pagerduty.requests)

    # People, without a password, with their roles, zones, verified methods and rules.
    ada, bob, carol = person("ada@example.com"), person("bob@example.com"), person("carol@example.com")
    assert (ada.role, bob.role, person("dan@example.com").role, person("eve@example.com").role) == \
        (Role.ADMIN, Role.RESPONDER, Role.RESPONDER, Role.VIEWER)
    assert all(u.password_hash is None for u in db.session.scalars(sa.select(User)))
    assert "without a password" in out and "password reset, an invitation or single sign-on" in out
    assert (ada.time_zone, bob.phone) == ("Europe/Berlin", "+12125550101")
    assert sorted((m.channel.value, m.address, m.verified) for m in ada.contact_methods) == [
        ("email", "ada@example.com", True), ("sms", "+49301234567", True), ("voice", "+49301234567", True)]
    high = [(r.contact_method.channel, r.delay_minutes, r.chosen) for r in contacts.rules_for(ada, "high")]
    assert high == [(Channel.SMS, 0, True), (Channel.VOICE, 2, True), (Channel.EMAIL, 5, True)]
    assert [(r.contact_method.channel, r.delay_minutes) for r in contacts.rules_for(carol, "high")] == \
        [(Channel.VOICE, 1)]  # her push rule has no Firebreak channel
    assert "Carol Shaw's iPhone (push notification)" in out and "Frank Oz's WhatsApp (whatsapp)" in out

    # Teams with their members and managers.
    payments = by_name(Team, "Payments")
    assert sorted((m.user.name, m.is_manager) for m in payments.memberships) == [
        ("Ada Lovelace", True), ("Bob Kahn", False), ("Carol Shaw", False)]

    # Schedules: layers in PagerDuty's order (the first listed wins), ended layers left out.
    nyc = by_name(Schedule, "Payments Primary")
    assert (nyc.time_zone, nyc.team_id) == ("America/New_York", payments.id)
    assert [layer.name for layer in nyc.layers] == ["Daytime", "Weekly"]  # highest first
    daytime = nyc.layers[0].versions[0]
    assert (daytime.shift_unit.value, daytime.shift_length, daytime.handoff_time.isoformat(),
            daytime.restrictions) == ("days", 1, "08:00:00", [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "08:00",
                                                                "end": "18:00"}])
    weekly = nyc.layers[1].versions[0]
    assert (weekly.shift_unit.value, weekly.handoff_weekday, weekly.participant_ids) == \
        ("weeks", 0, [ada.id, bob.id, carol.id])
    assert [layer.name for layer in by_name(Schedule, "Database").layers] == ["Follow the sun"]
    weekdays = by_name(Schedule, "Platform").layers[1].versions[0]
    assert weekdays.restrictions == [{"days": [0, 1, 2, 3, 4], "start": "00:00", "end": "00:00"}]
    override = db.session.scalar(sa.select(Override).where(Override.schedule_id == nyc.id))
    assert (override.user.name, override.starts_at) == ("Frank Oz", datetime(2026, 3, 10, 22, tzinfo=UTC))

    # Escalation policies: rules, targets, loops (Database's 12 loops are Firebreak's 9, said so).
    policy = by_name(EscalationPolicy, "Payments")
    assert policy.repeat == 2
    assert [(s.delay_minutes, s.mode, [(t.kind, t.ref) for t in s.targets]) for s in policy.steps] == [
        (15, "all", [("schedule", nyc.id)]), (30, "all", [("user", ada.id), ("user", bob.id)])]
    assert by_name(EscalationPolicy, "Platform").steps[0].mode == "round_robin"
    assert by_name(EscalationPolicy, "Database").repeat == 9 and "loops 12 times in PagerDuty; here 9" in out

    # Services keep their Events API v2 keys: only the URL changes.
    checkout = by_name(Service, "Checkout API")
    assert (checkout.ack_timeout_minutes, checkout.auto_resolve_minutes, checkout.escalation_policy_id) == \
        (30, 240, policy.id)
    assert sorted(k.key for k in checkout.integration_keys) == ["0123456789abcdef0123456789abcdef",
                                                               "6f2b1c9a0d4e4f7a8b3c2d1e0f9a8b7c"]
    assert by_name(Service, "Search").active is False
    base = app.config["PUBLIC_BASE_URL"]
    assert (f"Checkout API / Prometheus: {base}/v2/enqueue with routing key 6f2b1c9a0d4e4f7a8b3c2d1e0f9a8b7c "
            "(the key it sends now: only the URL changes)") in out
    assert "Checkout API / Support inbox (generic email)" in out  # not mapped, and why
    assert "Old cron jobs sends Events API v1" in out
    posted = app.test_client().post("/v2/enqueue", json={
        "routing_key": "6f2b1c9a0d4e4f7a8b3c2d1e0f9a8b7c", "event_action": "trigger",
        "payload": {"summary": "test event after the import", "source": "test", "severity": "critical"}})
    assert posted.status_code == 202

    # Maintenance: the one to come, not the one gone by.
    window = db.session.scalar(sa.select(MaintenanceWindow))
    assert count(MaintenanceWindow) == 1 and window.title == "Payments DB upgrade to 17"
    assert [s.name for s in window.services] == ["Payments DB"]

    # Every change was made by the importer, and audited as such.
    actors = set(db.session.scalars(sa.select(AuditEntry.actor_label).distinct()))
    assert "import from PagerDuty" in actors


def test_a_wrong_key_is_refused_clearly_and_nothing_is_written(app, runner, pagerduty):
    before = every_row()
    answer = run(runner, key="not-the-key")
    assert answer.exit_code != 0
    assert "PagerDuty refused the credentials (401)" in answer.output and "check the key" in answer.output
    assert pagerduty.requests[0].headers["authorization"] == "Token token=not-the-key"
    assert every_row() == before


def test_every_page_is_read(app, runner, pagerduty):
    pagerduty.max_limit = 2  # as if PagerDuty's page were two long: six people are three pages
    assert run(runner).exit_code == 0
    pages = [(r.query["offset"][0], r.query["limit"][0]) for r in pagerduty.requests if r.path == "/users"]
    assert pages == [("0", "100"), ("2", "100"), ("4", "100")]
    assert count(User) == 6 and count(Service) == 3 and count(EscalationPolicy) == 3


def test_a_429_is_waited_out_as_retry_after_says(app, pagerduty):
    waits = []
    pagerduty.rate_limited, pagerduty.retry_after = 2, "7"
    report = import_pagerduty(API_KEY, sleep=waits.append)
    assert waits == [7.0, 7.0]
    assert [r.path for r in pagerduty.requests[:3]] == ["/teams"] * 3  # the same request, asked again
    assert count(User) == 6 and "person Ada Lovelace <ada@example.com>" in report.created


@pytest.mark.db
def test_a_second_run_updates_in_place_and_makes_nothing_new(app, runner, pagerduty):
    assert run(runner).exit_code == 0
    counts = {model: count(model) for model in (User, Team, Schedule, EscalationPolicy, Service, IntegrationKey,
                                                MaintenanceWindow, Override, ImportedObject)}
    nyc_id = by_name(Schedule, "Payments Primary").id

    data = pagerduty.data
    data["teams"][0]["name"] = "Payments & Billing"
    data["schedules"][0]["name"] = "Payments Primary (NY)"
    data["services"][0]["name"] = "Checkout"
    data["escalation_policies"][0]["escalation_rules"][0]["escalation_delay_in_minutes"] = 20
    clock.set(T0 + timedelta(hours=1))
    second = run(runner)
    assert second.exit_code == 0, second.output
    assert "Created (0):" in second.output
    assert {model: count(model) for model in counts} == counts
    assert by_name(Team, "Payments & Billing") is not None and by_name(Team, "Payments") is None
    assert by_name(Schedule, "Payments Primary (NY)").id == nyc_id
    assert by_name(Service, "Checkout").integration_keys[0].key == "6f2b1c9a0d4e4f7a8b3c2d1e0f9a8b7c"
    assert by_name(EscalationPolicy, "Payments").steps[0].delay_minutes == 20
    for label in ("team Payments & Billing", "schedule Payments Primary (NY)", "service Checkout",
                  "escalation policy Payments"):
        assert f"  - {label}\n" in second.output.split("Updated")[1].split("Mapped approximately")[0]

    third = run(runner)
    assert "Created (0):" in third.output and "Updated (0):" in third.output
    assert {model: count(model) for model in counts} == counts


@pytest.mark.db
def test_a_dry_run_leaves_the_whole_database_as_it_was(app, runner, pagerduty):
    before = every_row()
    answer = run(runner, "--dry-run")
    assert answer.exit_code == 0, answer.output
    assert "(dry run: nothing was written)" in answer.output and "person Ada Lovelace" in answer.output
    assert every_row() == before


# Instants around New York's change to summer time (Sunday 8 March 2026, 02:00 → 03:00)
# and Berlin's (Sunday 29 March 2026, 02:00 → 03:00), each chosen where a rule shows:
# a hand-off at local time on either side, a restriction's edge, the override, a gap.
NEW_YORK = ["2026-03-06T12:30:00Z", "2026-03-06T13:30:00Z", "2026-03-07T22:59:00Z", "2026-03-07T23:01:00Z",
            "2026-03-08T06:30:00Z", "2026-03-08T12:30:00Z", "2026-03-09T11:30:00Z", "2026-03-09T12:30:00Z",
            "2026-03-09T21:59:00Z", "2026-03-09T22:01:00Z", "2026-03-11T03:00:00Z", "2026-03-16T10:59:00Z"]
BERLIN = ["2026-03-27T08:30:00Z", "2026-03-27T09:30:00Z", "2026-03-27T22:59:00Z", "2026-03-27T23:01:00Z",
          "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T21:59:00Z", "2026-03-29T22:01:00Z",
          "2026-03-30T07:30:00Z", "2026-03-31T07:59:00Z", "2026-03-31T08:30:00Z", "2026-03-31T09:30:00Z"]

# Twelve-hour turns in UTC, from a layer whose start falls before its first turn, beside
# a layer PagerDuty ended in February (which must name nobody).
DATABASE = ["2026-03-03T05:59:00Z", "2026-03-03T06:00:00Z", "2026-03-03T17:59:00Z", "2026-03-03T18:00:00Z",
            "2026-03-08T06:30:00Z", "2026-03-08T18:30:00Z", "2026-03-09T05:00:00Z", "2026-03-09T07:00:00Z",
            "2026-03-29T00:30:00Z", "2026-03-29T12:30:00Z", "2026-04-01T06:00:00Z", "2026-04-01T17:59:00Z"]


def pagerduty_on_call(fake, schedule_id: str, at: str) -> str | None:
    """PagerDuty's own answer: the final schedule's entry for the minute from `at`."""
    start = datetime.fromisoformat(at.replace("Z", "+00:00"))
    answer = requests.get(f"{fake.url}/schedules/{schedule_id}", timeout=5,
                          params={"since": start.isoformat(), "until": (start + timedelta(minutes=1)).isoformat()},
                          headers={"Authorization": f"Token token={API_KEY}"})
    answer.raise_for_status()
    entries = answer.json()["schedule"]["final_schedule"]["rendered_schedule_entries"]
    assert len(entries) <= 1
    return entries[0]["user"]["summary"] if entries else None


def firebreak_on_call(schedule: Schedule, at: str) -> str | None:
    instant = datetime.fromisoformat(at.replace("Z", "+00:00"))
    found = compute.who_is_on_call(load_spec(schedule, since=T0), instant)
    return db.session.get(User, found.user_id).name if found else None


@pytest.mark.parametrize(("pagerduty_id", "name", "instants", "people"), [
    ("PSNYC01", "Payments Primary", NEW_YORK, 4), ("PSBER02", "Platform", BERLIN, 3),
    ("PSUTC03", "Database", DATABASE, 2)])
def test_firebreak_names_whom_pagerduty_names_across_a_daylight_saving_change(app, runner, pagerduty, pagerduty_id,
                                                                             name, instants, people):
    assert run(runner).exit_code == 0
    schedule = by_name(Schedule, name)
    theirs = [pagerduty_on_call(pagerduty, pagerduty_id, at) for at in instants]
    ours = [firebreak_on_call(schedule, at) for at in instants]
    assert ours == theirs
    assert len(set(theirs) - {None}) == people  # the instants tell people apart, not one name twelve times


def test_the_fake_answers_as_pagerduty_documents_its_schedules(pagerduty):
    """The fake's own answer, checked by hand where the rules differ from a naive reading."""
    # Monday 9 March 07:30 New York summer time (11:30Z): the weekly hand-off at 07:00
    # local has passed, an hour earlier in UTC than the week before; Carol's week is over.
    assert pagerduty_on_call(pagerduty, "PSNYC01", "2026-03-09T11:30:00Z") == "Ada Lovelace"
    assert pagerduty_on_call(pagerduty, "PSNYC01", "2026-03-02T11:30:00Z") == "Bob Kahn"
    assert pagerduty_on_call(pagerduty, "PSNYC01", "2026-03-02T12:30:00Z") == "Carol Shaw"
    assert pagerduty_on_call(pagerduty, "PSNYC01", "2026-03-11T03:00:00Z") == "Frank Oz"  # the override
    # Tuesday 31 March 10:30 Berlin summer time: the two-day turn handed over at 10:00 local.
    assert pagerduty_on_call(pagerduty, "PSBER02", "2026-03-31T08:30:00Z") == "Dan Bricklin"
    assert pagerduty_on_call(pagerduty, "PSBER02", "2026-03-31T07:59:00Z") == "Ada Lovelace"


def test_a_layer_edited_in_pagerduty_replaces_the_old_one_on_the_next_run(app, runner, pagerduty):
    """Editing a layer in PagerDuty ends it and starts a new one (a new id): the next
    run removes the ended layer and adds the new one, and on-call follows."""
    assert run(runner).exit_code == 0
    nyc = pagerduty.data["schedules"][0]
    old = nyc["schedule_layers"][1]
    old["end"] = "2026-03-02T07:00:00-05:00"
    new = {**old, "id": "PLNY003", "name": "Weekly", "start": "2026-03-02T07:00:00-05:00", "end": None,
           "rotation_virtual_start": "2026-03-02T07:00:00-05:00", "users": [old["users"][1], old["users"][0]]}
    nyc["schedule_layers"].insert(1, new)
    clock.set(T0 + timedelta(hours=2))
    answer = run(runner)
    assert answer.exit_code == 0, answer.output
    assert "layer Weekly of Payments Primary was removed: it is no longer in force in PagerDuty" in answer.output
    schedule = by_name(Schedule, "Payments Primary")
    assert [layer.name for layer in schedule.layers] == ["Daytime", "Weekly"]
    instants = NEW_YORK[6:]
    assert [firebreak_on_call(schedule, at) for at in instants] == \
        [pagerduty_on_call(pagerduty, "PSNYC01", at) for at in instants]


def test_the_fakes_two_answers_agree(pagerduty):
    """GET /oncalls names, for each policy level on the schedule, whom the final schedule
    names, with the whole shift around the instant."""
    answer = requests.get(f"{pagerduty.url}/oncalls", timeout=5, headers={"Authorization": f"Token token={API_KEY}"},
                          params={"schedule_ids[]": "PSNYC01", "since": "2026-03-09T11:30:00Z",
                                  "until": "2026-03-09T11:30:00Z"})
    oncalls = answer.json()["oncalls"]
    assert [(o["escalation_policy"]["id"], o["escalation_level"], o["user"]["summary"]) for o in oncalls] == \
        [("PEPAY01", 1, "Ada Lovelace")]
    assert (oncalls[0]["start"], oncalls[0]["end"]) == ("2026-03-09T07:00:00-04:00", "2026-03-09T08:00:00-04:00")


def test_a_name_taken_here_is_imported_beside_it(app, runner, pagerduty):
    from app.escalation.policies import create_policy
    from tests.factories import SYSTEM
    clock.set(T0)
    create_policy(SYSTEM, name="Payments", now=T0)
    db.session.commit()
    answer = run(runner)
    assert answer.exit_code == 0, answer.output
    assert "escalation policy Payments is named Payments (PagerDuty): Firebreak already has one by that name" \
        in answer.output
    assert by_name(EscalationPolicy, "Payments").steps == []  # the one made here is left alone
    assert len(by_name(EscalationPolicy, "Payments (PagerDuty)").steps) == 2


def test_an_object_firebreak_refuses_is_left_out_whole_and_the_rest_comes_in(app, runner, pagerduty):
    """Bob is already here, deactivated: he is adopted as he is, the New York schedule
    (whose rotations name him) is refused by the rotation rules after it was begun, and
    nothing of it stays; the policy that pages it says its target is missing."""
    from app.auth import service as people
    from tests.factories import SYSTEM
    bob = people.create_user(SYSTEM, email="bob@example.com", name="Bob Kahn")
    people.update_user(SYSTEM, bob, active=False)
    db.session.commit()
    answer = run(runner)
    assert answer.exit_code == 0, answer.output
    assert "  - schedule Payments Primary: Bob Kahn is deactivated." in answer.output
    assert by_name(Schedule, "Payments Primary") is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.summary.like("%Payments Primary%"))) == 0
    assert "escalation policy Payments rule 1: target Payments Primary (schedule_reference) was not imported" \
        in answer.output
    assert by_name(Schedule, "Platform") is not None and by_name(EscalationPolicy, "Payments").repeat == 2
