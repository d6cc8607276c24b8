"""How the public page writes times, durations and the 90-day bars.

Times are in the page's time zone (never the viewer's: the page is the same for
everyone and cached). The bars are built here rather than in a template loop: with
50 components they are 4,500 days, and this is the one hot part of a render.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from markupsafe import Markup, escape

from app import clock, text
from app.statuspage import uptime
from app.statuspage.models import ComponentStatus


@lru_cache(maxsize=4096)
def cached_markdown(source: str) -> Markup:
    """Sanitised Markdown (app.text.markdown), remembered: updates are rendered once per
    change of the page, and most of them never change."""
    return text.markdown(source)


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


class Labels(dict):
    """Day → its label, made once per render for all the components' bars."""

    def __missing__(self, day):
        label = self[day] = day_label(day)
        return label


def bars(days: list[uptime.Day], zone: ZoneInfo, labels: Labels | None = None) -> Markup:
    """The days as a row of bars, oldest first. A run of quiet days (no downtime, or no
    data) is one element as wide as its days, drawn as separate bars by the stylesheet
    (class q<N>), with a title for the run; a day with trouble (or an incident) is a
    <details> that opens on tap and says what happened, with the incidents linked, to
    everyone including screen readers. 50 components' 90 days stay a small page."""
    labels = labels if labels is not None else Labels()
    parts = []
    run: list = []  # consecutive quiet days of one kind: [kind, first day, last day, count]

    def close() -> None:
        if run:
            kind, first, last, count = run
            when = labels[first] if count == 1 else f"{labels[first]} – {labels[last]}"
            what = "no data" if kind == "n" else "no downtime"
            css = ("n " if kind == "n" else "") + f"q{count}"
            parts.append(f'<i class="{css}" title="{when}: {what}"></i>')
            run.clear()

    for day in days:
        worst = day.worst
        if not day.incidents and (worst is None or worst == ComponentStatus.OPERATIONAL):
            kind = "n" if worst is None else "o"
            if run and run[0] == kind:
                run[2], run[3] = day.day, run[3] + 1
            else:
                close()
                run.extend([kind, day.day, day.day, 1])
            continue
        close()
        label = labels[day.day]
        summary = day_summary(day)
        names = "; ".join(i.name for i in day.incidents)
        title = escape(f"{label}: {summary}" + (f". Incidents: {names}" if names else ""))
        items = "".join(f'<li><a href="{_incident_url(i.public_id)}">{escape(i.name)}</a></li>' for i in day.incidents)
        incidents = f"<ul>{items}</ul>" if items else "<p>No incidents reported.</p>"
        css = (worst or ComponentStatus.OPERATIONAL).value
        parts.append(f'<details class="{css}"><summary title="{title}"><span class="vh">{escape(label)}: '
                     f'{escape(summary)}</span></summary><div class="pop"><strong>{escape(label)}</strong>'
                     f'<p>{escape(summary.capitalize())}</p>{incidents}</div></details>')
    close()
    return Markup("".join(parts))


def _incident_url(public_id: str) -> str:
    return str(escape(url_for("statuspage.incident", public_id=public_id)))


# The bars of days before today change only when the day changes, when an incident on
# the component changes, or when the component's start moves: kept across renders, so
# a change re-renders today's bar only. Per app (so per process); cleared when large.
_PAST_LIMIT = 5000


def _past() -> dict[tuple, tuple[str, dict]]:
    return current_app.extensions.setdefault("statuspage_past_bars", {})


def _signature(component, today, zone: ZoneInfo, incidents: tuple | None) -> tuple:
    return (component.id, today, zone.key, component.start_date, component.created_at, incidents)


def strips(components: list, zone: ZoneInfo, now: datetime) -> tuple[dict[int, Markup], dict[int, str]]:
    """Each component's 90 bars and its uptime text (by the rule in app.statuspage.uptime)."""
    if not components:
        return {}, {}
    today = uptime.local_day(now, zone)
    days = uptime.window(today)
    ids = [c.id for c in components]
    versions = uptime.touching_versions(ids, zone, days[0])
    labels = Labels()
    memo = _past()
    signatures = {c.id: _signature(c, today, zone, versions.get(c.id)) for c in components}
    missing = [c for c in components if signatures[c.id] not in memo]
    bucket = int(clock.utc(now).timestamp() // current_app.config["STATUS_RERENDER_SECONDS"])
    today_keys = {c.id: ("today", signatures[c.id], c.updated_at, bucket) for c in components}
    stale = [c for c in components if today_keys[c.id] not in memo]
    touching = uptime.incidents_touching([c.id for c in {*missing, *stale}], zone, now, days[0]) \
        if missing or stale else {}
    if missing:
        if len(memo) > _PAST_LIMIT:
            memo.clear()
        past = uptime.history(missing, zone, now, days=days[:-1], touching=touching)
        for component in missing:
            totals: dict = {}
            for day in past[component.id]:
                for status, seconds in day.seconds.items():
                    totals[status] = totals.get(status, 0) + seconds
            memo[signatures[component.id]] = (str(bars(past[component.id], zone, labels)), totals)
    # Today's bar (and so the percentage) is made again when the component changed, and
    # at least every STATUS_RERENDER_SECONDS as the day goes on: one flapping component
    # does not make the other 49 read their day again.
    if stale:
        current = uptime.history(stale, zone, now, days=[today], touching=touching)
        for component in stale:
            past_html, totals = memo[signatures[component.id]]
            today_day = current[component.id][0]
            summed = uptime.Day(today, dict(totals))
            for status, seconds in today_day.seconds.items():
                summed.seconds[status] = summed.seconds.get(status, 0) + seconds
            memo[today_keys[component.id]] = (
                Markup(past_html) + bars([today_day], zone, labels),
                uptime.format_uptime(uptime.uptime([summed])))
    html, percents = {}, {}
    for component in components:
        html[component.id], percents[component.id] = memo[today_keys[component.id]]
    return html, percents
