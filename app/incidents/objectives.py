"""Response and resolution objectives: when each is due and whether it was met."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.incidents.models import Incident


@dataclass(frozen=True)
class Objective:
    name: str            # Response, Resolution
    minutes: int
    due_at: datetime
    done_at: datetime | None

    def state(self, now: datetime) -> str:
        """met / breached (done late) / running (not done, time left) / overdue (not done, late)."""
        if self.done_at is not None:
            return "met" if self.done_at <= self.due_at else "breached"
        return "running" if now <= self.due_at else "overdue"

    def seconds_left(self, now: datetime) -> float:
        return (self.due_at - now).total_seconds()

    def margin(self) -> float | None:
        """Seconds to spare (positive) or late (negative) once done."""
        if self.done_at is None:
            return None
        return (self.due_at - self.done_at).total_seconds()


def objectives(incident: Incident) -> list[Objective]:
    level = incident.level
    return [
        Objective("Response", level.response_minutes, incident.response_due_at, incident.acknowledged_at),
        Objective("Resolution", level.resolution_minutes, incident.resolution_due_at, incident.resolved_at),
    ]
