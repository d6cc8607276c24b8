"""Calendar feeds: valid iCalendar, read back with the `icalendar` package, shifts in
the schedule's zone across a DST change, read again by a second parser through the
feed's own VTIMEZONE, and a revocable token that is the only key."""
from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dateutil.tz import tzical
from icalendar import Calendar
from ical.calendar_stream import IcsCalendarStream

from app import clock
from app.audit.models import AuditEntry
from app.auth.models import Role
from app.extensions import db
from app.oncall import compute, feeds
from app.oncall import service as oncall
from app.oncall.models import CalendarFeed
from app.oncall.specs import load_spec
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


AUTUMN = datetime(2026, 10, 15, 12, tzinfo=UTC)  # the feed then runs from mid-September to mid-April
# Each zone's VTIMEZONE over that window: the last change before it, then one each way. Every
# observance starts at the local time before its change (RFC 5545 §3.6.5): New York's spring
# change is at 02:00 EST and its autumn one at 02:00 EDT. (kind, DTSTART, TZOFFSETFROM, TZOFFSETTO)
OBSERVANCES = {
    "America/New_York": [("DAYLIGHT", datetime(2026, 3, 8, 2), -5, -4), ("STANDARD", datetime(2026, 11, 1, 2), -4, -5),
                         ("DAYLIGHT", datetime(2027, 3, 14, 2), -5, -4)],
    "Europe/Berlin": [("DAYLIGHT", datetime(2026, 3, 29, 2), 1, 2), ("STANDARD", datetime(2026, 10, 25, 3), 2, 1),
                      ("DAYLIGHT", datetime(2027, 3, 28, 2), 1, 2)],
    "Australia/Sydney": [("STANDARD", datetime(2026, 4, 5, 3), 11, 10), ("DAYLIGHT", datetime(2026, 10, 4, 2), 10, 11),
                         ("STANDARD", datetime(2027, 4, 4, 3), 11, 10)],
}


def read_back(body: bytes) -> tuple:
    """The feed as a second parser reads it: `ical` (not `icalendar`) parses it, and each
    TZID is resolved through the feed's own VTIMEZONE (dateutil's `tzical`), as a calendar
    app that does not know the zone does: `ical` alone would take the zone from its own
    tz database and never see a wrong VTIMEZONE. Returns the parsed calendar, its events
    in order, and a function from an event's time to (the instant it means, its zone)."""
    text = body.decode()
    calendar = IcsCalendarStream.calendar_from_ics(text)
    own = tzical(io.StringIO(text))

    def meant(value: datetime) -> tuple[datetime, object]:
        if not isinstance(value.tzinfo, ZoneInfo):  # written in UTC
            assert value.utcoffset() == timedelta(0)
            return value.astimezone(UTC), None
        zone = own.get(value.tzinfo.key)
        assert zone is not None, f"no VTIMEZONE for {value.tzinfo.key}"
        return value.replace(tzinfo=zone).astimezone(UTC), zone

    return calendar, sorted(calendar.events, key=lambda e: (e.dtstart, e.dtend)), meant


@pytest.mark.db
@pytest.mark.parametrize("zone", list(OBSERVANCES))
def test_read_through_its_own_vtimezone_every_shift_is_right_in_utc_across_both_dst_changes(client, zone):
    clock.set(datetime(2026, 9, 1, tzinfo=UTC))
    ana, ben, cy = (make_user(Role.RESPONDER, name=name) for name in ("Ana Ruiz", "Ben Cole", "Cy Dunn"))
    schedule = make_schedule("Night shift", zone=zone)
    # Hourly handoffs through the small hours of every Sunday, when all three zones change.
    make_layer(schedule, [ana, ben], unit="hours", length=1, handoff=time(0), weekday=None, start=date(2026, 9, 6),
               restrictions=[{"days": [6], "start": "00:00", "end": "06:00"}])
    # The two changes in the window, in UTC: DTSTART is in the offset before the change.
    changes = [(start - timedelta(hours=before)).replace(tzinfo=UTC) for _, start, before, _ in OBSERVANCES[zone][1:]]
    assert all((c - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).utcoffset() == timedelta(hours=before)
               and c.astimezone(ZoneInfo(zone)).utcoffset() == timedelta(hours=after)
               for c, (_, _, before, after) in zip(changes, OBSERVANCES[zone][1:], strict=True))
    for change in changes:  # and Cy from half an hour before each change to half an hour after it
        make_override(schedule, cy, change - timedelta(minutes=30), change + timedelta(minutes=30))
    clock.set(AUTUMN)
    _, secret = oncall.create_feed(actor(ana), schedule=schedule, now=AUTUMN)
    db.session.commit()
    shifts = compute.final_shifts(load_spec(schedule, since=AUTUMN - feeds.PAST), AUTUMN - feeds.PAST,
                                  AUTUMN + feeds.AHEAD)
    ends = {s.start for s in shifts} | {s.end for s in shifts}
    assert all(change + timedelta(minutes=m) in ends for change in changes for m in (-30, 30))

    answer = client.get(f"/schedules/{schedule.id}/oncall.ics?token={secret}")
    calendar, found, meant = read_back(answer.data)
    assert len(found) == len(shifts)
    for event, shift in zip(found, shifts, strict=True):
        # Read: the event's start and end, through the feed's VTIMEZONE and as `ical` reads them.
        (start, start_zone), (end, end_zone) = meant(event.dtstart), meant(event.dtend)
        assert (start, end) == (shift.start, shift.end), (event.summary, event.dtstart, event.dtend)
        assert (event.dtstart.astimezone(UTC), event.dtend.astimezone(UTC)) == (shift.start, shift.end)
        # Shown: the shift's instants put in the zone by the feed's VTIMEZONE are the times written.
        for value, zone_read, instant in ((event.dtstart, start_zone, shift.start), (event.dtend, end_zone, shift.end)):
            if zone_read is not None:
                assert instant.astimezone(zone_read).replace(tzinfo=None) == value.replace(tzinfo=None), instant
    # The VTIMEZONE itself, as the second parser reads it.
    [timezone] = calendar.timezones
    observances = sorted([("STANDARD", o) for o in timezone.standard] + [("DAYLIGHT", o) for o in timezone.daylight],
                         key=lambda pair: pair[1].dtstart)
    assert timezone.tz_id == zone
    assert [(kind, o.dtstart, o.tz_offset_from.offset, o.tz_offset_to.offset) for kind, o in observances] == [
        (kind, start, timedelta(hours=before), timedelta(hours=after))
        for kind, start, before, after in OBSERVANCES[zone]]
