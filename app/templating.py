"""Jinja filters and globals: times in the viewer's zone, Markdown, navigation."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, request
from flask_login import current_user
from markupsafe import Markup, escape

from app import clock, text
from app.auth import devices, permissions
from app.auth.models import Role


def init_app(app: Flask) -> None:
    app.extensions["firebreak.warm"] = lambda: warm(app)  # gunicorn.conf.py calls it as a worker starts
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["markdown"] = text.markdown
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["device"] = devices.describe
    app.jinja_env.globals["nav_items"] = nav_items
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["now"] = clock.now
    app.jinja_env.globals["target_name"] = target_name
    app.jinja_env.globals["may_change"] = may_change
    app.jinja_env.globals["may_create"] = may_create


def may_change(obj) -> bool:
    """Show this object's edit controls? (app.auth.permissions: admins, its team's managers)"""
    return permissions.manages(current_user, obj)


def may_create() -> bool:
    """Show "new schedule", "new service"? (an admin, or a manager of some team)"""
    return permissions.manages_some_team(current_user)


def viewer_zone() -> ZoneInfo:
    name = getattr(current_user, "time_zone", None) if current_user else None
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def localtime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", zone: str | None = None) -> Markup:
    """A <time> element in the viewer's zone, machine-readable in UTC."""
    if value is None:
        return Markup("—")
    value = clock.utc(value)
    local = value.astimezone(ZoneInfo(zone) if zone else viewer_zone())
    label = local.strftime(fmt)
    if fmt.endswith("%H:%M") and local.utcoffset() is not None:
        label += " " + (local.tzname() or "")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        value.isoformat(), value.strftime("%Y-%m-%d %H:%M:%S UTC"), escape(label.strip()))


def duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    delta = (clock.now() - clock.utc(value)).total_seconds()
    if delta < 0:
        return "in " + duration(-delta)
    return duration(delta) + " ago"


# (endpoint, label, least role, endpoints that count as being in that section).
# The first group is always in view; the second sits under "More" on a desktop.
NAV = [
    ("home.index", "Home", Role.VIEWER, ("home.",)),
    ("incidents.index", "Incidents", Role.VIEWER, ("incidents.",)),
    ("oncall.index", "On-call", Role.VIEWER, ("oncall.",)),
    ("postmortems.index", "Post-mortems", Role.VIEWER, ("postmortems.index", "postmortems.show", "postmortems.history",
                                                         "postmortems.version", "postmortems.agenda")),
    ("postmortems.my_action_items", "Action items", Role.VIEWER, ("postmortems.action_item", "postmortems.my_action",
                                                                   "postmortems.board")),
    ("postmortems.search_page", "Search", Role.VIEWER, ("postmortems.search",)),
    ("insights.dashboard", "Insights", Role.VIEWER, ("insights.",)),
]
MORE = [
    ("alerts.index", "Alerts", Role.VIEWER, ("alerts.",)),
    ("triage.guide", "Severity", Role.VIEWER, ("triage.",)),
    ("comms.index", "Comms", Role.VIEWER, ("comms.index", "comms.show_list", "comms.edit_", "comms.webhook",
                                           "incidents.role_guide")),
    ("services.index", "Services", Role.VIEWER, ("services.",)),
    ("escalation.index", "Escalation", Role.VIEWER, ("escalation.",)),
    ("maintenance.index", "Maintenance", Role.VIEWER, ("maintenance.",)),
    ("auth.teams", "Teams", Role.VIEWER, ("auth.teams", "auth.show_team", "auth.new_team")),
    ("auth.people", "People", Role.VIEWER, ("auth.people", "auth.show_person", "auth.new_person", "auth.edit_person")),
    ("statuspage_admin.index", "Status page", Role.ADMIN, ("statuspage_admin.",)),
    ("notify.outbox", "Outbox", Role.ADMIN, ("notify.outbox",)),
    ("audit.index", "Audit log", Role.ADMIN, ("audit.",)),
]


def _items(entries) -> list[dict]:
    endpoint = request.endpoint or ""
    return [{"endpoint": target, "label": label, "current": endpoint.startswith(match)}
            for target, label, role, match in entries if current_user.can(role)]


def nav_items(group: str = "all") -> list[dict]:
    """The navigation a signed-in person may use, with the current section marked:
    `main`, `more`, or `all` of it."""
    if not current_user or not current_user.is_authenticated:
        return []
    if group == "main":
        return _items(NAV)
    if group == "more":
        return _items(MORE)
    return _items(NAV + MORE)


def target_name(kind: str, ref: int) -> str:
    from app.escalation.targets import name_of
    return name_of(kind, ref)


# What a worker renders first and most: the incident page with everything it pulls in,
# the incident list and home. Compiled as the worker starts (gunicorn.conf.py), so the
# first person to open them after a deploy or restart does not wait for Jinja to
# compile them in every worker.
WARM_TEMPLATES = ("base.html", "_macros.html", "incidents/show.html", "incidents/index.html", "home/index.html",
                  "postmortems/_macros.html", "notify/_log.html", "comms/_log.html", "oncall/_now.html")


def warm(app: Flask) -> int:
    """Compile WARM_TEMPLATES into the app's template cache; how many it compiled. One
    that fails is logged and left to compile when first rendered: a worker still starts."""
    compiled = 0
    for name in WARM_TEMPLATES:
        try:
            app.jinja_env.get_template(name)
            compiled += 1
        except Exception:
            app.logger.warning("template %s could not be compiled ahead of its first use", name, exc_info=True)
    return compiled
