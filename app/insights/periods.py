"""Periods and buckets in the viewer's time zone. Pure: no database, no clock.

A period is a run of whole local days, [first day 00:00, day after the last 00:00)
in the viewer's zone, held as UTC instants so queries compare stored UTC times with
it directly. Buckets (weeks from Monday, or calendar months) split a period the
same way, clipped to it. Daylight-saving changes make some local days 23 or 25
hours long; midnight is always midnight.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PRESETS = {
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "month": "This month",
    "last-month": "Last month",
    "quarter": "This quarter",
    "12m": "Last 12 months",
    "custom": "Dates I choose",
}
DEFAULT_PRESET = "30d"
GRANULARITIES = {"week": "Week", "month": "Month"}
MAX_DAYS = 3 * 366


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """00:00 on `day` in `zone`, as UTC (the first instant of that local day)."""
    naive = datetime.combine(day, time())
    # A zone that skips midnight (a DST change at 00:00) starts the day at the first
    # instant after the gap: fold=0 maps into the gap, so step past it.
    local = naive.replace(tzinfo=zone)
    back = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != naive:
        local = (naive + timedelta(hours=1)).replace(tzinfo=zone)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Period:
    first_day: date   # local, inclusive
    last_day: date    # local, inclusive
    zone: ZoneInfo
    label: str = ""

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), self.zone)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def describe(self) -> str:
        span = f"{self.first_day:%d %b %Y} – {self.last_day:%d %b %Y}"
        return f"{self.label} ({span})" if self.label else span

    def previous(self) -> "Period":
        """The period of the same length just before this one (a calendar month
        before a calendar month)."""
        if self.first_day.day == 1 and self.last_day == month_end(self.last_day) and \
                (self.last_day.year, self.last_day.month) == (self.first_day.year, self.first_day.month):
            last = self.first_day - timedelta(days=1)
            return Period(last.replace(day=1), last, self.zone, "Month before")
        length = self.last_day - self.first_day
        last = self.first_day - timedelta(days=1)
        return Period(last - length, last, self.zone, "Period before")


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def from_preset(preset: str, today: date, zone: ZoneInfo) -> Period:
    """A named period ending today (or the whole of last month), in `zone`."""
    label = PRESETS.get(preset, PRESETS[DEFAULT_PRESET])
    if preset == "month":
        return Period(today.replace(day=1), today, zone, label)
    if preset == "last-month":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(last.replace(day=1), last, zone, label)
    if preset == "quarter":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        return Period(first, today, zone, label)
    if preset == "12m":
        return Period(add_months(today, -12) + timedelta(days=1), today, zone, label)
    if preset == "90d":
        return Period(today - timedelta(days=89), today, zone, label)
    return Period(today - timedelta(days=29), today, zone, PRESETS[DEFAULT_PRESET])


def month(year: int, month_number: int, zone: ZoneInfo) -> Period:
    first = date(year, month_number, 1)
    return Period(first, month_end(first), zone, f"{first:%B %Y}")


@dataclass(frozen=True)
class Bucket:
    index: int
    first_day: date
    last_day: date
    start: datetime  # UTC
    end: datetime    # UTC, exclusive
    label: str       # short, for an axis
    title: str       # long, for a table


def buckets(period: Period, granularity: str) -> list[Bucket]:
    """The period cut into weeks (Monday to Sunday) or calendar months, clipped."""
    found: list[Bucket] = []
    day = period.first_day
    while day <= period.last_day:
        if granularity == "month":
            last = min(month_end(day), period.last_day)
            label, title = f"{day:%b}", f"{day:%B %Y}"
            if day.month == 1 or not found:
                label = f"{day:%b %y}"
        else:
            last = min(day + timedelta(days=6 - day.weekday()), period.last_day)
            label, title = f"{day:%d %b}", f"Week of {day:%d %b %Y}"
        found.append(Bucket(len(found), day, last, local_midnight(day, period.zone),
                            local_midnight(last + timedelta(days=1), period.zone), label, title))
        day = last + timedelta(days=1)
    return found


def whole_hour_offsets(period: Period) -> bool:
    """Whether the zone's offset is whole hours all through the period (then an hour
    of UTC is an hour of local time, and hourly counts map exactly)."""
    probes = [period.start, period.end, period.start + (period.end - period.start) / 2]
    return all(int(p.astimezone(period.zone).utcoffset().total_seconds()) % 3600 == 0 for p in probes)
