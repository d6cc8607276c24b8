"""Escalation: page the on-call, escalate until someone acknowledges, never lose a page.

The policy is snapshotted onto the incident when escalation starts, so an edit
never changes a page in flight. The incident carries the state (run, round, step,
next escalation time); the engine advances what is due (`advance`). Deciding is
`plan` / `preview` (pure over a snapshot and a resolver); acting is `_page_step`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, Team, TeamMembership, User
from app.engine import memo
from app.errors import Conflict, DomainError, Forbidden
from app.escalation.models import EscalationPolicy, EscalationStep, SeverityTrigger
from app.extensions import db
from app.incidents.models import EventKind, Incident, Status
from app.incidents.timeline import record_event
from app.notify import paging

SYSTEM = Actor.system("Firebreak")

STATE_ACTIVE = "active"
STATE_STOPPED = "stopped"
STATE_EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class TriggersFor(memo.Key):
    """The severity triggers of one severity and moment (`apply_triggers`)."""

    severity: int
    on: str


def snapshot(policy: EscalationPolicy, *, names: bool = True) -> dict:
    """A policy frozen as plain data, with target names for the timeline
    (`names=False`: without them, for a caller that wants only who it names)."""
    from app.escalation import targets
    return {
        "policy_id": policy.id, "name": policy.name, "repeat": policy.repeat,
        "steps": [{"id": step.id, "delay": step.delay_minutes, "mode": step.mode,
                   "targets": [{"kind": t.kind, "id": t.ref,
                                **({"name": targets.name_of(t.kind, t.ref)} if names else {})}
                               for t in step.targets]}
                  for step in policy.steps],
    }


# --- deciding: pure over a snapshot ---------------------------------------------------

@dataclass(frozen=True)
class PlannedStep:
    at: datetime
    round: int
    step: int
    targets: list[dict]
    mode: str


def plan(snap: dict, start: datetime) -> list[PlannedStep]:
    """When each step of each round would be reached if nobody acknowledged."""
    out = []
    at = start
    for round_ in range(snap["repeat"] + 1):
        for index, step in enumerate(snap["steps"]):
            out.append(PlannedStep(at, round_, index, step["targets"], step["mode"]))
            at = at + timedelta(minutes=step["delay"])
    return out


def preview(snap: dict, start: datetime, resolve: Callable[[dict, datetime], list[User]]) -> list[tuple[datetime, list[str], str]]:
    """'If it fired now: Dana at 03:12, Lee at 03:22, the payments team at 03:32.'"""
    lines = []
    for planned in plan(snap, start):
        people = []
        for target in planned.targets:
            for person in resolve(target, planned.at):
                if person.name not in people:
                    people.append(person.name)
        how = "one of" if planned.mode == "round_robin" and len(people) > 1 else ""
        names = ", ".join(t["name"] for t in planned.targets)
        lines.append((planned.at, people, f"{how} {names}".strip()))
    return lines


# --- acting -------------------------------------------------------------------------

def policy_for(incident: Incident) -> EscalationPolicy | None:
    policy_id = incident.service.escalation_policy_id
    return db.session.get(EscalationPolicy, policy_id) if policy_id else None


def begin(incident: Incident, now: datetime, actor: Actor = SYSTEM) -> None:
    """A new incident's paging: its policy's first step and its severity's triggers."""
    start(incident, now, actor)
    apply_triggers(incident, incident.severity, now, actor)


def start(incident: Incident, now: datetime, actor: Actor = SYSTEM) -> None:
    """Begin (or begin again) escalating: snapshot the policy, page its first step."""
    policy = policy_for(incident)
    incident.escalation_run = (incident.escalation_run or 0) + 1
    incident.escalation_round = 0
    incident.escalation_step = 0
    if policy is None or not policy.steps:
        incident.escalation_snapshot = None
        incident.escalation_state = STATE_EXHAUSTED
        incident.next_escalation_at = None
        _alarm(incident, now, f"{incident.service.name} has no escalation policy: nobody is on call for it")
        return
    incident.escalation_snapshot = snapshot(policy)
    incident.escalation_state = STATE_ACTIVE
    _page_step(incident, now, actor, reason="first step")


