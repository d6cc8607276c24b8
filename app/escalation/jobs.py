"""The engine's escalation work: incidents whose next step is due.

Due incidents are escalated a batch at a time, each batch in one unit (one
transaction of at most BATCH incidents and about BATCH_SECONDS, so it holds
SQLite's write lock or PostgreSQL's row locks about that long): what every
incident of the batch would ask the database on its own (who is on call on each
schedule, people's rules and contact methods, the pages already made, the
severity triggers) is asked once for the batch (`remember_batch`), and the same
service functions then answer from memory (see `app.engine.memo`). If anything
in a batch fails, the batch is rolled back and its incidents are escalated again
one unit each, so one bad incident costs the others only time. The incidents of
a batch are locked as it begins (PostgreSQL), so a person who acknowledges
meanwhile waits for the batch rather than being undone by it.
"""
from __future__ import annotations

import time
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import logs
from app.auth.models import Team, User
from app.comms import cadence
from app.engine import memo
from app.engine.core import Job, Units
from app.escalation import service as escalation
from app.escalation import targets
from app.escalation.models import EscalationPolicy, EscalationStep, SeverityTrigger
from app.extensions import db
from app.incidents import roles
from app.incidents.models import Incident, Status
from app.incidents.service import begin_response
from app.notify import contacts, outbox

BATCH = 20  # incidents per unit at most,
BATCH_SECONDS = 0.03  # and about this long: a few tens of milliseconds of the write lock


def due(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(Incident.id).where(Incident.next_escalation_at <= now)
                              .order_by(Incident.next_escalation_at, Incident.id).limit(limit)).all()


def run(incident_id: int, now: datetime) -> bool:
    incident = db.session.get(Incident, incident_id)
    if incident is None or incident.next_escalation_at is None or incident.next_escalation_at > now:
        return False
    if incident.escalation_state is None:  # opened by monitoring: paging begins here
        if incident.status != Status.TRIGGERED:
            incident.next_escalation_at = None
            return False
        begin_response(incident, now)
        return True
    return escalation.advance(incident, now)


def run_all(ids: list[int], now: datetime, units: Units) -> None:
    pending = list(ids)
    size = BATCH  # what the last batch managed within its time, and a little more
    while pending:
        if units.out_of_time():
            return
        batch = pending[:size]
        taken: list[int] = []
        if len(batch) > 1:
            with units.unit(f"incidents {batch[0]}…", report=False) as together:
                deadline = time.perf_counter() + BATCH_SECONDS
                # Without autoflush: what an incident's escalation reads of its own
                # writes it reads from memory (see `remember_batch`), so the batch's
                # rows go to the database in a few flushes, not one per query.
                with memo.sharing(), db.session.no_autoflush:
                    remember_batch(batch, now)
                    together.done = _run_until(deadline, batch, now, taken)
            if together.committed:
                del pending[:len(taken)]
                # Look up no more than a batch gets through: what was looked up for
                # incidents left to the next batch is looked up again there.
                size = min(BATCH, len(taken) + 2) if len(taken) < len(batch) else min(BATCH, size * 2)
                continue
        # Alone, one unit each: what the failed batch took, or all of it if it
        # failed before taking any (the failure may be in what they share).
        alone = taken or batch
        for ident in alone:
            with units.unit(ident) as unit:
                unit.done = run(ident, now)
        del pending[:len(alone)]


def _run_until(deadline: float, batch: list[int], now: datetime, taken: list[int]) -> int:
    """Escalate the batch's incidents in turn until the deadline (a transaction
    holds SQLite's write lock and PostgreSQL's row locks while it lasts: its
    lookups and at least one incident, then no more than BATCH_SECONDS in all);
    `taken` says which were done. Returns how many did something."""
    done = 0
    for ident in batch:
        taken.append(ident)
        with logs.about_incident(ident):
            done += bool(run(ident, now))
        if time.perf_counter() >= deadline:
            break
    return done


