"""The four severities and their defaults (DESIGN.md). The triage domain's severity
model (editable by admins) reads these defaults when nothing is configured."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    number: int
    name: str            # SEV-1
    label: str           # Critical
    response_minutes: int
    resolution_minutes: int
    urgency: str         # high: personal rules run at any hour; low: email, never at night

    @property
    def css(self) -> str:
        return f"sev{self.number}"


LEVELS: dict[int, Level] = {
    1: Level(1, "SEV-1", "Critical", 5, 60, "high"),
    2: Level(2, "SEV-2", "Major", 15, 240, "high"),
    3: Level(3, "SEV-3", "Minor", 60, 1440, "high"),
    4: Level(4, "SEV-4", "Low", 240, 4320, "low"),
}


def level(number: int) -> Level:
    return LEVELS[number]


def name(number: int | None) -> str:
    return LEVELS[number].name if number in LEVELS else "—"


def parse(value) -> int | None:
    """1, "1", "SEV-1", "sev1" → 1; anything else → None."""
    text = str(value).strip().upper().replace("SEV-", "").replace("SEV", "")
    return int(text) if text in ("1", "2", "3", "4") else None
