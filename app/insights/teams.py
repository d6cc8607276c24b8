"""Team learning pages: what a team's incidents taught it lately, the causes that
keep coming back, and the work it still owes."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.auth.models import Team
from app.extensions import db
from app.incidents.models import Incident
from app.insights import metrics
from app.insights.metrics import Filters
from app.insights.periods import Period
from app.postmortems.models import (
    OPEN_ACTION_STATUSES, ActionItem, ContributingFactor, FactorCategory, Postmortem, PostmortemSection,
    PostmortemStatus, SectionKind,
)
from app.services.models import Service

RECENT = 10
RECURRING_DAYS = 180
LESSON_CHARS = 600


@dataclass
class Lesson:
    postmortem: Postmortem
    text: str


@dataclass
class Recurring:
    category: str
    incidents: list[tuple[int, str]] = field(default_factory=list)  # (id, title), newest first


@dataclass
class TeamPage:
    team: Team
    services: list[Service]
    lessons: list[Lesson]
    recurring: list[Recurring]
    overdue: list[ActionItem]
    dashboard: metrics.Dashboard


def _team_services(team: Team):
    return sa.select(Service.id).where(Service.team_id == team.id)


def lessons(team: Team, limit: int = RECENT) -> list[Lesson]:
    """The team's latest published post-mortems, each with its lessons (the
    "lessons" sections), shortened."""
    pms = db.session.scalars(
        sa.select(Postmortem).join(Incident, Incident.id == Postmortem.incident_id)
        .where(Incident.service_id.in_(_team_services(team)), Incident.is_exercise.is_(False),
               Postmortem.status == PostmortemStatus.PUBLISHED)
        .options(selectinload(Postmortem.incident))
        .order_by(Postmortem.published_at.desc(), Postmortem.id.desc()).limit(limit)).all()
    if not pms:
        return []
    texts: dict[int, list[str]] = {}
    for pm_id, body in db.session.execute(sa.select(PostmortemSection.postmortem_id, PostmortemSection.body).where(
            PostmortemSection.postmortem_id.in_([p.id for p in pms]), PostmortemSection.kind == SectionKind.LESSONS,
            PostmortemSection.body != "").order_by(PostmortemSection.position)):
        texts.setdefault(pm_id, []).append(body.strip())
    found = []
    for pm in pms:
        text = "\n\n".join(texts.get(pm.id, []))
        if len(text) > LESSON_CHARS:
            text = text[:LESSON_CHARS].rsplit(" ", 1)[0] + " …"
        found.append(Lesson(pm, text))
    return found


def recurring(team: Team, now: datetime, days: int = RECURRING_DAYS) -> list[Recurring]:
    """Contributing-factor categories named in two or more of the team's incidents
    detected in the last `days` days, most often first."""
    since = now - timedelta(days=days)
    rows = db.session.execute(
        sa.select(FactorCategory.name, Incident.id, Incident.title)
        .join(ContributingFactor, ContributingFactor.category_id == FactorCategory.id)
        .join(Postmortem, Postmortem.id == ContributingFactor.postmortem_id)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(Incident.service_id.in_(_team_services(team)), Incident.is_exercise.is_(False),
               Incident.merged_into_id.is_(None), Incident.detected_at >= since)
        .distinct().order_by(FactorCategory.name, Incident.id.desc())).all()
    by_category: dict[str, Recurring] = {}
    for name, incident_id, title in rows:
        by_category.setdefault(name, Recurring(name)).incidents.append((incident_id, title))
    found = [r for r in by_category.values() if len(r.incidents) >= 2]
    return sorted(found, key=lambda r: (-len(r.incidents), r.category))


def overdue_items(team: Team, today: date, limit: int = 100) -> list[ActionItem]:
    """Open action items the team owns that are past their due date, oldest first."""
    return db.session.scalars(
        sa.select(ActionItem).where(ActionItem.team_id == team.id, ActionItem.status.in_(OPEN_ACTION_STATUSES),
                                    ActionItem.due_on < today)
        .options(selectinload(ActionItem.owner), selectinload(ActionItem.incident))
        .order_by(ActionItem.due_on, ActionItem.id).limit(limit)).all()


def page(team: Team, period: Period, now: datetime) -> TeamPage:
    today = now.astimezone(period.zone).date()
    services = db.session.scalars(sa.select(Service).where(Service.team_id == team.id).order_by(Service.name)).all()
    return TeamPage(team, services, lessons(team), recurring(team, now), overdue_items(team, today),
                    metrics.dashboard(Filters(period, team_id=team.id, granularity="month"), now))
