"""The culture survey: after an incident resolves, every responder is asked two
questions (1–5) by email, through a link that works once.

Anonymity, by construction:
- an invitation knows the person and the incident, and the SHA-256 of its link's
  token until the link is used; using it clears the hash and sets `answered`, with
  no time;
- an answer knows the incident and the two scores: no person, no token, no time,
  and a random key (SQLite keeps the table in key order, without a rowid);
- figures are shown only over at least three answers (app.insights.metrics.culture).
So nothing in the application's data matches an answer with a person. (Whoever can
read the database server's own internals, such as PostgreSQL's transaction ids on
rows, is outside what an application can hide; the answers of an incident with a
single responder are that responder's, which is why no figure shows fewer than three.)

The incident lifecycle calls `on_incident_resolved`, which writes a due row
(`survey_rounds`); the engine sends the invitations half an hour later, once
(outbox key per incident and person). A round found more than two days late (an
engine outage, or history the demo wrote) is dropped, not sent.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.auth.models import User
from app.engine.core import Job
from app.errors import DomainError, NotFound
from app.extensions import db
from app.incidents.models import Incident, IncidentEvent
from app.insights.models import SurveyAnswer, SurveyInvitation, SurveyRound
from app.links import external_url
from app.notify.outbox import to_person
from app.oncall.load import PAGE_SENT

DELAY = timedelta(minutes=30)
MISSED_AFTER = timedelta(days=2)  # a survey is about fresh memories
LINK_VALID = timedelta(days=14)
SCALE = {1: "Strongly disagree", 2: "Disagree", 3: "Neither", 4: "Agree", 5: "Strongly agree"}


@dataclass(frozen=True)
class Question:
    key: str
    text: str


QUESTIONS = (
    Question("blameless", "The response and its review were about systems and decisions, not about blaming people."),
    Question("safety", "I felt safe to speak up, ask questions and admit mistakes during this incident."),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Built on the tables, not the classes: a session given it with parameters runs it as it
# is, where an ORM INSERT would be taken for a bulk INSERT of those parameters.
_rounds, _incidents = SurveyRound.__table__, Incident.__table__
_OPEN_ROUNDS = sa.insert(_rounds).from_select(
    ["incident_id", "created_at", "due_at", "invited", "outcome"],
    sa.select(_incidents.c.id, sa.bindparam("p_now", type_=_rounds.c.created_at.type),
              sa.bindparam("p_due", type_=_rounds.c.due_at.type), sa.literal(0), sa.literal(""))
    .where(_incidents.c.id.in_(sa.bindparam("p_ids", expanding=True)), _incidents.c.is_exercise.is_(False),
           _incidents.c.merged_into_id.is_(None),
           ~sa.select(_rounds.c.incident_id).where(_rounds.c.incident_id == _incidents.c.id).exists()))


def on_incident_resolved(incident: Incident, now: datetime) -> None:
    """Called by the incident lifecycle as an incident resolves: its responders are
    to be asked, once (a reopened incident resolving again asks nobody twice).
    Drills and incidents merged away are not surveyed."""
    if incident.id is not None:
        open_rounds(db.session, [incident.id], now)


def open_rounds(executor, incident_ids: list[int], now: datetime) -> None:
    """Open the survey round of each of these resolved incidents that has none yet,
    drills and incidents merged away left out, with one INSERT … SELECT on `executor`
    (the session, or a connection): `on_incident_resolved`'s for one incident, and
    ingestion's hot path's once for all the incidents a batch resolves."""
    executor.execute(_OPEN_ROUNDS, {"p_ids": incident_ids, "p_now": now, "p_due": now + DELAY})


def responders(incident: Incident) -> list[User]:
    """Everyone who acted on the incident's timeline, was paged for it, acknowledged
    or resolved it: active people only."""
    acted = sa.select(IncidentEvent.actor_user_id.label("user_id")).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.actor_user_id.is_not(None))
    paged = sa.select(IncidentEvent.data["user_id"].as_integer().label("user_id")).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == PAGE_SENT)
    ids = {i for i in db.session.scalars(sa.union(acted, paged)) if i is not None}
    ids |= {i for i in (incident.acknowledged_by_id, incident.resolved_by_id) if i is not None}
    if not ids:
        return []
    return db.session.scalars(sa.select(User).where(User.id.in_(ids), User.active.is_(True)).order_by(User.id)).all()


def due_rounds(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(SurveyRound.incident_id).where(SurveyRound.due_at <= now)
                              .order_by(SurveyRound.due_at).limit(limit)).all()


def run_round(incident_id: int, now: datetime) -> bool:
    """Engine unit: invite each responder once, by email with a one-use link. True
    when someone was invited (a round with nobody to ask, or found too late, is
    closed all the same)."""
    round_ = db.session.get(SurveyRound, incident_id)
    if round_ is None or round_.due_at is None or round_.due_at > now:
        return False
    round_.due_at = None
    incident = db.session.get(Incident, incident_id)
    if round_.created_at < now - MISSED_AFTER:
        round_.outcome = "missed"
        return False
    invited = 0
    for person in responders(incident):
        if db.session.scalar(sa.select(SurveyInvitation.id).where(SurveyInvitation.incident_id == incident.id,
                                                                   SurveyInvitation.user_id == person.id)):
            continue
        token = secrets.token_urlsafe(32)
        invitation = SurveyInvitation(incident_id=incident.id, user_id=person.id, token_hash=token_hash(token),
                                      invited_at=now, expires_at=now + LINK_VALID, answered=False)
        db.session.add(invitation)
        message = to_person(
            person, key=f"survey:{incident.id}:{person.id}", purpose="survey", due=now, now=now,
            incident_id=incident.id, subject=f"Two questions about incident #{incident.id}"[:255],
            body=(f"You helped with incident #{incident.id}, “{incident.title}”. Two questions, one minute, "
                  "anonymous: your answers are kept without your name, and only shown added up with at least "
                  "two other people's.\n\n"
                  f"{external_url('insights.survey', token=token)}\n\nThe link works once, for {LINK_VALID.days} days.\n"))
        invitation.notification_id = message.id if message else None
        invited += 1
    round_.invited, round_.outcome = invited, "sent" if invited else "none"
    return invited > 0


JOBS = [Job("survey_invitations", due_rounds, run_round)]


# --- answering ----------------------------------------------------------------------------------

def invitation_for(token: str, now: datetime) -> SurveyInvitation:
    """The open invitation behind a link, or NotFound (unknown, used or expired:
    the same answer for each, so a link says nothing about anyone)."""
    found = db.session.scalar(sa.select(SurveyInvitation).where(SurveyInvitation.token_hash == token_hash(token or "")))
    if found is None or found.answered or found.expires_at <= now:
        raise NotFound("This survey link has been used or has expired. Thank you all the same.")
    return found


def clean_score(value, field: str) -> int:
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError):
        score = 0
    if score not in SCALE:
        raise DomainError("Choose one answer from 1 to 5.", field)
    return score


def answer(token: str, now: datetime, **scores) -> None:
    """Keep one answer and use the link up, in one transaction. The invitation loses
    its token hash and is marked answered (no time); the answer gets a random key."""
    values = {q.key: clean_score(scores.get(q.key), q.key) for q in QUESTIONS}
    invitation = invitation_for(token, now)
    used = db.session.execute(
        sa.update(SurveyInvitation).where(SurveyInvitation.id == invitation.id, SurveyInvitation.answered.is_(False),
                                          SurveyInvitation.token_hash == token_hash(token))
        .values(token_hash=None, answered=True)).rowcount
    if used != 1:  # answered a moment ago, in another tab
        raise NotFound("This survey link has been used or has expired. Thank you all the same.")
    db.session.add(SurveyAnswer(id=secrets.token_hex(16), incident_id=invitation.incident_id, **values))
