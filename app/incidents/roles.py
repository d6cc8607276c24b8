"""Incident command roles: the eight roles, who holds them, handovers, proposals,
and each role's checklist.

Roles are data: the shipped definitions are below and an admin's edit of one is a
`role_definitions` row that replaces it (so a fresh or emptied database still has
every role). Every change is a `role_assigned` / `role_released` timeline entry
whose data names the role and the person (`{"role": "commander", "user_id": 7,
"from_user_id": 3, "handover": true}`), which is what the post-mortem reads.

For SEV-1 and SEV-2 the commander is proposed from whoever is on call on the
incident-commander schedule, and the technical lead from the first step of the
service's escalation policy: a proposal is a row the commander accepts in one
tap, not an assignment.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_app_context

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, User
from app.engine import memo
from app.errors import DomainError, Forbidden
from app.extensions import db
from app.incidents.models import EventKind, Incident
from app.incidents.roles_models import AssignmentState, RoleAssignment, RoleCheck, RoleDefinition
from app.incidents.timeline import record_event, touch

COMMANDER = "commander"
COMMS_LEAD = "comms_lead"
TECHNICAL_LEAD = "technical_lead"
DEFAULT_COMMANDER_SCHEDULE = "Incident Commander"
PROPOSE_FOR = (1, 2)  # severities whose commander is proposed from the schedule
MAX_CHECK_ITEM = 300


@dataclass(frozen=True)
class RoleDefinitions(memo.Key):
    """Every role definition row by key (`definitions`)."""


@dataclass(frozen=True)
class AssignmentsOf(memo.Key):
    """An incident's role assignments (`remember_assignments`)."""

    incident_id: int


@dataclass(frozen=True)
class CommanderSchedule(memo.Key):
    """The live schedule of that name (`commander_schedule`)."""

    name: str


@dataclass(frozen=True)
class RoleSpec:
    key: str
    name: str
    description: str
    checklist: tuple[str, ...]
    many: bool = False   # several people may hold it at once (subject matter experts)
    edited: bool = False  # an admin changed the shipped definition


DEFAULTS: tuple[RoleSpec, ...] = (
    RoleSpec("commander", "Incident Commander",
             "Owns the response: sets priorities, makes the decisions, assigns the roles and keeps everyone on "
             "one plan. Coordinates rather than debugs.",
             ("Confirm the severity", "Assign the roles: technical lead, communications lead, scribe",
              "Set the update cadence and say when the next update is due", "Open the bridge and the chat channel",
              "Post a tactical report: conditions, actions, needs",
              "Agree what customers are told with the communications lead",
              "Hand over command explicitly before stepping away")),
    RoleSpec("deputy", "Deputy Incident Commander",
             "Backs the commander up: keeps the task list and the clock, chases owners, and takes command at a "
             "handover.",
             ("Give every task an owner and a due time", "Watch the cadence and the objectives' countdowns",
              "Keep track of who has joined and who is still needed", "Be ready to take command")),
    RoleSpec("technical_lead", "Technical Lead",
             "Leads the investigation and the repair: forms hypotheses, proposes mitigations to the commander and "
             "directs the subject matter experts.",
             ("Check recent changes and deploys", "State the working hypothesis in the chat",
              "Propose a mitigation (rollback, failover, feature flag) to the commander",
              "Bring in the subject matter experts you need",
              "Confirm recovery with metrics before the incident is resolved")),
    RoleSpec("comms_lead", "Communications Lead",
             "Writes and sends every update, internal and external, from the templates, on the cadence. Is "
             "reminded when an update is due.",
             ("Send the first internal technical update", "Send the management update",
              "Agree the customer notice with the commander and post it on the status page",
              "Send every update before the next update time", "Send the resolution notice")),
    RoleSpec("scribe", "Scribe",
             "Keeps the record for the review: decisions, hypotheses tried, who joined and when, the milestone "
             "times.",
             ("Record each decision as it is made (flag the note as a decision)",
              "Note hypotheses tried and what came of them", "Note who joined and when",
              "Keep the milestone times right: impact started, mitigated")),
    RoleSpec("sme", "Subject Matter Expert",
             "Brings deep knowledge of one system; works the tasks the technical lead gives and reports back.",
             ("Say which system you cover and what you are looking at", "Take tasks with an owner and a due time",
              "Report findings to the technical lead"), many=True),
    RoleSpec("customer_liaison", "Customer Liaison",
             "Speaks for customers: briefs support, follows key accounts and brings customer reports into the war "
             "room.",
             ("Brief support with the current customer notice", "List the key accounts affected",
              "Bring customer reports into the war room", "Close the loop with key accounts after resolution")),
    RoleSpec("internal_liaison", "Internal Liaison",
             "Keeps management and the teams that depend on us informed, so the commander is not interrupted.",
             ("Send the management update", "Answer executives' questions",
              "Coordinate with dependent teams", "Collect the business impact figures")),
)
KEYS = tuple(spec.key for spec in DEFAULTS)
_DEFAULTS = {spec.key: spec for spec in DEFAULTS}