def stop(incident: Incident) -> None:
    """Acknowledged or resolved: no more escalation (pending pages are cancelled by paging)."""
    changes = sa.inspect(incident).attrs
    if changes.escalation_state.history.has_changes() or changes.next_escalation_at.history.has_changes():
        db.session.flush()  # the UPDATE works on the stored row: what was set must be there first
    db.session.execute(stop_escalation([incident.id]))


def stopped_values() -> dict:
    """What stopping escalation writes on an incident's row, as SQL that holds for any
    number of rows: a running escalation is stopped (an exhausted one stays so), and
    nothing more is due. `stop_escalation` writes it; resolving writes it with the
    incident's other columns (`incidents.resolved_values`)."""
    return {"escalation_state": sa.case((Incident.escalation_state == STATE_ACTIVE, STATE_STOPPED),
                                        else_=Incident.escalation_state),
            "next_escalation_at": None}


def stop_escalation(incident_ids) -> sa.Update:
    """The UPDATE that stops the escalation of these incidents (a list, or an expanding
    bind parameter)."""
    return sa.update(Incident).where(Incident.id.in_(incident_ids)).values(stopped_values())


def advance(incident: Incident, now: datetime, actor: Actor = SYSTEM, *, reason: str = "") -> bool:
    """Go to the next step (and round). The engine's job, and 'escalate now'."""
    snap = incident.escalation_snapshot
    if incident.status != Status.TRIGGERED or not snap or incident.escalation_state != STATE_ACTIVE:
        incident.next_escalation_at = None
        return False
    step, round_ = incident.escalation_step + 1, incident.escalation_round
    if step >= len(snap["steps"]):
        step, round_ = 0, round_ + 1
    if round_ > snap["repeat"]:
        incident.escalation_state = STATE_EXHAUSTED
        incident.next_escalation_at = None
        rounds = snap["repeat"] + 1
        _alarm(incident, now, f"Escalation policy {snap['name']} ran out after {rounds} round{'s' if rounds > 1 else ''} "
                              "and nobody acknowledged")
        return True
    incident.escalation_step, incident.escalation_round = step, round_
    _page_step(incident, now, actor, reason=reason or "no acknowledgement")
    return True


def escalate_now(actor: Actor, incident: Incident, now: datetime, *, via: str = "web") -> str:
    """Jump to the next step at once. Returns who is being paged."""
    if not actor.can(Role.RESPONDER):
        raise DomainError("Only responders escalate.")
    if incident.status == Status.RESOLVED:
        raise DomainError("it is resolved; reopen it first.")
    if incident.status == Status.ACKNOWLEDGED:
        incident.status = Status.TRIGGERED
        incident.ack_timeout_at = None
    record_event(incident, EventKind.ESCALATED, actor, via=via, at=now, text=f"Escalated by {actor.label}",
                 data={"by": actor.label})
    audit.record(actor, "incident.escalate", incident, summary=f"#{incident.id} escalated via {via}")
    if not incident.escalation_snapshot or incident.escalation_state == STATE_EXHAUSTED:
        start(incident, now, actor)
    else:
        incident.escalation_state = STATE_ACTIVE  # acknowledged, then escalated: go on from where it was
        advance(incident, now, actor, reason=f"escalated by {actor.label}")
    return ", ".join(_last_paged_names(incident))


def repage(incident: Incident, now: datetime) -> None:
    """The acknowledgement timed out: page the current step again, and go on from there."""
    if not incident.escalation_snapshot or incident.escalation_state not in (STATE_ACTIVE, STATE_STOPPED):
        start(incident, now)
        return
    incident.escalation_state = STATE_ACTIVE
    incident.escalation_run = (incident.escalation_run or 0) + 1
    _page_step(incident, now, SYSTEM, reason="acknowledgement timed out")


