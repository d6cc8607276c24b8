"""What a severity asks of the review: the one place that maps severity to post-mortem.

The severity model (`app.triage.levels`, editable by admins) says whether each
severity's post-mortem is required, lightweight or optional; this turns that into
what the review does: whether resolving creates a tracked draft, and which template
is proposed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.triage import levels


@dataclass(frozen=True)
class ReviewPolicy:
    required: bool      # resolving creates the draft, and it is tracked until published
    template_key: str   # the template proposed for it


BY_REQUIREMENT: dict[str, ReviewPolicy] = {
    "required": ReviewPolicy(required=True, template_key="detailed_technical"),
    "lightweight": ReviewPolicy(required=False, template_key="lightweight"),
    "optional": ReviewPolicy(required=False, template_key="quick_retrospective"),
}
DEFAULT_POLICY = BY_REQUIREMENT["lightweight"]
SEVERITIES = (1, 2, 3, 4)
# How long the owner has to write it, in business days (Monday to Friday).
DUE_BUSINESS_DAYS = 5


def for_severity(severity: int | None) -> ReviewPolicy:
    if severity not in SEVERITIES:
        return DEFAULT_POLICY
    return BY_REQUIREMENT.get(levels.level(severity).postmortem, DEFAULT_POLICY)


def required_severities() -> list[int]:
    """The severities whose post-mortem is required, as the model says now."""
    return [n for n in SEVERITIES if for_severity(n).required]


def add_business_days(start: date, days: int) -> date:
    """`days` working days after `start` (Saturdays and Sundays do not count)."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def due_on(resolved: date) -> date:
    return add_business_days(resolved, DUE_BUSINESS_DAYS)
