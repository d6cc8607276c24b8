"""`flask --app wsgi import grafana-oncall` against a loopback Grafana OnCall (tests/
vendors/grafana_oncall.py): the whole organisation comes in through the service
functions; the token is sent bare as OnCall wants it and a wrong one writes nothing;
every page is followed through `next`; a 429 is waited out as Retry-After says
(recorded, not waited); a second run updates in place and makes nothing new; a dry
run leaves every row as it was; and for the imported schedules Firebreak names the
same person on call as OnCall's own final shifts at a dozen instants on both sides of
New York's change to summer time."""
from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
import requests
import sqlalchemy as sa

from app import clock
from app.auth.models import Role, Team, TeamMembership, User
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.importers.grafana_oncall import import_grafana_oncall
from app.importers.models import ImportedObject
from app.notify.models import Channel, NotificationRule
from app.oncall import compute
from app.oncall.models import Override, Schedule
from app.oncall.specs import load_spec
from app.services.models import IntegrationKey, MaintenanceState, MaintenanceWindow, Service
from tests.importing import count, person, by_name
from tests.vendors.grafana_oncall import (
    ALICE, BOB, CAROL, DAVE, LEGACY_SCHEDULE, NOW, PAYMENTS_SCHEDULE, PLATFORM_SCHEDULE, TOKEN, FakeGrafanaOnCall,
)
from tests.whole_database import every_row

# The tests that write the most (the whole import or file, a second run, a dry run)
# also run on PostgreSQL (pytest.mark.db); the rest on SQLite alone.


@pytest.fixture
def oncall(app):
    clock.set(NOW)
    fake = FakeGrafanaOnCall(page_size=2)  # two a page: every list takes several
    yield fake
    fake.close()


def run(runner, fake, *args, token=TOKEN):
    return runner.invoke(args=["import", "grafana-oncall", "--url", fake.url, "--token", token, *args])


