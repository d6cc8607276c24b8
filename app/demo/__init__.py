"""The demo: a believable organisation to explore, seeded through the service
functions, and a history of incidents written in bulk for insights and the benchmark.

All demo data lives here, not in the domain packages: the demo imports the domains'
service functions, and no domain module imports the demo.

  organisation  teams, people, services, on-call schedules, escalation and severity
  comms         stakeholder lists and the incident roles as rows
  statuspage    the public page's components and two weeks of its history
  postmortems   past incidents played through, with their reviews and action items
  insights      a year (or 100,000 incidents) of history in bulk: `seed-demo --scale`

Idempotent: it adds what is missing and leaves what exists alone, so running it
twice, or on a database someone has used, changes nothing that is there.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.audit.service import Actor
from app.demo import comms, organisation, postmortems, statuspage
from app.demo.organisation import ADMIN_EMAIL
from app.extensions import db


@dataclass
class SeedResult:
    created: dict[str, int]
    admin_email: str
    admin_password: str | None  # only when this run created the admin
    past_incidents: int = 0     # with their post-mortems and action items


def seed_demo(password: str | None = None) -> SeedResult:
    actor = Actor.system("demo seed")
    created = {"teams": 0, "people": 0, "services": 0, "schedules": 0, "components": 0}
    teams, created["teams"] = organisation.seed_teams(actor)
    created["people"], admin_password = organisation.seed_people(actor, teams, password)
    created["services"] = organisation.seed_services(actor, teams)
    created["schedules"] = organisation.seed_schedules(actor, teams, clock.now())
    organisation.seed_paging(actor, teams, clock.now())
    comms.seed_comms(actor, clock.now())
    created["components"] = statuspage.seed(actor, clock.now())
    past = postmortems.seed_past_incidents(now=clock.now())
    quiet_history(clock.now())
    return SeedResult(created=created, admin_email=ADMIN_EMAIL, admin_password=admin_password, past_incidents=past)


def quiet_history(now: datetime) -> int:
    """The demo's past is history, not news: the messages its past incidents and
    reviews queued (review requests, reminders, pages) are cancelled, so the first
    engine cycle does not mail weeks-old requests. Returns how many."""
    from app.notify.models import Notification, Status
    return db.session.execute(
        sa.update(Notification).where(Notification.status == Status.QUEUED,
                                      Notification.next_attempt_at < now - timedelta(hours=1))
        .values(status=Status.CANCELLED, next_attempt_at=None)).rowcount