def remember_batch(ids: list[int], now: datetime) -> None:
    """Load what escalating these incidents at `now` reads, for the whole batch:
    the incidents and their services, the policies of those about to begin, the
    severity triggers, who is on call on every schedule any of them names, the
    members of every team they name (and the fallback teams, and the managers when a
    trigger pages them), those people's rules and contact methods, whose turn it is
    on round-robin steps, the incidents' pages, and for those beginning their role
    assignments and updates owed."""
    current = memo.current()
    # Locked (PostgreSQL) in id order: an acknowledgement made meanwhile waits for
    # the batch, instead of the batch acting on what it read before it.
    incidents = db.session.scalars(sa.select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id)
                                   .with_for_update(of=Incident).options(selectinload(Incident.service))).all()
    if current is None:  # memo.disabled(): nothing to remember; the locks are still taken
        return
    current.keep(incidents)
    policy_ids = {i.service.escalation_policy_id for i in incidents
                  if i.escalation_state is None and i.service.escalation_policy_id}
    steps: list[dict] = []
    if policy_ids:
        policies = db.session.scalars(sa.select(EscalationPolicy).where(EscalationPolicy.id.in_(policy_ids))
                                      .options(selectinload(EscalationPolicy.steps)
                                               .selectinload(EscalationStep.targets))).all()
        current.keep(policies)
        for policy in policies:
            steps += escalation.snapshot(policy, names=False)["steps"]
    for incident in incidents:
        steps += (incident.escalation_snapshot or {}).get("steps") or []
    wanted = [t for step in steps for t in step["targets"]]
    triggers = db.session.scalars(sa.select(SeverityTrigger).order_by(SeverityTrigger.id)).all()
    for severity in (1, 2, 3, 4):
        for on in escalation.TRIGGER_WHEN:
            current.put(escalation.TriggersFor(severity, on),
                        [t for t in triggers if t.severity == severity and t.on == on])
    schedule_ids = {t["id"] for t in wanted if t["kind"] == "schedule"}
    schedule_ids |= {t.schedule_id for t in triggers if t.kind == "schedule" and t.schedule_id}
    commander = roles.commander_schedule()
    if commander is not None:
        schedule_ids.add(commander.id)
    targets.remember_on_call(schedule_ids, now)
    user_ids = {t["id"] for t in wanted if t["kind"] == "user"}
    user_ids |= {t.user_id for t in triggers if t.kind == "user" and t.user_id}
    if user_ids:  # into the session, with their contact methods: `session.get` finds them there
        current.keep(db.session.scalars(sa.select(User).where(User.id.in_(user_ids))
                                        .options(selectinload(User.contact_methods))).all())
    team_ids = {t["id"] for t in wanted if t["kind"] == "team"}
    team_ids |= {t.team_id for t in triggers if t.kind == "team" and t.team_id}
    team_ids |= {i.service.fallback_team_id for i in incidents if i.service.fallback_team_id}
    if team_ids:  # their names, for the snapshot of a policy that names them
        current.keep(db.session.scalars(sa.select(Team).where(Team.id.in_(team_ids))).all())
    manager_teams = ({i.service.team_id for i in incidents if i.service.team_id}
                     if any(t.kind == "managers" for t in triggers) else set())
    people = user_ids | {p.id for schedule_id in schedule_ids for p in targets.on_call(schedule_id, now)}
    people |= targets.remember_members(team_ids, manager_teams)
    round_robin = {step["id"] for step in steps if step.get("mode") == "round_robin" and step.get("id")}
    if round_robin:  # whose turn it is, locked (PostgreSQL) as the incidents are: the batch moves it on
        current.keep(db.session.scalars(sa.select(EscalationStep).where(EscalationStep.id.in_(round_robin))
                                        .order_by(EscalationStep.id).with_for_update()).all())
    contacts.remember_rules(people)
    outbox.remember_incidents(ids)
    beginning = [i.id for i in incidents if i.escalation_state is None]  # `begin_response` plans their response
    roles.remember_assignments(beginning)
    cadence.remember(beginning)


JOBS = [Job("escalations", due, run, run_all=run_all, on_incidents=True)]
