"""iCalendar (RFC 5545) feeds of final shifts, for calendar apps.

Each shift is a VEVENT whose times carry the schedule's zone (TZID, with its
VTIMEZONE), so a 09:00 handoff shows at 09:00 local on both sides of a DST
change in any calendar app. UIDs are stable per shift, so a refresh updates
events instead of duplicating them; optional VALARMs remind before each shift.

The VTIMEZONE is built here from zoneinfo's changes, not by icalendar's
`add_missing_timezones()`: icalendar 7.3.2 starts daylight time at the new
offset's local time (03:00 for New York's 02:00 change), where RFC 5545 §3.6.5
wants the local time before the change, so a reader that goes by the file's
VTIMEZONE puts the hour after the change an hour off. A time in the second run
of the autumn hour that happens twice is written in UTC, as a local time there
would mean the first run.
"""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard

from app.auth.models import User
from app.links import external_url
from app.oncall import compute
from app.oncall.models import CalendarFeed, Schedule
from app.oncall.queries import describe, people_by_id
from app.oncall.specs import load_specs

PAST = timedelta(days=30)
AHEAD = timedelta(days=180)
PRODID = "-//Firebreak//On-call//EN"


def feed_url(feed: CalendarFeed, secret: str) -> str:
    """The whole link to subscribe to (shown once, when made)."""
    if feed.schedule_id is not None:
        return external_url("oncall.schedule_feed", schedule_id=feed.schedule_id, token=secret)
    return external_url("oncall.person_feed", user_id=feed.user_id, token=secret)


def _uid(schedule_id: int, shift: compute.Shift) -> str:
    digest = hashlib.sha256(f"{schedule_id}:{shift.user_id}:{shift.start.isoformat()}".encode()).hexdigest()[:24]
    return f"shift-{digest}@firebreak"


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """`at` in the zone, or in UTC when it is the second time round of an autumn
    hour that happens twice (a local time with a TZID means the first, RFC 5545 §3.3.5)."""
    local = at.astimezone(zone)
    return at.astimezone(UTC) if local.fold else local


def _state(zone: ZoneInfo, second: int) -> tuple:
    local = datetime.fromtimestamp(second, zone)
    return local.utcoffset(), local.dst(), local.tzname()


def _changes(zone: ZoneInfo, second: int, end: int):
    """(when, offset before, state after) for each change of the zone's offset, DST or
    name in (second, end], in POSIX seconds, found to the second."""
    while second < end:
        step = min(second + 6 * 3600, end)
        if _state(zone, step) == _state(zone, second):
            second = step
            continue
        while step - second > 1:
            middle = (second + step) // 2
            second, step = (middle, step) if _state(zone, middle) == _state(zone, second) else (second, middle)
        yield step, _state(zone, second)[0], _state(zone, step)
        second = step


def _vtimezone(zone: ZoneInfo, first: datetime, last: datetime) -> Timezone:
    """The zone's VTIMEZONE from `first` to `last`: one observance per change, from the
    last change before `first` (or the offset at `first` when there was none in the
    year before), each starting at the local time before the change (RFC 5545 §3.6.5)."""
    begin = int(first.timestamp())
    changes = list(_changes(zone, begin - 400 * 86400, int(last.timestamp())))
    earlier = sum(1 for change in changes if change[0] <= begin)
    if earlier:
        changes = changes[earlier - 1:]
    else:
        changes.insert(0, (begin, _state(zone, begin)[0], _state(zone, begin)))
    # Where tzdata has winter as a negative DST (Europe/Dublin), summer is the DAYLIGHT here.
    negative = any(dst < timedelta(0) for _, _, (_, dst, _) in changes)
    timezone = Timezone()
    timezone.add("tzid", zone.key)
    for second, offset_from, (offset_to, dst, name) in changes:
        daylight = dst == timedelta(0) if negative else dst > timedelta(0)
        observance = TimezoneDaylight() if daylight else TimezoneStandard()
        observance.add("dtstart", datetime.fromtimestamp(second, UTC).replace(tzinfo=None) + offset_from)
        observance.add("tzoffsetfrom", offset_from)
        observance.add("tzoffsetto", offset_to)
        if name:
            observance.add("tzname", name)
        timezone.add_component(observance)
    return timezone


def _add_timezone(calendar: Calendar, zone: ZoneInfo, shifts: list[compute.Shift]) -> None:
    """The VTIMEZONE the events' TZID names, over their times, first in the calendar."""
    if zone.key in calendar.get_missing_tzids():
        first, last = min(s.start for s in shifts), max(s.end for s in shifts)
        calendar.subcomponents.insert(0, _vtimezone(zone, first - timedelta(days=1), last + timedelta(days=1)))


def _event(schedule: Schedule, shift: compute.Shift, zone: ZoneInfo, names: dict[int, User], now: datetime,
           reminder_minutes: int | None, *, for_person: bool) -> Event:
    person = names.get(shift.user_id)
    who = person.name if person else f"Person {shift.user_id}"
    event = Event()
    event.add("uid", _uid(schedule.id, shift))
    event.add("dtstamp", now)
    event.add("dtstart", _local(shift.start, zone))
    event.add("dtend", _local(shift.end, zone))
    event.add("summary", f"On call: {schedule.name}" if for_person else f"{who} on call ({schedule.name})")
    event.add("description", f"{who} · {describe(shift, names)}")
    event.add("categories", ["On call"])
    event.add("transp", "TRANSPARENT")
    if reminder_minutes:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", f"On call in {reminder_minutes} minutes: {schedule.name}")
        alarm.add("trigger", timedelta(minutes=-reminder_minutes))
        event.add_component(alarm)
    return event


def _calendar(name: str, zone: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone)
    return calendar


def schedule_calendar(schedule: Schedule, spec: compute.ScheduleSpec, *, now: datetime,
                      reminder_minutes: int | None = None) -> bytes:
    """Every final shift of a schedule from a month back to half a year ahead."""
    zone = ZoneInfo(schedule.time_zone)
    shifts = compute.final_shifts(spec, now - PAST, now + AHEAD)
    names = people_by_id({s.user_id for s in shifts} | {s.covering_for for s in shifts})
    calendar = _calendar(f"On call: {schedule.name}", schedule.time_zone)
    for shift in shifts:
        calendar.add_component(_event(schedule, shift, zone, names, now, reminder_minutes, for_person=False))
    _add_timezone(calendar, zone, shifts)
    return calendar.to_ical()


def person_calendar(user: User, schedules: list[Schedule], *, now: datetime,
                    reminder_minutes: int | None = None) -> bytes:
    """One person's shifts on every schedule, in their own zone."""
    zone_name = user.time_zone or "UTC"
    zone = ZoneInfo(zone_name)
    specs = load_specs(schedules, since=now - PAST)
    calendar = _calendar(f"On call: {user.name}", zone_name)
    names = {user.id: user}
    mine = []
    for schedule in schedules:
        for shift in compute.final_shifts(specs[schedule.id], now - PAST, now + AHEAD):
            if shift.user_id == user.id:
                mine.append((schedule, shift))
    names.update(people_by_id({s.covering_for for _, s in mine}))
    for schedule, shift in mine:
        calendar.add_component(_event(schedule, shift, zone, names, now, reminder_minutes, for_person=True))
    _add_timezone(calendar, zone, [shift for _, shift in mine])
    return calendar.to_ical()