# --- definitions -------------------------------------------------------------------------

def definitions() -> list[RoleSpec]:
    """The eight roles, in order, with admins' edits applied."""
    rows = memo.remembered(RoleDefinitions(),
                           lambda: {row.key: row for row in db.session.scalars(sa.select(RoleDefinition))})
    out = []
    for spec in DEFAULTS:
        row = rows.get(spec.key)
        if row is not None:
            spec = RoleSpec(spec.key, row.name, row.description, tuple(row.checklist or ()), spec.many, edited=True)
        out.append(spec)
    return out


def definition(key: str) -> RoleSpec:
    for spec in definitions():
        if spec.key == key:
            return spec
    raise DomainError(f"There is no role {key!r}: choose one of {', '.join(KEYS)}.", "role")


def name_of(key: str) -> str:
    return next((spec.name for spec in definitions() if spec.key == key), key.replace("_", " ").title())


def parse_checklist(text: str) -> list[str]:
    items = [" ".join(line.strip().lstrip("-*").split()) for line in (text or "").splitlines()]
    items = [item for item in items if item]
    for item in items:
        if len(item) > MAX_CHECK_ITEM:
            raise DomainError(f"Keep each checklist item under {MAX_CHECK_ITEM} characters.", "checklist")
    if len(items) != len(set(items)):
        raise DomainError("Each checklist item must be different.", "checklist")
    if len(items) > 30:
        raise DomainError("At most 30 checklist items.", "checklist")
    return items


def save_definition(actor: Actor, key: str, now: datetime, *, name: str, description: str,
                    checklist: list[str]) -> RoleDefinition:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change the roles.")
    if key not in _DEFAULTS:
        raise DomainError(f"There is no role {key!r}.", "role")
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise DomainError("Give the role a name (at most 80 characters).", "name")
    description = (description or "").strip()
    if len(description) > 5000:
        raise DomainError("Keep the description under 5,000 characters.", "description")
    before = definition(key)
    row = db.session.get(RoleDefinition, key)
    if row is None:
        row = RoleDefinition(key=key)
        db.session.add(row)
    row.name, row.description, row.checklist = name, description, list(checklist)
    row.updated_at, row.updated_by = now, actor.label[:200]
    audit.record(actor, "role.update", object_type="role_definitions", object_id=None,
                 summary=f"Changed the role {before.name}",
                 before={"name": before.name, "description": before.description, "checklist": list(before.checklist)},
                 after={"name": name, "description": description, "checklist": list(checklist)})
    return row


def restore_definition(actor: Actor, key: str) -> bool:
    """Back to the shipped definition."""
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change the roles.")
    row = db.session.get(RoleDefinition, key)
    if row is None:
        return False
    db.session.delete(row)
    audit.record(actor, "role.restore", object_type="role_definitions", summary=f"Restored the shipped role {key}")
    return True


def seed_definitions(actor: Actor, now: datetime) -> int:
    """Rows for every shipped role (the demo does this so admins see them as data)."""
    made = 0
    for spec in DEFAULTS:
        if db.session.get(RoleDefinition, spec.key) is None:
            db.session.add(RoleDefinition(key=spec.key, name=spec.name, description=spec.description,
                                          checklist=list(spec.checklist), updated_at=now, updated_by=actor.label))
            made += 1
    return made


# --- who holds what ----------------------------------------------------------------------

def _may_act(actor: Actor) -> None:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders assign roles.")


def remember_assignments(incident_ids) -> None:
    """Within a `memo.sharing` block: every role assignment of these incidents in
    one query, so `assignments` (and `propose`) answer from memory for each."""
    memo.remember_lists(AssignmentsOf, incident_ids, lambda ids: db.session.scalars(
        sa.select(RoleAssignment).where(RoleAssignment.incident_id.in_(ids))), lambda row: row.incident_id)


def _remembered_assignments(incident: Incident) -> list[RoleAssignment] | None:
    current = memo.current()
    return current.get(AssignmentsOf(incident.id)) if current is not None else None


