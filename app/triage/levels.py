"""The four severities: what the severity model says about each.

Admins edit the model (`severity_levels`); `level(n)` reads it once per app context
(a request, or an engine cycle) and falls back to the shipped defaults for any
level not configured, so a fresh database works before anyone edits anything.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, has_app_context

from app.extensions import db


@dataclass(frozen=True)
class Level:
    number: int
    name: str            # SEV-1
    label: str           # Critical
    response_minutes: int
    resolution_minutes: int
    urgency: str         # high: personal rules run at any hour; low: email, never at night
    update_cadence_minutes: int | None = None
    postmortem: str = "optional"  # required, lightweight, optional
    definition: str = ""
    impact_criteria: str = ""
    examples: str = ""

    @property
    def css(self) -> str:
        return f"sev{self.number}"


DEFAULTS: dict[int, Level] = {
    1: Level(1, "SEV-1", "Critical", 5, 60, "high", 30, "required",
             "Complete outage of a core service, data loss or corruption, a security breach, or most customers "
             "affected.",
             "A core service is unavailable for all or most customers; data is lost or corrupted; security is "
             "breached; or there is major revenue or regulatory exposure.",
             "Checkout is down for everyone. Customer records were overwritten. Credentials leaked."),
    2: Level(2, "SEV-2", "Major", 15, 240, "high", 60, "required",
             "A core function is badly degraded or unavailable for many customers, with no workaround.",
             "Many customers cannot complete a core task, or it is badly slowed, and there is no workaround.",
             "Card payments fail for one bank's customers. Sign-in takes 30 seconds for most people."),
    3: Level(3, "SEV-3", "Minor", 60, 1440, "high", 240, "lightweight",
             "Partial degradation: a workaround exists, or few customers are affected.",
             "Some functionality is impaired, a workaround exists, or only a few customers notice.",
             "Search results are slow. Exports fail but the page can be printed instead."),
    4: Level(4, "SEV-4", "Low", 240, 4320, "low", None, "optional",
             "Cosmetic or internal-only, with no customer impact.",
             "Nothing customers rely on is affected.",
             "A typo on the status page. An internal dashboard is stale."),
}
# Kept for callers that want the shipped defaults by name.
LEVELS = DEFAULTS


def current() -> dict[int, Level]:
    """The severity model as configured, read once per app context."""
    if not has_app_context():
        return DEFAULTS
    cached = g.get("_severity_levels")
    if cached is None:
        cached = dict(DEFAULTS)
        # A plain Core read: every alert that opens an incident asks for it.
        for row in db.session.connection().execute(_select_levels()):
            cached[row.level] = Level(row.level, f"SEV-{row.level}", row.label, row.response_minutes,
                                      row.resolution_minutes, row.urgency, row.update_cadence_minutes,
                                      row.postmortem, row.definition, row.impact_criteria, row.examples)
        g._severity_levels = cached
    return cached


@functools.cache
def _select_levels() -> sa.Select:
    from app.triage.models import SeverityLevel  # the models import this module
    table = SeverityLevel.__table__
    return sa.select(*(table.c[name] for name in (
        "level", "label", "response_minutes", "resolution_minutes", "urgency", "update_cadence_minutes",
        "postmortem", "definition", "impact_criteria", "examples")))


def forget() -> None:
    """After an edit of the model: read it again."""
    if has_app_context():
        g.pop("_severity_levels", None)


def level(number: int) -> Level:
    return current()[number]


def name(number: int | None) -> str:
    return f"SEV-{number}" if number in (1, 2, 3, 4) else "—"


def parse(value) -> int | None:
    """1, "1", "SEV-1", "sev1" → 1; anything else → None."""
    text = str(value).strip().upper().replace("SEV-", "").replace("SEV", "")
    return int(text) if text in ("1", "2", "3", "4") else None
