"""Calendar feeds: valid iCalendar, read back with the `icalendar` package, shifts in
the schedule's zone across a DST change, and a revocable token that is the only key."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.extensions import db
from app.oncall import service as oncall
from app.oncall.models import CalendarFeed
from tests.factories import actor, make_user
from tests.oncall_factories import make_layer, make_override, make_schedule

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 2, 25, 12, 0, tzinfo=UTC)  # Wednesday, ten days before DST starts in New York


@pytest.fixture
def world(app):
    clock.set(T0)
    ana = make_user(Role.RESPONDER, name="Ana Ruiz", time_zone="Europe/Madrid")
    ben = make_user(Role.RESPONDER, name="Ben Cole")
    schedule = make_schedule("Payments primary", zone="America/New_York")
    make_layer(schedule, [ana, ben], name="Primary")
    make_override(schedule, ben, datetime(2026, 3, 3, 23, tzinfo=UTC), datetime(2026, 3, 4, 3, tzinfo=UTC))
    feed, secret = oncall.create_feed(actor(ana), schedule=schedule, now=T0, reminder_minutes=30)
    mine, my_secret = oncall.create_feed(actor(ana), person=ana, now=T0)
    db.session.commit()
    return dict(ana=ana, ben=ben, schedule=schedule, feed=feed, secret=secret, mine=mine, my_secret=my_secret)


def events(body: bytes):
    calendar = Calendar.from_ical(body)
    return calendar, [c for c in calendar.walk("VEVENT")]


@pytest.mark.db
def test_the_schedule_feed_is_valid_icalendar_in_the_schedules_zone_across_dst(client, world):
    answer = client.get(f"/schedules/{world['schedule'].id}/oncall.ics?token={world['secret']}")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar, found = events(answer.data)
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"]) == "-//Firebreak//On-call//EN"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    starts = {e.decoded("DTSTART") for e in found}
    # Weekly 09:00 Monday handoffs, before and after the change on 8 March: 09:00 local both times.
    before, after = datetime(2026, 3, 2, 9, tzinfo=NY), datetime(2026, 3, 9, 9, tzinfo=NY)
    assert before in starts and after in starts
    assert {e.decoded("DTSTART").utcoffset() for e in found if e.decoded("DTSTART") in (before, after)} == {
        timedelta(hours=-5), timedelta(hours=-4)}
    week = next(e for e in found if e.decoded("DTSTART") == before and "Ana Ruiz" in str(e["SUMMARY"]))
    assert week.decoded("DTEND") == datetime(2026, 3, 3, 18, tzinfo=NY)  # until Ben's override
    assert "TZID=America/New_York" in answer.get_data(as_text=True)
    override = next(e for e in found if "Override" in str(e["DESCRIPTION"]))
    assert str(override["SUMMARY"]) == "Ben Cole on call (Payments primary)"
    alarms = week.walk("VALARM")
    assert len(alarms) == 1 and alarms[0].decoded("TRIGGER") == timedelta(minutes=-30)
    assert len({str(e["UID"]) for e in found}) == len(found)
    # A refresh gives the same events (same UIDs), so calendars update rather than duplicate.
    again = client.get(f"/schedules/{world['schedule'].id}/oncall.ics?token={world['secret']}")
    assert {str(e["UID"]) for e in events(again.data)[1]} == {str(e["UID"]) for e in found}


@pytest.mark.db
def test_the_person_feed_has_only_their_shifts_in_their_zone(client, world):
    ana = world["ana"]
    answer = client.get(f"/people/{ana.id}/oncall.ics?token={world['my_secret']}")
    assert answer.status_code == 200
    calendar, found = events(answer.data)
    assert found and all(str(e["SUMMARY"]) == "On call: Payments primary" for e in found)
    assert all("Ana Ruiz" in str(e["DESCRIPTION"]) for e in found)
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Madrid"]
    assert datetime(2026, 3, 2, 15, tzinfo=ZoneInfo("Europe/Madrid")) in {e.decoded("DTSTART") for e in found}
    assert not any(e.walk("VALARM") for e in found)


@pytest.mark.db
def test_a_missing_wrong_or_revoked_token_gets_404_and_changes_nothing(client, world):
    schedule, ana = world["schedule"], world["ana"]
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    for url in [f"/schedules/{schedule.id}/oncall.ics", f"/schedules/{schedule.id}/oncall.ics?token=",
                f"/schedules/{schedule.id}/oncall.ics?token=fbcal_wrong",
                f"/schedules/{schedule.id + 1}/oncall.ics?token={world['secret']}",
                f"/schedules/{schedule.id}/oncall.ics?token={world['my_secret']}",  # a person's link
                f"/people/{ana.id}/oncall.ics?token={world['secret']}",
                f"/people/{world['ben'].id}/oncall.ics?token={world['my_secret']}"]:
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert b"BEGIN:VCALENDAR" not in answer.data
    assert db.session.scalar(sa.select(CalendarFeed.last_used_at).where(CalendarFeed.id == world["feed"].id)) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit_before
    oncall.revoke_feed(actor(ana), world["feed"], T0)
    db.session.commit()
    assert client.get(f"/schedules/{schedule.id}/oncall.ics?token={world['secret']}").status_code == 404
    assert client.post(f"/schedules/{schedule.id}/oncall.ics?token={world['secret']}").status_code == 405


@pytest.mark.db
def test_reading_a_feed_is_noted_at_most_every_few_minutes(client, world):
    url = f"/schedules/{world['schedule'].id}/oncall.ics?token={world['secret']}"
    client.get(url)
    assert db.session.get(CalendarFeed, world["feed"].id).last_used_at == T0
    clock.set(T0 + timedelta(minutes=2))
    client.get(url)
    db.session.expire_all()
    assert db.session.get(CalendarFeed, world["feed"].id).last_used_at == T0
