"""iCalendar (RFC 5545) feeds of final shifts, for calendar apps.

Each shift is a VEVENT whose times carry the schedule's zone (TZID, with its
VTIMEZONE), so a 09:00 handoff shows at 09:00 local on both sides of a DST
change in any calendar app. UIDs are stable per shift, so a refresh updates
events instead of duplicating them; optional VALARMs remind before each shift.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from icalendar import Alarm, Calendar, Event

from app.auth.models import User
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
        path = url_for("oncall.schedule_feed", schedule_id=feed.schedule_id, token=secret)
    else:
        path = url_for("oncall.person_feed", user_id=feed.user_id, token=secret)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _uid(schedule_id: int, shift: compute.Shift) -> str:
    digest = hashlib.sha256(f"{schedule_id}:{shift.user_id}:{shift.start.isoformat()}".encode()).hexdigest()[:24]
    return f"shift-{digest}@firebreak"


def _event(schedule: Schedule, shift: compute.Shift, zone: ZoneInfo, names: dict[int, User], now: datetime,
           reminder_minutes: int | None, *, for_person: bool) -> Event:
    person = names.get(shift.user_id)
    who = person.name if person else f"Person {shift.user_id}"
    event = Event()
    event.add("uid", _uid(schedule.id, shift))
    event.add("dtstamp", now)
    event.add("dtstart", shift.start.astimezone(zone))
    event.add("dtend", shift.end.astimezone(zone))
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
    calendar.add_missing_timezones()
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
    calendar.add_missing_timezones()
    return calendar.to_ical()
