"""How the public page writes times, durations and the 90-day bars.

Times are in the page's time zone (never the viewer's: the page is the same for
everyone and cached). The bars are built here rather than in a template loop: with
50 components they are 4,500 days, and this is the one hot part of a render.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import url_for
from markupsafe import Markup, escape

from app import clock
from app.statuspage import uptime
from app.statuspage.models import ComponentStatus


def local(value: datetime, zone: ZoneInfo) -> datetime:
    return clock.utc(value).astimezone(zone)


def time_tag(value: datetime | None, zone: ZoneInfo, fmt: str = "%d %b %Y, %H:%M") -> Markup:
    """<time> in the page's zone, machine-readable in UTC."""
    if value is None:
        return Markup("")
    moment = local(value, zone)
    label = moment.strftime(fmt).lstrip("0")
    if "%H" in fmt:
        label += " " + (moment.tzname() or "")
    return Markup('<time datetime="{}">{}</time>').format(clock.utc(value).isoformat(), label)


def day_label(day) -> str:
    return day.strftime("%d %b %Y").lstrip("0")


def duration(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def day_summary(day: uptime.Day) -> str:
    """'partial outage for 40 min, degraded performance for 5 min' or 'no downtime'."""
    if not day.has_data:
        return "no data"
    bad = [(s, n) for s, n in day.seconds.items() if s != ComponentStatus.OPERATIONAL and n > 0]
    if not bad:
        return "no downtime"
    bad.sort(key=lambda item: -item[0].rank)
    return ", ".join(f"{status.label.lower()} for {duration(seconds)}" for status, seconds in bad)


def bars(days: list[uptime.Day], zone: ZoneInfo) -> Markup:
    """The 90 days as a row of bars, oldest first. A quiet day is an empty element
    with a title; a day with trouble (or an incident) is a <details> that opens on
    tap and says what happened, with the incidents linked, to everyone including
    screen readers."""
    parts = []
    for day in days:
        label = day_label(day.day)
        worst = day.worst
        if not day.incidents and (worst is None or worst == ComponentStatus.OPERATIONAL):
            css = ' class="n"' if worst is None else ""
            parts.append(f'<i{css} title="{label}: {"no data" if worst is None else "no downtime"}"></i>')
            continue
        summary = day_summary(day)
        names = "; ".join(i.name for i in day.incidents)
        title = escape(f"{label}: {summary}" + (f". Incidents: {names}" if names else ""))
        items = "".join(
            f'<li><a href="{escape(url_for("statuspage.incident", public_id=i.public_id))}">{escape(i.name)}</a></li>'
            for i in day.incidents)
        incidents = f"<ul>{items}</ul>" if items else "<p>No incidents reported.</p>"
        css = (worst or ComponentStatus.OPERATIONAL).value
        parts.append(f'<details class="{css}"><summary title="{title}"><span class="vh">{escape(label)}: '
                     f'{escape(summary)}</span></summary><div class="pop"><strong>{escape(label)}</strong>'
                     f'<p>{escape(summary.capitalize())}</p>{incidents}</div></details>')
    return Markup("".join(parts))
