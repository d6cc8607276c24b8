"""`flask --app wsgi import opsgenie` against a loopback Opsgenie (tests/vendors/opsgenie.py):
everything comes across through the service functions; the key goes in Opsgenie's
header and a wrong one writes nothing; the user list is read page by page; a 429 is
waited out as Retry-After says (recorded, not waited); a second run updates in place;
a dry run leaves every row as it was; and for the imported schedules Firebreak names
the person Opsgenie's own who-is-on-call answer names, across the change to summer
time in New York."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.auth.models import Role, Team, TeamMembership, User
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.importers import opsgenie
from app.importers.core import VendorClient
from app.importers.models import ImportedObject
from app.notify.models import Channel, ContactMethod, NotificationRule
from app.oncall import compute
from app.oncall import service as oncall
from app.oncall.models import Override, Schedule, ScheduleLayer
from app.oncall.specs import load_spec
from app.services.models import IntegrationKey, Service
from tests.importing import count, person
from tests.factories import SYSTEM
from tests.vendors import opsgenie as og
from tests.vendors.opsgenie import FakeOpsgenie
from tests.whole_database import assert_same, every_row

# Monday 2 March 2026, noon UTC: New York changes to summer time on Sunday 8 March.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# The tests that write the most (the whole import or file, a second run, a dry run)
# also run on PostgreSQL (pytest.mark.db); the rest on SQLite alone.


@pytest.fixture
def fake(app):
    server = FakeOpsgenie()
    app.config["OPSGENIE_API_BASE"] = server.url
    clock.set(T0)
    yield server
    server.close()


def run_import(runner, *extra, key=og.KEY):
    return runner.invoke(args=["import", "opsgenie", "--api-key", key, *extra])


def schedule_named(name: str) -> Schedule:
    return db.session.scalar(sa.select(Schedule).where(Schedule.name == name))


@pytest.mark.db
def test_the_whole_organisation_comes_across(app, runner, fake):
    result = run_import(runner)
    assert result.exit_code == 0, result.output
    out = result.output

    # Every request carried Opsgenie's header with the key.
    assert fake.requests and {r.headers["authorization"] for r in fake.requests} == {f"GenieKey {og.KEY}"}

    # People: roles mapped, no password, the blocked one deactivated.
    alice, bob, henry, ivan = (person(f"{n}@example.com") for n in ("alice", "bob", "henry", "ivan"))
    assert (alice.name, alice.role, alice.time_zone) == ("Alice Archer", Role.ADMIN, "America/New_York")
    assert bob.role == Role.RESPONDER and henry.role == Role.VIEWER
    assert not ivan.active and alice.active
    assert all(u.password_hash is None for u in db.session.scalars(sa.select(User)))
    assert "made without a password" in out

    # Contact methods (vouched), the app and the disabled one left out; Alice's rule.
    assert {(m.channel, m.address) for m in alice.contact_methods} == {
        (Channel.EMAIL, "alice@example.com"), (Channel.SMS, "+12125550101"), (Channel.VOICE, "+12125550101")}
    assert all(m.verified for m in alice.contact_methods)
    assert {m.channel for m in person("erin@example.com").contact_methods} == {Channel.EMAIL}
    rules = db.session.scalars(sa.select(NotificationRule).where(
        NotificationRule.user_id == alice.id, NotificationRule.urgency == "high")
        .order_by(NotificationRule.delay_minutes)).all()
    assert [(r.contact_method.channel, r.delay_minutes, r.chosen) for r in rules] == [
        (Channel.SMS, 0, True), (Channel.VOICE, 3, True), (Channel.EMAIL, 10, True)]
    assert "mobile contact" in out and "disabled in Opsgenie" in out and "(schedule-start)" in out

    # Teams with members; a team admin is a manager.
    payments = db.session.scalar(sa.select(Team).where(Team.name == "Payments"))
    members = dict(db.session.execute(sa.select(User.email, TeamMembership.is_manager).join(
        TeamMembership, TeamMembership.user_id == User.id).where(TeamMembership.team_id == payments.id)).all())
    assert members == {"alice@example.com": True, "bob@example.com": False, "carol@example.com": False,
                       "erin@example.com": False}

    # Schedules, layers with their turns and windows, overrides.
    primary = schedule_named("Payments primary")
    assert (primary.time_zone, primary.team_id) == ("America/New_York", payments.id)
    layers = {layer.name: layer.versions[-1] for layer in primary.layers}
    office, nights = layers["Business hours"], layers["Nights and weekends"]
    assert (office.shift_unit.value, office.shift_length, office.handoff_weekday, str(office.handoff_time)) == \
        ("weeks", 1, 0, "09:00:00")
    assert office.participant_ids == [alice.id, bob.id]
    assert office.restrictions == [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
    assert (nights.shift_unit.value, str(nights.handoff_time), str(nights.start_date)) == \
        ("days", "17:00:00", "2026-02-02")
    # Each weeknight 17:00-09:00 and the weekend Friday 17:00 to Monday 09:00, cut at midnight.
    assert nights.restrictions == [{"days": [0, 1, 2, 3, 4], "start": "00:00", "end": "09:00"},
                                   {"days": [0, 1, 2, 3, 4], "start": "17:00", "end": "00:00"},
                                   {"days": [5, 6], "start": "00:00", "end": "00:00"}]
    overrides = db.session.scalars(sa.select(Override).where(Override.schedule_id == primary.id)).all()
    assert [(o.user.email, o.starts_at, o.ends_at) for o in overrides] == [
        ("erin@example.com", datetime(2026, 3, 10, 14, tzinfo=UTC), datetime(2026, 3, 10, 18, tzinfo=UTC))]
    platform = schedule_named("Platform")
    assert [layer.name for layer in platform.layers] == ["Follow the sun"]
    assert platform.layers[0].versions[0].shift_unit.value == "hours"
    assert "rotation Team backup of Platform: its participants (Platform) are not people" in out
    assert "override old-cover of Payments primary: over before the import" in out
    assert "override erin-covers-bob of Payments primary: in Opsgenie it covers only some rotations" in out

    # Escalations: rules at the same delay share a step; waits between steps.
    policy = db.session.scalar(sa.select(EscalationPolicy).where(EscalationPolicy.name == "Payments escalation"))
    assert policy.repeat == 2 and policy.team_id == payments.id
    assert [(s.delay_minutes, [(t.kind, t.ref) for t in s.targets]) for s in policy.steps] == [
        (10, [("schedule", primary.id)]), (15, [("user", alice.id)]), (15, [("team", payments.id)])]
    other = db.session.scalar(sa.select(EscalationPolicy).where(EscalationPolicy.name == "Platform escalation"))
    assert [(s.delay_minutes, sorted(t.kind for t in s.targets)) for s in other.steps] == [
        (60, ["schedule"]), (60, ["schedule", "user"])]
    assert "until the alert is closed" in out and "not the next on-call person" in out

    # Integrations: a service each (email left out), with the URL and key to use.
    prometheus = db.session.scalar(sa.select(Service).where(Service.name == "Prometheus"))
    assert prometheus.team.name == "Platform" and prometheus.escalation_policy_id == other.id
    key, base = prometheus.active_keys[0].key, app.config["PUBLIC_BASE_URL"]
    assert f"Prometheus (Prometheus) → POST {base}/integrations/alertmanager/{key}" in out
    api_key = db.session.scalar(sa.select(Service).where(Service.name == "Payments API")).active_keys[0].key
    assert f"POST {base}/v2/enqueue with routing_key {api_key}" in out
    assert "integration Billing mail (Email): Firebreak takes events over HTTP" in out
    assert db.session.scalar(sa.select(Service.active).where(Service.name == "Default API")) is False
    assert count(Service) == 3

    # Every object remembered under its Opsgenie id.
    kinds = dict(db.session.execute(sa.select(ImportedObject.kind, sa.func.count()).group_by(
        ImportedObject.kind)).all())
    assert kinds == {"user": 9, "contact": 15, "team": 2, "schedule": 2, "rotation": 3, "override": 2,
                     "escalation": 2, "integration": 3}


def test_a_wrong_key_is_named_and_nothing_is_written(app, runner, fake):
    before = every_row()
    result = run_import(runner, key="not-the-key")
    assert result.exit_code == 1
    assert "Opsgenie refused the credentials (401)" in result.output
    assert fake.requests[0].headers["authorization"] == "GenieKey not-the-key"
    assert_same(before, every_row())


def test_the_user_list_is_followed_page_by_page(app, runner, fake, monkeypatch):
    monkeypatch.setattr(opsgenie, "PAGE_SIZE", 4)
    assert run_import(runner).exit_code == 0
    pages = [r.query for r in fake.requests if r.path == "/v2/users"]
    assert [(p["offset"], p["limit"]) for p in pages] == [(["0"], ["4"]), (["4"], ["4"]), (["8"], ["4"])]
    assert count(User) == 9


def test_opsgenie_refuses_pages_over_its_limit(app, fake, monkeypatch):
    monkeypatch.setattr(opsgenie, "PAGE_SIZE", 101)
    with pytest.raises(opsgenie.core.ImportFailed, match="answered 422"):
        opsgenie.import_all(og.KEY)
    assert count(User) == 0


def test_a_429_is_waited_out_as_retry_after_says(app, fake):
    fake.rate_limited, fake.retry_after = 2, "7"
    waits = []
    report = opsgenie.import_all(og.KEY, sleep=waits.append)
    assert waits == [7.0, 7.0]
    assert [r.path for r in fake.requests[:3]] == ["/v2/users"] * 3   # the same request, three times
    assert "person Alice Archer <alice@example.com> (admin)" in report.created


@pytest.mark.db
def test_a_second_run_updates_in_place_and_duplicates_nothing(app, runner, fake):
    assert run_import(runner).exit_code == 0
    tables = (User, Team, TeamMembership, Schedule, ScheduleLayer, Override, EscalationPolicy,
              Service, IntegrationKey, ImportedObject)
    counts = {model: count(model) for model in tables}
    key = db.session.scalar(sa.select(IntegrationKey.key).join(Service).where(Service.name == "Prometheus"))

    # Opsgenie's side changes: renames everywhere, and Erin joins the office rotation.
    next(u for u in fake.users if u["id"] == og.ALICE)["fullName"] = "Alice Archer-Smith"
    next(t for t in fake.teams if t["id"] == og.PAYMENTS_TEAM)["name"] = "Payments & Billing"
    schedule = next(s for s in fake.schedules if s["id"] == og.PAYMENTS_SCHEDULE)
    schedule["name"] = "Payments first line"
    schedule["rotations"][0]["participants"].append(og.participant(og.ERIN))
    next(e for e in fake.escalations if e["id"] == og.PAYMENTS_ESCALATION)["name"] = "Payments paging"
    next(i for i in fake.integrations if i["name"] == "Prometheus")["name"] = "Prometheus (prod)"
    next(c for c in fake.contacts[og.BOB] if c["method"] == "sms")["to"] = "1-2125550199"   # a new phone

    again = run_import(runner)
    assert again.exit_code == 0, again.output
    assert "Created (0):" in again.output
    assert {model: count(model) for model in tables} == counts
    for line in ("person Alice Archer-Smith <alice@example.com> (admin)", "team Payments & Billing",
                 "schedule Payments first line (America/New_York)", "escalation policy Payments paging",
                 "service Prometheus (prod)"):
        assert f"  - {line}" in again.output
    assert "layer Business hours of Payments first line: the rotation changes from the next handoff" in again.output
    assert person("alice@example.com").name == "Alice Archer-Smith"
    bob = person("bob@example.com")
    assert {(m.address, m.active, m.verified) for m in bob.contact_methods if m.channel == Channel.SMS} == {
        ("+12125550102", False, True), ("+12125550199", True, True)}   # the old number removed
    assert "  - contact SMS +12125550199 of Bob Baker" in again.output.split("Unchanged")[0].split("Updated")[1]
    assert db.session.scalar(sa.select(IntegrationKey.key).join(Service).where(
        Service.name == "Prometheus (prod)")) == key   # the senders' key stays
    # The rotation change waits for the next handoff (Monday 09:00 New York, later today):
    # Bob keeps the rest of his week.
    office = next(layer for layer in schedule_named("Payments first line").layers if layer.name == "Business hours")
    assert [(str(v.start_date), len(v.participant_ids)) for v in office.versions] == [("2026-02-02", 2),
                                                                                      ("2026-03-02", 3)]

    third = run_import(runner)
    assert "Created (0):" in third.output and "Updated (0):" in third.output, third.output


@pytest.mark.db
def test_a_dry_run_writes_nothing(app, runner, fake):
    before = every_row()
    dry = run_import(runner, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing was written" in dry.output and "person Alice Archer" in dry.output
    assert "(dry run: this key is not kept)" in dry.output
    assert_same(before, every_row())

    # And over an earlier import, with changes waiting on Opsgenie's side.
    assert run_import(runner).exit_code == 0
    next(u for u in fake.users if u["id"] == og.BOB)["fullName"] = "Robert Baker"
    next(s for s in fake.schedules if s["id"] == og.PLATFORM_SCHEDULE)["rotations"][0]["length"] = 8
    before = every_row()
    dry = run_import(runner, "--dry-run")
    assert "person Robert Baker <bob@example.com> (responder)" in dry.output
    assert_same(before, every_row())


def test_overlapping_rotations_and_taken_names_are_reported(app, runner, fake):
    # In Firebreak already, not from Opsgenie: the import keeps its hands off it.
    oncall.create_schedule(SYSTEM, name="Platform", time_zone="UTC", now=T0)
    db.session.commit()
    # Dan instead of the team in the evening rotation: it now overlaps the all-day one.
    platform = next(s for s in fake.schedules if s["id"] == og.PLATFORM_SCHEDULE)
    platform["rotations"][1]["participants"] = [og.participant(og.DAN)]
    out = run_import(runner).output
    assert "schedule 'Platform': the name is taken here, imported as 'Platform (Opsgenie)'" in out
    assert ("schedule Platform (Opsgenie): rotations Follow the sun and Team backup overlap; there Opsgenie puts "
            "both on call, Firebreak the person of the upper layer, Team backup") in out
    assert schedule_named("Platform").layers == []
    imported = schedule_named("Platform (Opsgenie)")
    assert [layer.name for layer in imported.layers] == ["Team backup", "Follow the sun"]   # upper first
    at = datetime(2026, 3, 2, 20, tzinfo=UTC)    # 21:00 Berlin: Grace's night and Dan's evening
    assert compute.who_is_on_call(load_spec(imported), at).user_id == person("dan@example.com").id

    again = run_import(runner).output   # the name it was given stays
    assert "Updated (0):" in again and schedule_named("Platform (Opsgenie)") is not None


def test_firebreak_names_whoever_opsgenie_says_is_on_call(app, runner, fake):
    assert run_import(runner).exit_code == 0
    ask = VendorClient(fake.url, {"Authorization": f"GenieKey {og.KEY}"}, vendor="Opsgenie", sleep=lambda s: None)
    usernames = {u["id"]: u["username"] for u in og.USERS}
    checked = 0
    for vendor_id, answers in og.ON_CALL.items():
        schedule = db.session.get(Schedule, db.session.scalar(sa.select(ImportedObject.object_id).where(
            ImportedObject.kind == "schedule", ImportedObject.vendor_id == vendor_id)))
        for when in answers:
            at = datetime.fromisoformat(when.replace("Z", "+00:00"))
            clock.set(at)
            theirs = ask.get(f"/v2/schedules/{vendor_id}/on-calls", {"date": when})["data"]["onCallParticipants"]
            people_there = [p["name"] for p in theirs if p["type"] == "user"]
            ours = compute.who_is_on_call(load_spec(schedule, since=clock.now()), at)
            assert ours is not None, f"nobody on call on {schedule.name} at {when}"
            assert db.session.get(User, ours.user_id).email == people_there[0], f"{schedule.name} at {when}"
            assert people_there[0] in usernames.values()
            checked += 1
    assert checked >= 12
    # Both sides of the change to summer time were asked (01:30 EST and 03:30 EDT).
    assert {"2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z"} <= set(og.ON_CALL[og.PAYMENTS_SCHEDULE])
    assert len([r for r in fake.requests if r.path.endswith("/on-calls")]) == checked


@pytest.mark.parametrize(("given", "expected"), [
    ({"type": "time-of-day", "restriction": {"startHour": 22, "startMin": 30, "endHour": 6, "endMin": 0}},
     [{"days": [0, 1, 2, 3, 4, 5, 6], "start": "22:30", "end": "06:00"}]),
    ({"type": "weekday-and-time-of-day", "restrictions": [
        {"startDay": "saturday", "startHour": 8, "startMin": 0, "endDay": "saturday", "endHour": 20, "endMin": 0}]},
     [{"days": [5], "start": "08:00", "end": "20:00"}]),
    ({"type": "weekday-and-time-of-day", "restrictions": [
        {"startDay": "monday", "startHour": 9, "startMin": 0, "endDay": "friday", "endHour": 17, "endMin": 0}]},
     [{"days": [0], "start": "09:00", "end": "00:00"}, {"days": [1, 2, 3], "start": "00:00", "end": "00:00"},
      {"days": [4], "start": "00:00", "end": "17:00"}]),
    ({"type": "weekday-and-time-of-day", "restrictions": [
        {"startDay": "sunday", "startHour": 20, "startMin": 0, "endDay": "monday", "endHour": 4, "endMin": 0}]},
     [{"days": [0], "start": "00:00", "end": "04:00"}, {"days": [6], "start": "20:00", "end": "00:00"}]),
    (None, []),
])
def test_restrictions_become_windows_a_day_long_at_most(given, expected):
    assert opsgenie.restrictions(given) == expected


def test_the_region_chooses_the_api_unless_a_base_is_set(app):
    app.config["OPSGENIE_API_BASE"] = ""
    assert opsgenie.api_base("us") == "https://api.opsgenie.com"
    assert opsgenie.api_base("eu") == "https://api.eu.opsgenie.com"
    app.config["OPSGENIE_API_BASE"] = "http://127.0.0.1:9999"
    assert opsgenie.api_base("eu") == "http://127.0.0.1:9999"