def assignments(incident: Incident, *states: str) -> list[RoleAssignment]:
    known = _remembered_assignments(incident)
    if known is not None:  # rows not yet flushed (no id) come after the rest, as they will
        return sorted((row for row in known if not states or row.state in states),
                      key=lambda row: (row.since, row.id is None, row.id or 0))
    stmt = sa.select(RoleAssignment).where(RoleAssignment.incident_id == incident.id)
    if states:
        stmt = stmt.where(RoleAssignment.state.in_(states))
    return db.session.scalars(stmt.order_by(RoleAssignment.since, RoleAssignment.id)).all()


def holders(incident: Incident, role: str) -> list[User]:
    return [row.user for row in assignments(incident, AssignmentState.ACTIVE) if row.role == role]


def holder(incident: Incident, role: str) -> User | None:
    found = holders(incident, role)
    return found[0] if found else None


def roles_of(incident: Incident, user: User | None) -> list[str]:
    if user is None or not getattr(user, "id", None):
        return []
    return [row.role for row in assignments(incident, AssignmentState.ACTIVE) if row.user_id == user.id]


@dataclass
class RoleView:
    """One role on the incident page: who holds it, who is proposed, the checklist."""

    spec: RoleSpec
    holders: list[RoleAssignment]
    proposed: list[RoleAssignment]
    done: dict[str, RoleCheck]

    @property
    def progress(self) -> str:
        return f"{sum(1 for item in self.spec.checklist if item in self.done)}/{len(self.spec.checklist)}"


def board(incident: Incident) -> list[RoleView]:
    rows = assignments(incident, AssignmentState.ACTIVE, AssignmentState.PROPOSED)
    checks = db.session.scalars(sa.select(RoleCheck).where(RoleCheck.incident_id == incident.id)).all()
    out = []
    for spec in definitions():
        out.append(RoleView(
            spec=spec,
            holders=[r for r in rows if r.role == spec.key and r.state == AssignmentState.ACTIVE],
            proposed=[r for r in rows if r.role == spec.key and r.state == AssignmentState.PROPOSED],
            done={c.item: c for c in checks if c.role == spec.key}))
    return out


def assign(actor: Actor, incident: Incident, role: str, user: User | None, now: datetime, *,
           via: str = "web") -> bool:
    """Give `role` to `user`; for a one-holder role this hands it over from whoever
    held it. False (nothing written) when they already hold it."""
    _may_act(actor)
    spec = definition(role)
    if user is None or not user.active:
        raise DomainError("Choose an active person for the role.", "user_id")
    if not user.can(Role.RESPONDER):
        raise DomainError(f"{user.name} is a viewer: roles are for responders.", "user_id")
    active = [r for r in assignments(incident, AssignmentState.ACTIVE) if r.role == role]
    if any(r.user_id == user.id for r in active):
        _close_proposals(incident, role, now)
        return False
    previous = None
    if not spec.many:
        for row in active:
            row.state, row.until = AssignmentState.ENDED, now
            previous = row.user
    _close_proposals(incident, role, now)
    given = RoleAssignment(incident_id=incident.id, role=role, user_id=user.id, state=AssignmentState.ACTIVE,
                           reason=f"assigned by {actor.label}"[:200], since=now)
    db.session.add(given)
    if (known := _remembered_assignments(incident)) is not None:  # within a memo block, keep it true
        known.append(given)
    if previous is not None:
        text = f"{spec.name} handed over from {previous.name} to {user.name}"
    else:
        text = f"{user.name} joins as {spec.name}" if spec.many else f"{user.name} is now {spec.name}"
    record_event(incident, EventKind.ROLE_ASSIGNED, actor, via=via, at=now, text=text,
                 data={"role": role, "user_id": user.id, "from_user_id": previous.id if previous else None,
                       "handover": previous is not None})
    audit.record(actor, "incident.role", incident, summary=f"#{incident.id} {text}",
                 before={"role": role, "user_id": previous.id if previous else None},
                 after={"role": role, "user_id": user.id})
    return True


def release(actor: Actor, incident: Incident, role: str, user: User, now: datetime, *, via: str = "web") -> bool:
    """`user` no longer holds `role` (nobody does, for a one-holder role)."""
    _may_act(actor)
    spec = definition(role)
    rows = [r for r in assignments(incident, AssignmentState.ACTIVE) if r.role == role and r.user_id == user.id]
    if not rows:
        return False
    for row in rows:
        row.state, row.until = AssignmentState.ENDED, now
    text = f"{user.name} is no longer {spec.name}"
    record_event(incident, EventKind.ROLE_RELEASED, actor, via=via, at=now, text=text,
                 data={"role": role, "user_id": user.id})
    audit.record(actor, "incident.role", incident, summary=f"#{incident.id} {text}",
                 before={"role": role, "user_id": user.id}, after={"role": role, "user_id": None})
    return True


