"""The template language of updates: sandboxed Jinja over a plain dict of incident fields.

Safe by construction rather than by review:

- the environment is jinja2's `SandboxedEnvironment`, with no globals (no `range`,
  no `lipsum`, no `cycler`), a short list of harmless filters, and no tests beyond
  the plain ones;
- templates see one plain dict of strings, numbers, lists and dicts (`fields`):
  no model, no attribute, no method is reachable (every attribute lookup that is
  not a dict key is refused, so `{{ title.upper() }}` or `{{ ''.__class__ }}` is
  refused, not run);
- `StrictUndefined`: a name that is not a field is an error, not an empty string;
- `*` and `**` are bounded, and so is what a template may produce.

`render` raises `TemplateRefused` (a DomainError with a sentence for people)
before anything is sent; callers render every part first and only then send.
"""
from __future__ import annotations

import operator
from datetime import datetime, timedelta

from flask import has_app_context
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from app import clock
from app.errors import DomainError
from app.links import external_url
from app.triage import levels

MAX_SOURCE = 20_000
MAX_OUTPUT = 20_000
MAX_REPEAT = 2_000
STAGES = ("investigating", "identified", "monitoring", "resolved")
STAGE_LABELS = {"investigating": "Investigating", "identified": "Identified", "monitoring": "Monitoring",
                "resolved": "Resolved"}
SAFE_FILTERS = ("capitalize", "default", "d", "first", "join", "last", "length", "count", "lower", "sort",
                "title", "trim", "truncate", "upper", "wordcount", "list", "string", "int", "round", "abs",
                "min", "max", "unique", "reverse", "select", "reject")
SAFE_TESTS = ("defined", "undefined", "none", "number", "string", "sequence", "mapping", "eq", "ne", "lt", "le",
              "gt", "ge", "in", "odd", "even", "true", "false", "boolean", "divisibleby", "equalto")


class TemplateRefused(DomainError):
    """A template that may not be used as it is: the message says why and where."""


class _Env(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def is_safe_attribute(self, obj, attr, value) -> bool:
        return False  # only dict keys: `incident.title` reads the key, never an attribute

    def is_safe_callable(self, obj) -> bool:
        return False

    def call_binop(self, context, operator_name, left, right):
        if operator_name == "**":
            if abs(right) > 64 if isinstance(right, (int, float)) else True:
                raise SecurityError("powers are limited to small exponents")
            return operator.pow(left, right)
        for side, other in ((left, right), (right, left)):
            if isinstance(side, (str, list, tuple)) and isinstance(other, int) and other * max(len(side), 1) > MAX_REPEAT:
                raise SecurityError(f"repeating text is limited to {MAX_REPEAT} characters")
        return operator.mul(left, right)


def _environment() -> SandboxedEnvironment:
    env = _Env(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, trim_blocks=True,
               lstrip_blocks=True)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in SAFE_FILTERS if name in env.filters}
    env.tests = {name: env.tests[name] for name in SAFE_TESTS if name in env.tests}
    return env


ENV = _environment()


def _where(error: TemplateError) -> str:
    line = getattr(error, "lineno", None)
    return f" (line {line})" if line else ""


def _plain(message) -> str:
    return str(message or "").strip().rstrip(".")


def check(source: str, part: str = "body") -> None:
    """Refuse a template before it is saved or used: size, syntax, unsafe constructs."""
    if len(source or "") > MAX_SOURCE:
        raise TemplateRefused(f"Keep the {part} under {MAX_SOURCE:,} characters.", part)
    try:
        tree = ENV.parse(source or "")
    except TemplateSyntaxError as error:
        raise TemplateRefused(f"The {part} does not parse as a template{_where(error)}: {_plain(error.message)}.",
                              part) from None
    for node in tree.find_all((nodes.Call,)):
        raise TemplateRefused(f"The {part} calls a function or method (line {node.lineno}): templates may only "
                              "show fields, with filters such as {{ title|upper }}.", part)
    for node in tree.find_all((nodes.Getattr,)):
        if node.attr.startswith("_"):
            raise TemplateRefused(f"The {part} reaches for {node.attr!r} (line {node.lineno}), which is not a "
                                  "field.", part)
    for node in tree.find_all((nodes.Filter,)):
        if node.name not in ENV.filters:
            raise TemplateRefused(f"The {part} uses the filter {node.name!r} (line {node.lineno}), which templates "
                                  f"do not have. Filters: {', '.join(sorted(ENV.filters))}.", part)
    for node in tree.find_all((nodes.Test,)):
        if node.name not in ENV.tests:
            raise TemplateRefused(f"The {part} uses the test {node.name!r} (line {node.lineno}), which templates "
                                  "do not have.", part)
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.Macro,
                               nodes.CallBlock)):
        raise TemplateRefused(f"The {part} uses {{% {type(node).__name__.lower()} %}} (line {node.lineno}): "
                              "templates stand alone.", part)
    for loop in tree.find_all((nodes.For,)):
        for inner in loop.find_all((nodes.For,)):
            raise TemplateRefused(f"The {part} has a loop inside a loop (line {inner.lineno}): one level only.",
                                  part)


