"""What a severity asks of the review: the one place that maps severity to post-mortem.

Pure functions, no database. When severities become editable (the triage domain's
severity model), this is the table to read from there.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class ReviewPolicy:
    required: bool      # resolving creates the draft, and it is tracked until published
    template_key: str   # the template proposed for it


POLICIES: dict[int, ReviewPolicy] = {
    1: ReviewPolicy(required=True, template_key="detailed_technical"),
    2: ReviewPolicy(required=True, template_key="detailed_technical"),
    3: ReviewPolicy(required=False, template_key="lightweight"),
    4: ReviewPolicy(required=False, template_key="quick_retrospective"),
}
DEFAULT_POLICY = ReviewPolicy(required=False, template_key="lightweight")
# How long the owner has to write it, in business days (Monday to Friday).
DUE_BUSINESS_DAYS = 5


def for_severity(severity: int | None) -> ReviewPolicy:
    return POLICIES.get(severity, DEFAULT_POLICY)


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