def _page_step(incident: Incident, now: datetime, actor: Actor, *, reason: str) -> None:
    from app.escalation import targets
    snap = incident.escalation_snapshot
    step = snap["steps"][incident.escalation_step]
    people = targets.people(step["targets"], now, incident)
    if step["mode"] == "round_robin" and people:
        live = db.session.get(EscalationStep, step.get("id")) if step.get("id") else None
        cursor = live.rr_cursor if live is not None else incident.escalation_round
        people = [people[cursor % len(people)]]
        if live is not None:
            live.rr_cursor = cursor + 1
    names = ", ".join(t["name"] for t in step["targets"]) or "nobody"
    label = f"step {incident.escalation_step + 1}" + (f", round {incident.escalation_round + 1}" if snap["repeat"] else "")
    record_event(incident, EventKind.ESCALATED, actor, via="engine", at=now,
                 text=f"Escalation {label} ({reason}): {names}",
                 data={"step": incident.escalation_step, "round": incident.escalation_round,
                       "policy": snap["name"], "users": [p.id for p in people]})
    key = f"e{incident.escalation_run}r{incident.escalation_round}s{incident.escalation_step}"
    reached = [p for p in people if paging.page(incident, p, now, round_key=key, actor=actor, reason=label)]
    incident.next_escalation_at = now + timedelta(minutes=step["delay"])
    if not reached:
        _alarm(incident, now, f"Nobody could be paged at escalation {label} ({names})")
    else:
        incident.unreachable_since = None


def _alarm(incident: Incident, now: datetime, text: str) -> None:
    """Nobody on call, or nobody reachable: say so in red and page the fallback."""
    from app.escalation import targets
    if incident.unreachable_since is None:
        incident.unreachable_since = now
    record_event(incident, EventKind.NOBODY_REACHABLE, SYSTEM, via="engine", at=now, text=text)
    key = f"fallback{incident.escalation_run}r{incident.escalation_round}s{incident.escalation_step}"
    for person in targets.fallback(incident):
        paging.page(incident, person, now, round_key=key, actor=SYSTEM, reason="fallback")


def _last_paged_names(incident: Incident) -> list[str]:
    from app.incidents.models import IncidentEvent
    event = db.session.scalar(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.kind == EventKind.ESCALATED,
                                                             IncidentEvent.via == "engine")
                              .order_by(IncidentEvent.id.desc()).limit(1))
    if event is None or not event.data:
        return []
    ids = event.data.get("users") or []
    return [u.name for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))] if ids else []


# --- severity triggers ----------------------------------------------------------------

def apply_triggers(incident: Incident, severity: int, now: datetime, actor: Actor = SYSTEM, *,
                   on: str = "open") -> list[User]:
    """Page who the severity says must also hear: at once on opening (or when raised
    to it), or when its response objective is breached (`on="breach"`)."""
    from app.escalation import targets
    rows = memo.remembered(TriggersFor(severity, on), lambda: db.session.scalars(
        sa.select(SeverityTrigger).where(SeverityTrigger.severity == severity, SeverityTrigger.on == on)
        .order_by(SeverityTrigger.id)).all())
    people = []
    for row in rows:
        for person in targets.for_trigger(row, now, incident):
            if person not in people:
                people.append(person)
    when = "breach" if on == "breach" else "triggers"
    if people:
        record_event(incident, EventKind.ESCALATED, actor, via="engine", at=now,
                     text=f"SEV-{severity} {when}: paging {', '.join(p.name for p in people)}",
                     data={"severity": severity, "users": [p.id for p in people], "trigger": on})
    for person in people:
        paging.page(incident, person, now, round_key=f"{on}{severity}", actor=actor,
                    reason=f"SEV-{severity} {'response objective breached' if on == 'breach' else 'trigger'}")
    return people