def render(source: str, fields: dict, *, part: str = "body") -> str:
    """`source` with `fields` filled in, or TemplateRefused saying what is wrong."""
    check(source, part)
    try:
        chunks, size = [], 0
        for chunk in ENV.from_string(source or "").generate(fields):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateRefused(f"The {part} comes to more than {MAX_OUTPUT:,} characters.", part)
            chunks.append(chunk)
        text = "".join(chunks)
    except UndefinedError as error:
        name = _undefined_name(str(error.message or ""))
        known = ", ".join(sorted(fields))
        raise TemplateRefused(
            f"The {part} uses {{{{ {name} }}}}, which is not a field of an incident. Fields: {known}."
            if name else f"The {part} uses something that is not a field ({error.message}). Fields: {known}.",
            part) from None
    except SecurityError as error:
        raise TemplateRefused(f"The {part} tries something templates may not do: {_plain(error)}.", part) from None
    except TemplateError as error:
        raise TemplateRefused(f"The {part} could not be filled in{_where(error)}: {_plain(error.message or error)}.",
                              part) from None
    except (TypeError, ValueError, ArithmeticError) as error:
        raise TemplateRefused(f"The {part} could not be filled in: {_plain(error)}.", part) from None
    return text.strip()


def _undefined_name(message: str) -> str:
    """"'foo' is undefined" → foo; "'dict object' has no attribute 'bar'" → bar."""
    if "has no attribute" in message:
        return message.rsplit("'", 2)[-2] if message.count("'") >= 2 else ""
    if message.endswith("is undefined") and message.count("'") >= 2:
        return message.split("'")[1]
    return ""


# --- the fields --------------------------------------------------------------------------

def _time(value: datetime | None) -> str:
    return clock.utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _span(seconds: float) -> str:
    minutes = max(int(seconds // 60), 0)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes or not (days or hours) else ""]
    return " ".join(p for p in parts if p)


def fields(incident, now: datetime, *, stage: str | None = None) -> dict:
    """Every field a template may use, as plain values (strings, numbers, lists, a dict)."""
    from app.comms import cadence
    from app.incidents import roles, warroom
    level = levels.level(incident.severity)
    room = warroom.room(incident)
    report = warroom.latest_report(incident)
    board = roles.board(incident)
    role_names = {view.spec.key: ", ".join(a.user.name for a in view.holders) for view in board}
    # What sending now promises: the next update one cadence from now, while the incident is open.
    minutes = cadence.cadence_minutes(incident)
    stage = stage or default_stage(incident)
    open_ = incident.status.value != "resolved" and stage != "resolved"
    next_due = now + timedelta(minutes=minutes) if minutes and open_ else None
    started = incident.impact_started_at or incident.detected_at
    ended = incident.resolved_at or now
    linked = has_app_context()  # links are relative when rendered without an app (a bare test)
    return {
        "number": incident.id,
        "ref": f"#{incident.id}",
        "title": incident.title,
        "severity": level.name,
        "severity_label": level.label,
        "service": incident.service.name,
        "services": [incident.service.name],
        "impact": (room.impact if room and room.impact else "We are still assessing who is affected."),
        "summary": (room.status_summary if room and room.status_summary else incident.title),
        "status": incident.status.value,
        "stage": stage,
        "stage_label": STAGE_LABELS.get(stage, stage),
        "started_at": _time(started),
        "detected_at": _time(incident.detected_at),
        "acknowledged_at": _time(incident.acknowledged_at),
        "mitigated_at": _time(incident.mitigated_at),
        "resolved_at": _time(incident.resolved_at),
        "duration": _span((clock.utc(ended) - clock.utc(started)).total_seconds()),
        "now": _time(now),
        "next_update_at": _time(next_due),
        "next_update_in": _span((next_due - now).total_seconds()) if next_due and next_due > now else "",
        "cadence_minutes": level.update_cadence_minutes or 0,
        "commander": role_names.get("commander", ""),
        "comms_lead": role_names.get("comms_lead", ""),
        "technical_lead": role_names.get("technical_lead", ""),
        "roles": role_names,
        "conditions": report.conditions if report else "",
        "actions": report.actions if report else "",
        "needs": report.needs if report else "",
        "executive_summary": report.executive_summary if report else "",
        "url": external_url("incidents.show", incident_id=incident.id) if linked else f"/incidents/{incident.id}",
        "status_page_url": external_url("statuspage.index") if linked else "/status",
    }


def default_stage(incident) -> str:
    if incident.status.value == "resolved":
        return "resolved"
    if incident.mitigated_at is not None:
        return "monitoring"
    return "identified" if incident.acknowledged_at is not None else "investigating"


def sample_fields(now: datetime | None = None) -> dict:
    """Fields of a made-up incident, to check and preview templates outside one."""
    now = now or clock.now()
    started = now - timedelta(minutes=42)
    return {
        "number": 42, "ref": "#42", "title": "Checkout fails for card payments", "severity": "SEV-1",
        "severity_label": "Critical", "service": "checkout-api", "services": ["checkout-api"],
        "impact": "Customers cannot pay by card at checkout; other payment methods work.",
        "summary": "Card payments fail after the 09:10 deploy; rolling back.", "status": "acknowledged",
        "stage": "identified", "stage_label": "Identified", "started_at": _time(started),
        "detected_at": _time(started), "acknowledged_at": _time(started + timedelta(minutes=3)),
        "mitigated_at": "", "resolved_at": "", "duration": "42 min", "now": _time(now),
        "next_update_at": _time(now + timedelta(minutes=30)), "next_update_in": "30 min", "cadence_minutes": 30,
        "commander": "Dana Okafor", "comms_lead": "Lee Tanaka", "technical_lead": "Priya Raman",
        "roles": {"commander": "Dana Okafor", "comms_lead": "Lee Tanaka", "technical_lead": "Priya Raman"},
        "conditions": "Card payments fail with HTTP 502 since 09:12.",
        "actions": "Rolling back release 2026.03.1.", "needs": "A payments-db expert on the bridge.",
        "executive_summary": "Card checkout is down; a rollback is under way.",
        "url": "https://firebreak.example.com/incidents/42",
        "status_page_url": "https://firebreak.example.com/status",
    }
