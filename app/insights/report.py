"""The monthly report: one calendar month (in the reader's zone) beside the month
before it, the reviews published in it with their lessons, and its drills. Made
for paper (print CSS) and as PDF (WeasyPrint, in process)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.incidents.models import Incident
from app.insights import metrics
from app.insights.metrics import Filters
from app.insights.periods import Period, month
from app.insights.teams import LESSON_CHARS
from app.postmortems.models import Postmortem, PostmortemSection, PostmortemStatus, SectionKind
from app.services.models import Service

PRINT_CSS = Path(__file__).resolve().parent.parent.parent / "static" / "css" / "insights-report.css"


@dataclass
class Published:
    postmortem: Postmortem
    lessons: str


@dataclass
class Report:
    period: Period
    previous: Period
    current: metrics.Dashboard
    before: metrics.Dashboard
    published: list[Published]
    drills: list[Incident]
    team_name: str | None = None


def month_of(text: str | None, today: date) -> tuple[int, int]:
    """'2026-03' → (2026, 3); anything else (or a month not over yet) → last month."""
    try:
        year, number = (int(part) for part in (text or "").split("-"))
        if 1 <= number <= 12 and 2000 <= year <= today.year + 1:
            return year, number
    except ValueError:
        pass
    first = today.replace(day=1)
    return (first.year - 1, 12) if first.month == 1 else (first.year, first.month - 1)


def monthly(year: int, number: int, zone: ZoneInfo, now: datetime, *, team_id: int | None = None,
            team_name: str | None = None) -> Report:
    period = month(year, number, zone)
    previous = period.previous()
    current = metrics.dashboard(Filters(period, team_id=team_id, granularity="week"), now)
    before = metrics.dashboard(Filters(previous, team_id=team_id, granularity="week"), now)
    conditions = [Postmortem.status == PostmortemStatus.PUBLISHED, Postmortem.published_at >= period.start,
                  Postmortem.published_at < period.end, Incident.is_exercise.is_(False)]
    if team_id:
        conditions.append(Incident.service_id.in_(sa.select(Service.id).where(Service.team_id == team_id)))
    pms = db.session.scalars(sa.select(Postmortem).join(Incident, Incident.id == Postmortem.incident_id)
                             .where(*conditions).options(selectinload(Postmortem.incident))
                             .order_by(Postmortem.published_at).limit(100)).all()
    lessons: dict[int, list[str]] = {}
    if pms:
        for pm_id, body in db.session.execute(sa.select(PostmortemSection.postmortem_id, PostmortemSection.body).where(
                PostmortemSection.postmortem_id.in_([p.id for p in pms]), PostmortemSection.kind == SectionKind.LESSONS,
                PostmortemSection.body != "")):
            lessons.setdefault(pm_id, []).append(body.strip())
    published = []
    for pm in pms:
        text = "\n\n".join(lessons.get(pm.id, []))
        published.append(Published(pm, text[:LESSON_CHARS] + (" …" if len(text) > LESSON_CHARS else "")))
    drill_conditions = metrics.scope(Filters(period, team_id=team_id), exercises=True)
    drills = db.session.scalars(sa.select(Incident).where(*drill_conditions).order_by(Incident.detected_at)).all()
    return Report(period, previous, current, before, published, drills, team_name)