TRIGGER_WHEN = {"open": "as it opens", "breach": "when its response objective is breached"}


def triggers(severity: int | None = None) -> list[SeverityTrigger]:
    stmt = sa.select(SeverityTrigger).order_by(SeverityTrigger.severity, SeverityTrigger.on.desc(), SeverityTrigger.id)
    if severity is not None:
        stmt = stmt.where(SeverityTrigger.severity == severity)
    return db.session.scalars(stmt).all()


def describe_trigger(trigger: SeverityTrigger) -> str:
    """Who the trigger pages, in words: "the managers of the service's team", …"""
    from app.escalation import targets
    if trigger.kind == "managers":
        return "the managers of the service's team"
    ref = {"user": trigger.user_id, "schedule": trigger.schedule_id, "team": trigger.team_id}[trigger.kind]
    return targets.name_of(trigger.kind, ref)


def add_trigger(actor: Actor, severity: int, *, on: str, kind: str, ref: int | None = None) -> SeverityTrigger:
    """Page someone else for every incident of this severity, as it opens or on a breach."""
    from app.escalation.policies import find_target
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change the severity model.")
    if severity not in (1, 2, 3, 4):
        raise DomainError("There are four severities.", "severity")
    if on not in TRIGGER_WHEN:
        raise DomainError("A trigger pages as the incident opens or when its response objective is breached.", "on")
    if kind == "managers":
        ref = None
    else:
        find_target(kind, ref)  # raises for an unknown kind or target
    row = SeverityTrigger(severity=severity, on=on, kind=kind, **({f"{kind}_id": ref} if ref else {}))
    if any((t.on, t.kind, t.user_id, t.schedule_id, t.team_id) == (on, kind, row.user_id, row.schedule_id, row.team_id)
           for t in triggers(severity)):
        raise Conflict("That trigger is already there.", "target")
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "severity.add_trigger", row,
                 summary=f"SEV-{severity} pages {describe_trigger(row)} {TRIGGER_WHEN[on]}",
                 after={"severity": severity, "on": on, "kind": kind, "ref": ref})
    return row


def remove_trigger(actor: Actor, trigger: SeverityTrigger) -> None:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change the severity model.")
    audit.record(actor, "severity.remove_trigger", trigger,
                 summary=f"SEV-{trigger.severity} no longer pages {describe_trigger(trigger)} {TRIGGER_WHEN[trigger.on]}",
                 before={"severity": trigger.severity, "on": trigger.on, "kind": trigger.kind})
    db.session.delete(trigger)


def seed_default_triggers() -> None:
    """SEV-1 also pages the incident-commander schedule and the service team's
    managers (as it opens, and on a breach of its response objective); SEV-2 the
    incident-commander schedule. Adds only what is missing (a new install's
    migration already added the managers' two)."""
    from app.oncall.models import Schedule
    wanted = [(1, "open", "managers", None), (1, "breach", "managers", None)]
    commander = db.session.scalar(sa.select(Schedule).where(Schedule.name == "Incident Commander",
                                                           Schedule.archived_at.is_(None)))
    if commander is not None:
        wanted += [(1, "open", "schedule", commander.id), (2, "open", "schedule", commander.id)]
    have = set(db.session.execute(sa.select(SeverityTrigger.severity, SeverityTrigger.on, SeverityTrigger.kind,
                                            SeverityTrigger.schedule_id)).all())
    for severity, on, kind, schedule_id in wanted:
        if (severity, on, kind, schedule_id) not in have:
            db.session.add(SeverityTrigger(severity=severity, on=on, kind=kind, schedule_id=schedule_id))


def team_members(team: Team) -> list[User]:
    return [m.user for m in db.session.scalars(sa.select(TeamMembership).where(TeamMembership.team_id == team.id))
            if m.user.active]
