"""Changing schedules through the service functions: the rules, the audit log,
and who is on call afterwards."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.errors import Conflict, DomainError, Forbidden
from app.extensions import db
from app.oncall import compute
from app.oncall import service as oncall
from app.oncall.models import CalendarFeed, Override, RotationVersion
from app.oncall.specs import load_spec
from tests.factories import SYSTEM, actor, make_team, make_user
from tests.oncall_factories import make_layer, make_override, make_schedule

# Wednesday 7 January 2026, 12:00 UTC: the weekly rotations below hand off on Mondays at 09:00.
T0 = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)


def on_call(schedule, at):
    """The person on call at `at`, or None."""
    answer = compute.who_is_on_call(load_spec(schedule), at)
    return db.session.get(User, answer.user_id) if answer else None


def audit_actions():
    return [e.action for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]


@pytest.fixture
def people(app):
    clock.set(T0)
    return [make_user(Role.RESPONDER, name=n) for n in ("Ana", "Ben", "Cy", "Di")]


@pytest.mark.db
def test_admins_make_schedules_and_layers_with_audit_entries(app, people):
    ana, ben, cy, _ = people
    team = make_team("Payments")
    schedule = make_schedule("Payments primary", zone="Europe/London", team=team)
    make_layer(schedule, [ana, ben, cy], name="Primary")
    assert on_call(schedule, T0) == ana  # week of 5 January
    assert on_call(schedule, datetime(2026, 1, 12, 9, tzinfo=UTC)) == ben
    assert audit_actions()[-2:] == ["schedule.create", "schedule.layer_add"]
    with pytest.raises(Forbidden):
        oncall.create_schedule(actor(ana), name="Mine", time_zone="UTC", now=T0)
    with pytest.raises(Conflict):
        oncall.create_schedule(SYSTEM, name="payments PRIMARY", time_zone="UTC", now=T0)
    with pytest.raises(DomainError) as bad:
        oncall.create_schedule(SYSTEM, name="Other", time_zone="Mars/Olympus", now=T0)
    assert bad.value.field == "time_zone"


@pytest.mark.db
def test_layer_rules_are_checked_again_in_the_service(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    base = dict(start_date=date(2026, 1, 5), shift_unit="weeks", shift_length=1, handoff_time=time(9),
                handoff_weekday=0, restrictions=[], now=T0)
    for changes, field in [({"participant_ids": []}, "participant_ids"),
                           ({"participant_ids": [ana.id, ana.id]}, "participant_ids"),
                           ({"participant_ids": [ana.id], "shift_length": 13}, "shift_length"),
                           ({"participant_ids": [ana.id], "shift_unit": "fortnights"}, "shift_unit"),
                           ({"participant_ids": [ana.id], "handoff_weekday": None}, "handoff_weekday"),
                           ({"participant_ids": [ana.id], "restrictions": [{"days": [], "start": "09:00",
                                                                            "end": "17:00"}]}, "restrictions")]:
        with pytest.raises(DomainError) as error:
            oncall.add_layer(SYSTEM, schedule, name="L", **{**base, **changes})
        assert error.value.field == field, changes
        db.session.rollback()
    ben.active = False
    db.session.commit()
    with pytest.raises(DomainError, match="deactivated"):
        oncall.add_layer(SYSTEM, schedule, name="L", participant_ids=[ana.id, ben.id],
                         **{k: v for k, v in base.items()})


@pytest.mark.db
def test_changing_participants_keeps_whoever_is_on_call_until_the_next_handoff(app, people):
    ana, ben, cy, di = people
    schedule = make_schedule("Primary")
    layer = make_layer(schedule, [ana, ben, cy], name="Primary")
    assert on_call(schedule, T0) == ana
    version = oncall.change_layer(SYSTEM, layer, participant_ids=[di.id, cy.id, ben.id], shift_unit="weeks",
                                  shift_length=1, handoff_time=time(9), handoff_weekday=0, restrictions=[], now=T0)
    db.session.commit()
    assert version.start_local == datetime(2026, 1, 12, 9, 0)  # the next handoff
    assert on_call(schedule, T0) == ana  # still Ana now
    assert on_call(schedule, datetime(2026, 1, 12, 8, 59, tzinfo=UTC)) == ana
    # Ben was next in line and is still in the rotation, so he goes next, then the new order.
    assert [on_call(schedule, datetime(2026, 1, 12 + 7 * w, 10, tzinfo=UTC)) for w in range(3)] == [ben, di, cy]
    assert on_call(schedule, datetime(2026, 2, 2, 10, tzinfo=UTC)) == ben
    assert "schedule.layer_change" in audit_actions()


@pytest.mark.db
def test_a_second_change_before_the_handoff_replaces_the_first_and_changing_back_cancels_it(app, people):
    ana, ben, cy, _ = people
    schedule = make_schedule()
    layer = make_layer(schedule, [ana, ben], name="Primary")
    rotation = dict(shift_unit="weeks", shift_length=1, handoff_time=time(9), handoff_weekday=0, restrictions=[])
    oncall.change_layer(SYSTEM, layer, participant_ids=[ana.id, cy.id], now=T0, **rotation)
    oncall.change_layer(SYSTEM, layer, participant_ids=[cy.id, ben.id], now=T0, **rotation)
    db.session.commit()
    assert len(layer.versions) == 2
    assert on_call(schedule, datetime(2026, 1, 13, tzinfo=UTC)) == ben
    oncall.change_layer(SYSTEM, layer, participant_ids=[ana.id, ben.id], now=T0, **rotation)
    db.session.commit()
    assert len(layer.versions) == 1
    assert on_call(schedule, datetime(2026, 1, 13, tzinfo=UTC)) == ben


@pytest.mark.db
def test_changing_the_handoff_time_starts_at_the_first_new_handoff_after_the_old_one(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule(zone="America/New_York")
    layer = make_layer(schedule, [ana, ben], name="Primary")
    version = oncall.change_layer(SYSTEM, layer, participant_ids=[ana.id, ben.id], shift_unit="weeks",
                                  shift_length=1, handoff_time=time(10, 30), handoff_weekday=2, restrictions=[],
                                  now=T0)
    db.session.commit()
    # Old next handoff: Monday 12 January 09:00; new settings: Wednesdays 10:30, so 14 January.
    assert version.start_local == datetime(2026, 1, 14, 10, 30)
    assert on_call(schedule, datetime(2026, 1, 13, 12, tzinfo=UTC)) == ben
    assert on_call(schedule, datetime(2026, 1, 14, 15, 31, tzinfo=UTC)) == ben  # Ben's turn from the new start
    assert on_call(schedule, datetime(2026, 1, 21, 15, 31, tzinfo=UTC)) == ana


@pytest.mark.db
def test_a_layer_that_has_not_started_is_rewritten_and_renaming_needs_no_new_version(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    layer = make_layer(schedule, [ana], name="Later", start=date(2026, 2, 1))
    assert oncall.change_layer(SYSTEM, layer, name="Next month", now=T0) is None
    oncall.change_layer(SYSTEM, layer, participant_ids=[ben.id], shift_unit="days", shift_length=1,
                        handoff_time=time(8), handoff_weekday=None, restrictions=[], now=T0)
    db.session.commit()
    assert [v.start_local for v in layer.versions] == [datetime(2026, 2, 2, 8, 0)]  # its first Monday
    assert layer.name == "Next month"
    assert on_call(schedule, datetime(2026, 2, 2, 9, tzinfo=UTC)) == ben


@pytest.mark.db
def test_layers_stack_and_move(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    lower = make_layer(schedule, [ana], name="All week")
    upper = make_layer(schedule, [ben], name="Business hours", unit="days", weekday=None,
                       restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}])
    assert on_call(schedule, T0) == ben and on_call(schedule, T0.replace(hour=20)) == ana
    assert oncall.move_layer(SYSTEM, upper, up=False, now=T0)
    db.session.commit()
    assert on_call(schedule, T0) == ana
    assert not oncall.move_layer(SYSTEM, upper, up=False, now=T0)
    oncall.remove_layer(SYSTEM, lower, T0)
    db.session.commit()
    assert on_call(schedule, T0) == ben and on_call(schedule, T0.replace(hour=20)) is None


@pytest.mark.db
def test_overrides_by_responders_start_now_at_the_earliest_and_end_rather_than_vanish(app, people):
    ana, ben, _, _ = people
    viewer = make_user(Role.VIEWER)
    schedule = make_schedule()
    make_layer(schedule, [ana], name="Primary")
    override = oncall.add_override(actor(ben), schedule, user_id=ben.id, starts_at=T0 - timedelta(hours=2),
                                   ends_at=T0 + timedelta(hours=4), now=T0)
    db.session.commit()
    assert override.starts_at == T0  # the past is not rewritten
    assert on_call(schedule, T0 + timedelta(hours=1)) == ben
    with pytest.raises(Forbidden):
        oncall.add_override(actor(viewer), schedule, user_id=viewer.id, starts_at=T0, ends_at=T0 + timedelta(hours=1),
                            now=T0)
    with pytest.raises(DomainError, match="already over"):
        oncall.add_override(actor(ben), schedule, user_id=ben.id, starts_at=T0 - timedelta(hours=3),
                            ends_at=T0 - timedelta(hours=1), now=T0)
    with pytest.raises(DomainError, match="after the start"):
        oncall.add_override(actor(ben), schedule, user_id=ben.id, starts_at=T0 + timedelta(hours=3),
                            ends_at=T0 + timedelta(hours=1), now=T0)
    later = T0 + timedelta(hours=2)
    assert oncall.remove_override(actor(ana), override, later) == "ended"
    db.session.commit()
    assert override.ends_at == later and on_call(schedule, later) == ana
    future = make_override(schedule, ben, T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert oncall.remove_override(actor(ana), future, later) == "deleted"
    db.session.commit()
    assert db.session.get(Override, future.id) is None
    with pytest.raises(DomainError, match="over"):
        oncall.remove_override(actor(ana), override, T0 + timedelta(days=3))
    assert audit_actions().count("schedule.override_add") == 2
    assert {"schedule.override_end", "schedule.override_remove"} <= set(audit_actions())


@pytest.mark.db
def test_an_override_changes_whole_before_it_starts_and_only_its_end_while_under_way(app, people):
    ana, ben, cy, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ana], name="Primary")
    override = make_override(schedule, ben, T0 + timedelta(days=1), T0 + timedelta(days=2))
    oncall.change_override(actor(cy), override, now=T0, user_id=cy.id, starts_at=T0 - timedelta(hours=1),
                           note="Cy covers")
    db.session.commit()
    assert (override.user_id, override.starts_at, override.note) == (cy.id, T0, "Cy covers")  # the past: now
    assert on_call(schedule, T0 + timedelta(hours=1)) == cy
    entry = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "schedule.override_change" and set(entry.after) == {"override_id", "user_id", "starts_at",
                                                                                "note"}
    under_way = T0 + timedelta(hours=2)
    with pytest.raises(Conflict, match="begun"):
        oncall.change_override(actor(cy), override, now=under_way, user_id=ben.id)
    with pytest.raises(Conflict, match="begun"):
        oncall.change_override(actor(cy), override, now=under_way, starts_at=under_way)
    with pytest.raises(DomainError, match="already over"):
        oncall.change_override(actor(cy), override, now=under_way, ends_at=T0 + timedelta(hours=1))
    db.session.rollback()
    oncall.change_override(actor(cy), override, now=under_way, ends_at=T0 + timedelta(hours=5))
    db.session.commit()
    assert (override.starts_at, override.ends_at) == (T0, T0 + timedelta(hours=5))
    assert on_call(schedule, T0 + timedelta(hours=6)) == ana
    actions = audit_actions()
    oncall.change_override(actor(cy), override, now=under_way, note="Cy covers")  # nothing changes: no entry
    assert audit_actions() == actions
    with pytest.raises(Forbidden):
        oncall.change_override(actor(make_user(Role.VIEWER)), override, now=under_way, note="x")
    with pytest.raises(Conflict, match="over"):
        oncall.change_override(actor(cy), override, now=T0 + timedelta(days=1), note="late")


@pytest.mark.db
def test_a_swap_trades_two_weeks(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ana, ben], name="Primary")
    week_b = (datetime(2026, 1, 12, 9, tzinfo=UTC), datetime(2026, 1, 19, 9, tzinfo=UTC))
    week_a = (datetime(2026, 1, 19, 9, tzinfo=UTC), datetime(2026, 1, 26, 9, tzinfo=UTC))
    swap = oncall.add_swap(actor(ben), schedule, first_user_id=ben.id, second_user_id=ana.id,
                           first_starts_at=week_b[0], first_ends_at=week_b[1], second_starts_at=week_a[0],
                           second_ends_at=week_a[1], now=T0)
    db.session.commit()
    assert on_call(schedule, datetime(2026, 1, 13, tzinfo=UTC)) == ana
    assert on_call(schedule, datetime(2026, 1, 20, tzinfo=UTC)) == ben
    with pytest.raises(DomainError):
        oncall.add_swap(actor(ben), schedule, first_user_id=ben.id, second_user_id=ben.id,
                        first_starts_at=week_b[0], first_ends_at=week_b[1], now=T0)
    oncall.remove_swap(actor(ben), swap, T0)
    db.session.commit()
    assert on_call(schedule, datetime(2026, 1, 13, tzinfo=UTC)) == ben


@pytest.mark.db
def test_holidays_are_whole_days_in_the_persons_zone_and_every_rotation_skips_them(app, people):
    ana, ben, cy, _ = people
    ben.time_zone = "America/New_York"
    db.session.commit()
    first, second = make_schedule(), make_schedule()
    make_layer(first, [ana, ben, cy], name="Primary")
    make_layer(second, [ben, ana], name="Primary")
    holiday = oncall.add_holiday(actor(ben), ben, first_day=date(2026, 1, 13), last_day=date(2026, 1, 14),
                                 now=T0, note="Dentist")
    db.session.commit()
    assert (holiday.starts_at, holiday.ends_at) == (datetime(2026, 1, 13, 5, tzinfo=UTC),
                                                    datetime(2026, 1, 15, 5, tzinfo=UTC))
    assert on_call(first, datetime(2026, 1, 13, 12, tzinfo=UTC)) == cy
    assert on_call(second, datetime(2026, 1, 13, 12, tzinfo=UTC)) == ana
    assert on_call(first, datetime(2026, 1, 15, 12, tzinfo=UTC)) == ben
    with pytest.raises(Forbidden):
        oncall.add_holiday(actor(ana), ben, first_day=date(2026, 2, 1), last_day=date(2026, 2, 2), now=T0)
    oncall.remove_holiday(actor(ben), holiday, T0)
    db.session.commit()
    assert on_call(first, datetime(2026, 1, 13, 12, tzinfo=UTC)) == ben


@pytest.mark.db
def test_a_temporary_schedule_replaces_the_schedule_for_its_window(app, people):
    ana, ben, cy, di = people
    schedule = make_schedule()
    make_layer(schedule, [ana], name="Primary")
    temporary = oncall.add_temporary(SYSTEM, schedule, name="Offsite", starts_at=datetime(2026, 1, 9, tzinfo=UTC),
                                     ends_at=datetime(2026, 1, 11, tzinfo=UTC), participant_ids=[cy.id, di.id],
                                     shift_unit="days", shift_length=1, now=T0)
    db.session.commit()
    assert on_call(schedule, datetime(2026, 1, 9, 1, tzinfo=UTC)) == cy
    assert on_call(schedule, datetime(2026, 1, 10, 1, tzinfo=UTC)) == di
    assert on_call(schedule, datetime(2026, 1, 11, 1, tzinfo=UTC)) == ana
    with pytest.raises(Forbidden):
        oncall.add_temporary(actor(ben), schedule, name="Mine", starts_at=T0, ends_at=T0 + timedelta(days=1),
                             participant_ids=[ben.id], shift_unit="days", shift_length=1, now=T0)
    assert oncall.remove_temporary(SYSTEM, temporary, T0) == "deleted"


@pytest.mark.db
def test_deactivated_people_are_skipped(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ana, ben], name="Primary")
    ana.active = False
    db.session.commit()
    assert on_call(schedule, T0) == ben


@pytest.mark.db
def test_only_whoever_is_on_call_writes_the_handover_note(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    make_layer(schedule, [ana, ben], name="Primary")
    with pytest.raises(Forbidden):
        oncall.save_handover_note(actor(ben), schedule, "not mine", T0)
    note = oncall.save_handover_note(actor(ana), schedule, "Disk on db-2 at 80%", T0)
    again = oncall.save_handover_note(actor(ana), schedule, "Disk on db-2 at 85%", T0 + timedelta(hours=1))
    db.session.commit()
    assert note.id == again.id and again.text == "Disk on db-2 at 85%"
    with pytest.raises(DomainError):
        oncall.save_handover_note(actor(ana), schedule, "   ", T0)


@pytest.mark.db
def test_calendar_links_are_shown_once_revocable_and_scoped(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    feed, secret = oncall.create_feed(actor(ana), schedule=schedule, now=T0)
    mine, my_secret = oncall.create_feed(actor(ana), person=ana, now=T0, reminder_minutes=15)
    db.session.commit()
    stored = {f.token_hash for f in db.session.scalars(sa.select(CalendarFeed))}
    assert secret.startswith("fbcal_") and secret not in stored
    assert oncall.feed_for(secret, schedule_id=schedule.id, now=T0) == feed
    assert oncall.feed_for(secret, schedule_id=schedule.id + 1, now=T0) is None
    assert oncall.feed_for(secret, user_id=ana.id, now=T0) is None
    assert oncall.feed_for(my_secret, user_id=ana.id, now=T0) == mine
    assert oncall.feed_for("fbcal_wrong", schedule_id=schedule.id, now=T0) is None
    with pytest.raises(Forbidden):
        oncall.create_feed(actor(ben), person=ana, now=T0)
    with pytest.raises(Forbidden):
        oncall.revoke_feed(actor(ben), feed, T0)
    oncall.revoke_feed(actor(ana), feed, T0)
    db.session.commit()
    assert oncall.feed_for(secret, schedule_id=schedule.id, now=T0) is None
    ana.active = False
    db.session.commit()
    assert oncall.feed_for(my_secret, user_id=ana.id, now=T0) is None


@pytest.mark.db
def test_versions_are_kept_as_history(app, people):
    ana, ben, _, _ = people
    schedule = make_schedule()
    layer = make_layer(schedule, [ana], name="Primary")
    oncall.change_layer(SYSTEM, layer, participant_ids=[ben.id], shift_unit="weeks", shift_length=1,
                        handoff_time=time(9), handoff_weekday=0, restrictions=[], now=T0)
    db.session.commit()
    clock.set(T0 + timedelta(days=30))
    oncall.change_layer(SYSTEM, layer, participant_ids=[ana.id, ben.id], shift_unit="weeks", shift_length=1,
                        handoff_time=time(9), handoff_weekday=0, restrictions=[], now=clock.now())
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RotationVersion)) == 3
    assert on_call(schedule, T0) == ana  # history unchanged