def accept(actor: Actor, incident: Incident, proposal_id: int, now: datetime, *, via: str = "web") -> bool:
    row = db.session.get(RoleAssignment, proposal_id)
    if row is None or row.incident_id != incident.id or row.state != AssignmentState.PROPOSED:
        raise DomainError("That proposal is no longer open.")
    return assign(actor, incident, row.role, row.user, now, via=via)


def _close_proposals(incident: Incident, role: str, now: datetime) -> None:
    for row in assignments(incident, AssignmentState.PROPOSED):
        if row.role == role:
            row.state, row.until = AssignmentState.ENDED, now


# --- proposals -------------------------------------------------------------------------------

def commander_schedule():
    from app.oncall.models import Schedule
    name = current_app.config.get("COMMANDER_SCHEDULE", DEFAULT_COMMANDER_SCHEDULE) if has_app_context() \
        else DEFAULT_COMMANDER_SCHEDULE
    return memo.remembered(CommanderSchedule(name), lambda: db.session.scalar(
        sa.select(Schedule).where(Schedule.name == name, Schedule.archived_at.is_(None))))


def propose(incident: Incident, now: datetime, actor: Actor | None = None) -> list[RoleAssignment]:
    """Propose a commander (SEV-1/SEV-2: whoever is on call on the incident-commander
    schedule) and a technical lead (the first on call for the service), where the
    role has nobody and no proposal yet. Written on the timeline."""
    from app.escalation import targets
    actor = actor or Actor.system()
    rows = assignments(incident, AssignmentState.ACTIVE, AssignmentState.PROPOSED)
    taken = {r.role for r in rows}
    made = []
    known = _remembered_assignments(incident)

    def add(role: str, user: User, reason: str) -> None:
        row = RoleAssignment(incident_id=incident.id, role=role, user_id=user.id, state=AssignmentState.PROPOSED,
                             reason=reason[:200], since=now)
        db.session.add(row)
        made.append(row)
        if known is not None:
            known.append(row)
        record_event(incident, EventKind.ROLE_PROPOSED, actor, via="engine", at=now,
                     text=f"Proposed as {name_of(role)}: {user.name} ({reason})",
                     data={"role": role, "user_id": user.id, "reason": reason})

    if incident.severity in PROPOSE_FOR and COMMANDER not in taken:
        schedule = commander_schedule()
        if schedule is not None:
            people = [p for p in targets.on_call(schedule.id, now) if p.can(Role.RESPONDER)]
            if people:
                add(COMMANDER, people[0], f"on call for {schedule.name}")
    snap = incident.escalation_snapshot
    if not snap and TECHNICAL_LEAD not in taken:  # escalation not begun yet: the policy as it is now
        from app.escalation import service as escalation
        policy = escalation.policy_for(incident)
        snap = escalation.snapshot(policy) if policy is not None and policy.steps else None
    if TECHNICAL_LEAD not in taken and snap and snap.get("steps"):
        people = [p for p in targets.people(snap["steps"][0]["targets"], now, incident) if p.can(Role.RESPONDER)]
        if people:
            add(TECHNICAL_LEAD, people[0], f"first on call for {incident.service.name}")
    if made and known is None:  # in a batch they are flushed with the rest
        db.session.flush()
    return made


# --- checklists ------------------------------------------------------------------------------

def check(actor: Actor, incident: Incident, role: str, item: str, done: bool, now: datetime) -> bool:
    """Tick (or untick) one item of a role's checklist on this incident."""
    _may_act(actor)
    spec = definition(role)
    if item not in spec.checklist:
        raise DomainError("That item is not on the role's checklist.", "item")
    row = db.session.scalar(sa.select(RoleCheck).where(RoleCheck.incident_id == incident.id,
                                                       RoleCheck.role == role, RoleCheck.item == item))
    if done == (row is not None):
        return False
    if done:
        db.session.add(RoleCheck(incident_id=incident.id, role=role, item=item, done_at=now,
                                 done_by=actor.label[:200]))
    else:
        db.session.delete(row)
    audit.record(actor, "incident.role_checklist", incident,
                 summary=f"#{incident.id} {spec.name}: {'done' if done else 'not done'}: {item}")
    touch(incident, now)
    return True