@pytest.mark.db
def test_the_whole_organisation_comes_in(app, runner, oncall):
    answer = run(runner, oncall)
    assert answer.exit_code == 0, answer.output
    out = answer.output
    assert out.startswith("Import from Grafana OnCall\n")

    # Every API request carried the bare token; the iCal calendar (elsewhere) never got it.
    api = [r for r in oncall.requests if r.path.startswith("/api/v1/")]
    assert api and all(r.headers["authorization"] == TOKEN for r in api)
    calendars = [r for r in oncall.requests if r.path.startswith("/ical/")]
    assert len(calendars) == 1 and "authorization" not in calendars[0].headers
    # Every page of every list was read by following `next` (5 users two a page: 3 pages).
    pages = sorted(r.query.get("page", ["1"])[0] for r in api if r.path == "/api/v1/users/")
    assert pages == ["1", "2", "3"]

    # People without a password, their roles, zones, teams, a verified email and rules.
    alice, bob, carol, erin = (person(f"{n}@acme.example") for n in ("alice", "bob", "carol", "erin"))
    assert (alice.name, alice.role, bob.role, erin.role) == ("alice", Role.ADMIN, Role.RESPONDER, Role.VIEWER)
    assert (alice.time_zone, bob.time_zone) == ("Europe/Berlin", "America/New_York")
    assert all(u.password_hash is None for u in db.session.scalars(sa.select(User)))
    assert "made without a password" in out and "password reset, an invitation or single sign-on" in out
    assert [(m.channel, m.address, m.verified) for m in alice.contact_methods] == \
        [(Channel.EMAIL, "alice@acme.example", True)]
    high = db.session.scalars(sa.select(NotificationRule).where(NotificationRule.user_id == carol.id,
                                                                NotificationRule.urgency == "high")).all()
    assert [(r.contact_method.channel, r.delay_minutes) for r in high] == [(Channel.EMAIL, 1)]  # after a 60 s wait
    assert "alice's phone number: OnCall's API does not give it" in out
    assert "bob's notification rules by Slack" in out
    payments = by_name(Team, "Payments")
    assert sorted(m.user.name for m in db.session.scalars(
        sa.select(TeamMembership).where(TeamMembership.team_id == payments.id))) == ["alice", "bob", "carol"]

    # Schedules: the Terraform kind in New York with its two layers, the business-hours
    # one on top and restricted; the web one kept in UTC; the iCal one as overrides.
    primary = by_name(Schedule, "Payments primary")
    assert (primary.time_zone, primary.team_id) == ("America/New_York", payments.id)
    top, bottom = primary.layers
    assert (top.name, bottom.name) == ("Payments business hours", "Payments weekly")
    weekly, business = bottom.versions[0], top.versions[0]
    assert (weekly.shift_unit.value, weekly.shift_length, weekly.handoff_time, weekly.handoff_weekday) == \
        ("weeks", 1, time(9, 0), 0)
    assert weekly.participant_ids == [alice.id, bob.id, carol.id]
    assert business.restrictions == [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
    platform = by_name(Schedule, "Platform")
    assert platform.time_zone == "UTC" and "made in UTC, not Europe/Berlin" in out
    legacy = by_name(Schedule, "Legacy database")
    legacy_overrides = db.session.scalars(sa.select(Override).where(Override.schedule_id == legacy.id)
                                          .order_by(Override.starts_at)).all()
    assert [(o.user.name, o.starts_at.hour, o.ends_at.hour) for o in legacy_overrides] == \
        [("erin", 8, 16), ("erin", 8, 16), ("erin", 8, 16), ("dave", 17, 23), ("erin", 8, 16), ("erin", 8, 16)]

    # Escalation: waits became the steps' delays, repeat_escalation five repeats, a
    # round robin for 'next each time'; Slack groups and webhooks are said not mapped.
    policy = by_name(EscalationPolicy, "Payments default")
    assert policy.repeat == 5
    assert [(s.delay_minutes, s.mode, [(t.kind, t.ref) for t in s.targets]) for s in policy.steps] == [
        (5, "all", [("schedule", primary.id)]), (10, "all", [("user", alice.id), ("user", bob.id)]),
        (15, "all", [("team", by_name(Team, "Platform").id)])]
    platform_policy = by_name(EscalationPolicy, "Platform")
    assert [(s.delay_minutes, s.mode) for s in platform_policy.steps] == [(15, "round_robin"), (1, "all")]
    assert "step notify_user_group: Slack user groups are not Firebreak targets" in out
    assert "step trigger_webhook" in out

    # Integrations: services with their chain's policy and a key, each one's new URL said.
    prometheus = by_name(Service, "Payments Alertmanager")
    assert prometheus.escalation_policy_id == policy.id and prometheus.team_id == payments.id
    key = prometheus.active_keys[0].key
    assert f"/integrations/alertmanager/{key}" in out
    grafana = by_name(Service, "Platform Grafana Alerting")
    assert f"PagerDuty contact point with integration key {grafana.active_keys[0].key}" in out
    assert f"/v2/enqueue with routing_key {by_name(Service, 'CI webhook').active_keys[0].key}" in out
    assert by_name(Service, "Direct paging") is None and "integration Direct paging: OnCall's direct paging" in out
    window = db.session.scalar(sa.select(MaintenanceWindow))
    assert [s.name for s in window.services] == ["Platform Grafana Alerting"]
    assert window.state == MaintenanceState.IN_PROGRESS


def test_a_wrong_token_is_refused_and_nothing_is_written(app, runner, oncall):
    before = every_row()
    answer = run(runner, oncall, token="not-the-token")
    assert answer.exit_code == 1
    assert "Grafana OnCall refused the credentials (403)" in answer.output
    assert oncall.requests[0].headers["authorization"] == "not-the-token"
    assert every_row() == before
    # A URL that is not one is refused before anything is asked.
    asked = len(oncall.requests)
    bad = runner.invoke(args=["import", "grafana-oncall", "--url", "oncall.example", "--token", TOKEN])
    assert bad.exit_code == 1 and "--url is the OnCall API URL" in bad.output
    assert len(oncall.requests) == asked and every_row() == before
    # The URL may be given with /api/v1 after it, as some copy it.
    assert run(runner, oncall, "--dry-run").exit_code == 0
    with_path = runner.invoke(args=["import", "grafana-oncall", "--url", f"{oncall.url}/api/v1/", "--token", TOKEN,
                                    "--dry-run"])
    assert with_path.exit_code == 0, with_path.output  # /api/v1/api/v1/… would be a 404
    assert every_row() == before


def test_a_429_is_waited_out_as_retry_after_says(app, oncall):
    waits = []
    oncall.rate_limited, oncall.retry_after = 2, "3"
    report = import_grafana_oncall(oncall.url, TOKEN, sleep=waits.append)
    assert waits == [3.0, 3.0]
    assert oncall.requests[0].path == oncall.requests[2].path == "/api/v1/teams/"  # asked again after each
    assert "team Payments" in report.created and count(Team) == 2


@pytest.mark.db
def test_a_second_run_updates_in_place_and_makes_nothing_new(app, runner, oncall):
    assert run(runner, oncall).exit_code == 0
    counts = {model: count(model) for model in (User, Team, Schedule, Override, EscalationPolicy, Service,
                                                IntegrationKey, MaintenanceWindow, ImportedObject)}
    primary = by_name(Schedule, "Payments primary")
    weekly_layer = primary.layers[1]

    # Renamed at OnCall between the runs; a rotation gets a new order.
    oncall.teams[0]["name"] = "Payments & Billing"
    oncall.schedules[0]["name"] = "Payments on call"
    oncall.chains[1]["name"] = "Platform escalation"
    oncall.integrations[0]["name"] = "Prometheus (payments)"
    oncall.shifts[0]["rolling_users"] = [[BOB], [ALICE], [CAROL]]
    oncall.policies[1]["duration"] = 600  # the first wait of Payments default: 5 → 10 minutes
    clock.set(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # mid-week: the new order starts at the next hand-off

    answer = run(runner, oncall)
    assert answer.exit_code == 0, answer.output
    assert "Created (0):" in answer.output
    assert {model: count(model) for model in counts} == counts
    db.session.expire_all()
    assert by_name(Team, "Payments & Billing") is not None and by_name(Team, "Payments") is None
    renamed = by_name(Schedule, "Payments on call")
    assert renamed.id == primary.id
    assert by_name(EscalationPolicy, "Platform escalation") is not None
    assert by_name(Service, "Prometheus (payments)").escalation_policy_id == \
        by_name(EscalationPolicy, "Payments default").id
    assert "team Payments → Payments & Billing" in answer.output
    assert "escalation policy Payments default: steps" in answer.output
    assert [s.delay_minutes for s in by_name(EscalationPolicy, "Payments default").steps] == [10, 10, 15]
    versions = renamed.layers[1].versions
    assert renamed.layers[1].id == weekly_layer.id and len(versions) == 2
    bob, alice = person("bob@acme.example"), person("alice@acme.example")
    assert versions[1].start_local == datetime(2026, 3, 9, 9, 0)  # the next Monday hand-off
    assert versions[1].participant_ids[:2] == [bob.id, alice.id]

    third = run(runner, oncall)  # nothing changed since: all unchanged
    assert "Created (0):" in third.output and "Updated (0):" in third.output

    # Removed at OnCall: the coming override and the weekend rotation go here too; the
    # weekly rotation raised above business hours goes on top.
    next(s for s in oncall.shifts if s["id"] == "OPAYWEEKLY001")["level"] = 5
    oncall.shifts = [s for s in oncall.shifts if s["id"] not in ("OPAYOVERRIDE3", "OPLATWEEKEND5")]
    for schedule in oncall.schedules:
        schedule["shifts"] = [i for i in schedule.get("shifts", []) if i not in ("OPAYOVERRIDE3", "OPLATWEEKEND5")]
    fourth = run(runner, oncall)
    assert fourth.exit_code == 0, fourth.output
    db.session.expire_all()
    assert db.session.scalars(sa.select(Override).where(Override.schedule_id == primary.id)).all() == []
    assert [layer.name for layer in by_name(Schedule, "Platform").layers] == ["Platform daily"]
    assert "layer Platform weekend days of Platform: removed, as in OnCall" in fourth.output
    assert [layer.name for layer in by_name(Schedule, "Payments on call").layers] == \
        ["Payments weekly", "Payments business hours"]
    assert "schedule Payments on call: layers reordered by OnCall's levels" in fourth.output
    assert "Created (0):" in fourth.output


@pytest.mark.db
def test_a_dry_run_writes_nothing(app, runner, oncall):
    before = every_row()
    answer = run(runner, oncall, "--dry-run")
    assert answer.exit_code == 0, answer.output
    assert "(dry run: nothing was written)" in answer.output and "schedule Payments primary" in answer.output
    assert every_row() == before
    # And after a real run, a dry run of changes leaves that as it was too.
    assert run(runner, oncall).exit_code == 0
    oncall.schedules[1]["name"] = "Platform renamed"
    after = every_row()
    assert run(runner, oncall, "--dry-run").exit_code == 0
    assert every_row() == after


def oncall_answer(fake: FakeGrafanaOnCall, schedule_id: str, at: datetime) -> list[str]:
    """OnCall's own answer, through its API: the final shifts of that day holding `at`."""
    day = at.date().isoformat()
    answer = requests.get(f"{fake.url}/api/v1/schedules/{schedule_id}/final_shifts/",
                          params={"start_date": day, "end_date": day}, headers={"Authorization": TOKEN}, timeout=5)
    answer.raise_for_status()
    return [s["user_pk"] for s in answer.json()["results"]
            if datetime.fromisoformat(s["shift_start"]) <= at < datetime.fromisoformat(s["shift_end"])]


PAYMENTS_INSTANTS = [  # New York goes from EST (UTC-5) to EDT (UTC-4) at 2026-03-08 07:00Z
    ("2026-03-02T15:00", DAVE),    # Monday 10:00 EST: business hours, dave's week
    ("2026-03-02T23:00", ALICE),   # Monday evening: alice's week below
    ("2026-03-06T21:30", DAVE),    # Friday 16:30 EST
    ("2026-03-07T12:00", ALICE),   # Saturday
    ("2026-03-08T06:30", ALICE),   # 01:30 EST, just before the change
    ("2026-03-08T07:30", ALICE),   # 03:30 EDT, just after
    ("2026-03-09T12:30", ALICE),   # Monday 08:30 EDT: the 09:00 hand-off is local, not 14:00Z
    ("2026-03-09T13:30", CAROL),   # Monday 09:30 EDT: business hours, carol's week
    ("2026-03-09T21:30", BOB),     # Monday 17:30 EDT: after business hours (21:30Z < 22:00Z)
    ("2026-03-10T15:00", CAROL),   # Tuesday 11:00 EDT
    ("2026-03-10T17:00", ALICE),   # the override, 12:00-18:00 EDT
    ("2026-03-14T12:00", BOB),     # Saturday, bob's week
    ("2026-03-16T13:30", DAVE),    # the third week's business hours
]


def test_firebreak_names_who_oncall_names_on_both_sides_of_a_dst_change(app, runner, oncall):
    assert run(runner, oncall).exit_code == 0
    ids = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave"}
    for schedule_id, name, instants in (
            (PAYMENTS_SCHEDULE, "Payments primary", PAYMENTS_INSTANTS),
            (PLATFORM_SCHEDULE, "Platform", [("2026-03-01T09:00", CAROL), ("2026-03-02T07:59", CAROL),
                                             ("2026-03-02T08:00", DAVE), ("2026-03-07T09:00", CAROL),
                                             ("2026-03-07T12:00", ALICE), ("2026-03-08T18:30", DAVE)])):
        spec = load_spec(by_name(Schedule, name))
        for text, expected in instants:
            at = datetime.fromisoformat(text).replace(tzinfo=UTC)
            clock.set(at)  # set, never waited for
            theirs = oncall_answer(oncall, schedule_id, clock.now())
            assert theirs == [expected], (name, text, theirs)
            ours = compute.who_is_on_call(spec, clock.now())
            assert ours is not None and db.session.get(User, ours.user_id).name == ids[expected], (name, text)
    assert len(PAYMENTS_INSTANTS) >= 12
    assert LEGACY_SCHEDULE  # the iCal one is checked in test_the_whole_organisation_comes_in


def merged(spans):
    """(start, end, who) spans with adjacent ones of the same person joined."""
    out = []
    for start, end, who in sorted(spans):
        if out and out[-1][2] == who and out[-1][1] == start:
            out[-1] = (out[-1][0], end, who)
        else:
            out.append((start, end, who))
    return out


def test_firebreak_final_shifts_are_oncalls_over_two_weeks(app, runner, oncall):
    """Not only at chosen instants: every hand-off of the fortnight across the DST
    change, Firebreak's final shifts against OnCall's final_shifts export."""
    assert run(runner, oncall).exit_code == 0
    answer = requests.get(f"{oncall.url}/api/v1/schedules/{PAYMENTS_SCHEDULE}/final_shifts/",
                          params={"start_date": "2026-03-02", "end_date": "2026-03-16"},
                          headers={"Authorization": TOKEN}, timeout=5)
    theirs = merged((datetime.fromisoformat(s["shift_start"]), datetime.fromisoformat(s["shift_end"]),
                     s["user_username"]) for s in answer.json()["results"])
    start, end = theirs[0][0], theirs[-1][1]
    names = {u.id: u.name for u in db.session.scalars(sa.select(User))}
    ours = merged((s.start, s.end, names[s.user_id])
                  for s in compute.final_shifts(load_spec(by_name(Schedule, "Payments primary")), start, end))
    assert ours == theirs
