"""The war room: the incident page as the place the response is coordinated.

Bridge and chat links and the current status summary; a task list (owner, due,
done); tactical reports in CAN form (Conditions, Actions, Needs) with an executive
summary; decisions (notes flagged as such); and responders asked from other teams,
paged through their team's escalation policy until one of them joins.

Plain functions, explicit actor and time; the caller commits. Each change writes
its timeline entry (so live pages pick it up) and its audit entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlparse

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, Team, User
from app.engine.core import Job
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.incidents.timeline import record_event
from app.incidents.warroom_models import SituationReport, Task, TeamRequest, WarRoom

MAX_SUMMARY = 5_000
MAX_REPORT_FIELD = 10_000
MAX_TASK = 300
ROOM_FIELDS = ("bridge_url", "bridge_phone", "chat_url", "status_summary", "impact")
ROOM_LABELS = {"bridge_url": "video bridge", "bridge_phone": "dial-in", "chat_url": "chat channel",
               "status_summary": "status summary", "impact": "customer impact"}


def _may_act(actor: Actor) -> None:
    if not actor.can(Role.RESPONDER):
        raise Forbidden("Only responders coordinate incidents.")


def _url(value: str | None, field: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(value) > 500:
        raise DomainError("Give an http(s) link, e.g. https://meet.example.com/incident-42.", field)
    return value


def _text(value: str | None, field: str, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise DomainError(f"Keep it under {limit:,} characters.", field)
    return value


# --- links and summary -------------------------------------------------------------------

def room(incident: Incident) -> WarRoom | None:
    return db.session.get(WarRoom, incident.id)


def update_room(actor: Actor, incident: Incident, now: datetime, *, via: str = "web", **values) -> dict:
    """Set the bridge, dial-in, chat link, status summary or customer impact (the
    fields given). Returns what changed."""
    _may_act(actor)
    unknown = set(values) - set(ROOM_FIELDS)
    if unknown:
        raise DomainError(f"Unknown field {sorted(unknown)[0]}.")
    clean = {}
    for name, value in values.items():
        if name in ("bridge_url", "chat_url"):
            clean[name] = _url(value, name)
        elif name == "bridge_phone":
            clean[name] = _text(value, name, 100)
        else:
            clean[name] = _text(value, name, MAX_SUMMARY)
    current = room(incident)
    before = {name: getattr(current, name) if current else "" for name in ROOM_FIELDS}
    changed = {name: value for name, value in clean.items() if before[name] != value}
    if not changed:
        return {}
    if current is None:
        current = WarRoom(incident_id=incident.id, **{name: "" for name in ROOM_FIELDS})
        db.session.add(current)
    for name, value in changed.items():
        setattr(current, name, value)
    current.updated_at, current.updated_by = now, actor.label[:200]
    parts = []
    for name, value in changed.items():
        label = ROOM_LABELS[name]
        if name in ("status_summary", "impact"):
            parts.append(f"{label.capitalize()}: {value}" if value else f"{label.capitalize()} cleared")
        else:
            parts.append(f"{label.capitalize()} {value}" if value else f"{label.capitalize()} removed")
    record_event(incident, EventKind.WAR_ROOM_CHANGED, actor, via=via, at=now, text="; ".join(parts),
                 data={"fields": sorted(changed)})
    audit.record(actor, "incident.war_room", incident, summary=f"#{incident.id} war room: {', '.join(sorted(changed))}",
                 before={k: before[k] for k in changed}, after=changed)
    return changed


# --- tasks -------------------------------------------------------------------------------

def tasks(incident: Incident) -> list[Task]:
    """Open tasks first (soonest due first, undated last), then done ones."""
    rows = db.session.scalars(sa.select(Task).where(Task.incident_id == incident.id).order_by(Task.id)).all()
    far = datetime.max.replace(tzinfo=None)
    return sorted(rows, key=lambda t: (t.done, t.due_at.replace(tzinfo=None) if t.due_at else far, t.id))


def get_task(incident: Incident, task_id: int) -> Task:
    task = db.session.get(Task, task_id)
    if task is None or task.incident_id != incident.id:
        raise NotFound(f"Incident #{incident.id} has no task {task_id}.")
    return task


def _owner(owner_id: int | None) -> User | None:
    if owner_id is None:
        return None
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.active:
        raise DomainError("The owner must be an active person.", "owner_id")
    return owner


def _title(title: str | None) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise DomainError("Say what is to be done.", "title")
    if len(title) > MAX_TASK:
        raise DomainError(f"Keep the task under {MAX_TASK} characters.", "title")
    return title


def add_task(actor: Actor, incident: Incident, now: datetime, *, title: str, owner_id: int | None = None,
             due_at: datetime | None = None, via: str = "web") -> Task:
    _may_act(actor)
    owner = _owner(owner_id)
    task = Task(incident_id=incident.id, title=_title(title), owner_id=owner.id if owner else None, due_at=due_at,
                created_at=now, created_by=actor.label[:200])
    db.session.add(task)
    db.session.flush()
    detail = ", ".join(filter(None, [f"owner {owner.name}" if owner else "",
                                     f"due {due_at:%H:%M} UTC" if due_at else ""]))
    record_event(incident, EventKind.TASK_ADDED, actor, via=via, at=now,
                 text=f"Task: {task.title}" + (f" ({detail})" if detail else ""),
                 data={"task_id": task.id, "owner_id": task.owner_id, "due_at": due_at.isoformat() if due_at else None})
    audit.record(actor, "incident.task", incident, summary=f"#{incident.id} task added: {task.title}")
    return task


def change_task(actor: Actor, task: Task, now: datetime, *, via: str = "web", **values) -> dict:
    """Change a task's title, owner, due time, or mark it done (`done=True`) or not."""
    _may_act(actor)
    incident = db.session.get(Incident, task.incident_id)
    unknown = set(values) - {"title", "owner_id", "due_at", "done"}
    if unknown:
        raise DomainError(f"Unknown field {sorted(unknown)[0]}.")
    changed = {}
    if "title" in values and _title(values["title"]) != task.title:
        changed["title"] = (task.title, _title(values["title"]))
        task.title = changed["title"][1]
    if "owner_id" in values and values["owner_id"] != task.owner_id:
        owner = _owner(values["owner_id"])
        changed["owner_id"] = (task.owner_id, owner.id if owner else None)
        task.owner_id = changed["owner_id"][1]
    if "due_at" in values and values["due_at"] != task.due_at:
        changed["due_at"] = (task.due_at, values["due_at"])
        task.due_at = values["due_at"]
    if "done" in values and bool(values["done"]) != task.done:
        changed["done"] = (task.done, bool(values["done"]))
        task.done_at = now if values["done"] else None
        task.done_by = actor.label[:200] if values["done"] else ""
    if not changed:
        return {}
    db.session.flush()
    db.session.expire(task, ["owner"])
    if set(changed) == {"done"}:
        text = f"Task done: {task.title}" if task.done else f"Task reopened: {task.title}"
    else:
        words = []
        if "owner_id" in changed:
            words.append(f"owner {task.owner.name}" if task.owner else "no owner")
        if "due_at" in changed:
            words.append(f"due {task.due_at:%H:%M} UTC" if task.due_at else "no due time")
        if "title" in changed:
            words.append("renamed")
        if "done" in changed:
            words.append("done" if task.done else "reopened")
        text = f"Task {task.title}: {', '.join(words)}"
    record_event(incident, EventKind.TASK_CHANGED, actor, via=via, at=now, text=text,
                 data={"task_id": task.id, "fields": sorted(changed), "done": task.done})
    audit.record(actor, "incident.task", incident, summary=f"#{incident.id} task {task.id}: {', '.join(sorted(changed))}",
                 before={k: audit.jsonable(old) for k, (old, _) in changed.items()},
                 after={k: audit.jsonable(new) for k, (_, new) in changed.items()})
    return changed


# --- tactical reports and decisions --------------------------------------------------------

def latest_report(incident: Incident) -> SituationReport | None:
    return db.session.scalar(sa.select(SituationReport).where(SituationReport.incident_id == incident.id)
                             .order_by(SituationReport.created_at.desc(), SituationReport.id.desc()).limit(1))


def report(actor: Actor, incident: Incident, now: datetime, *, conditions: str, actions: str, needs: str,
           executive_summary: str = "", via: str = "web") -> SituationReport:
    """A tactical report: what is happening (conditions), what is being done (actions),
    what is needed (needs), plus a short executive summary."""
    _may_act(actor)
    values = {name: _text(value, name, MAX_REPORT_FIELD) for name, value in
              (("conditions", conditions), ("actions", actions), ("needs", needs),
               ("executive_summary", executive_summary))}
    if not (values["conditions"] or values["actions"] or values["needs"]):
        raise DomainError("Say at least what the conditions are, what is being done, or what is needed.",
                          "conditions")
    row = SituationReport(incident_id=incident.id, created_at=now, author=actor.label[:200],
                          author_id=actor.user.id if actor.user else None, **values)
    db.session.add(row)
    db.session.flush()
    lines = [f"{label}: {values[name]}" for name, label in (("conditions", "Conditions"), ("actions", "Actions"),
                                                           ("needs", "Needs")) if values[name]]
    record_event(incident, EventKind.SITUATION_REPORT, actor, via=via, at=now,
                 text="Tactical report. " + " ".join(lines), data={"report_id": row.id})
    audit.record(actor, "incident.report", incident, summary=f"#{incident.id} tactical report")
    return row


def decisions(incident: Incident) -> list[IncidentEvent]:
    """Notes flagged as decisions, newest first."""
    return db.session.scalars(sa.select(IncidentEvent).where(IncidentEvent.incident_id == incident.id,
                                                             IncidentEvent.kind == EventKind.DECISION)
                              .order_by(IncidentEvent.at.desc(), IncidentEvent.id.desc())).all()


def flag_decision(actor: Actor, incident: Incident, event_id: int, now: datetime) -> bool:
    """Mark a note already on the timeline as a decision (what it says is unchanged)."""
    _may_act(actor)
    event = db.session.get(IncidentEvent, event_id)
    if event is None or event.incident_id != incident.id:
        raise NotFound("That timeline entry is not on this incident.")
    if event.kind == EventKind.DECISION:
        return False
    if event.kind != EventKind.NOTE:
        raise DomainError("Only a note can be flagged as a decision.")
    event.kind = EventKind.DECISION.value
    from app.incidents.timeline import touch
    touch(incident, now)
    audit.record(actor, "incident.decision", incident, summary=f"#{incident.id} note {event.id} flagged as a decision")
    return True


# --- responders from other teams ----------------------------------------------------------------

def team_policy(team: Team):
    from app.escalation.models import EscalationPolicy
    return db.session.scalar(sa.select(EscalationPolicy).where(EscalationPolicy.team_id == team.id)
                             .order_by(EscalationPolicy.id).limit(1))


def request_team(actor: Actor, incident: Incident, team: Team, now: datetime, *, note: str = "",
                 via: str = "web") -> TeamRequest:
    """Ask another team for responders: page the first step of its escalation policy
    now, and the next steps (by their delays) until one of them joins."""
    from app.escalation.service import snapshot
    _may_act(actor)
    if incident.status == Status.RESOLVED:
        raise DomainError("The incident is resolved; reopen it to bring in more people.")
    note = _text(note, "note", 500)
    open_request = db.session.scalar(sa.select(TeamRequest).where(
        TeamRequest.incident_id == incident.id, TeamRequest.team_id == team.id, TeamRequest.state == "paging"))
    if open_request is not None:
        raise DomainError(f"The {team.name} team is already being paged for this incident.", "team_id")
    policy = team_policy(team)
    request = TeamRequest(incident_id=incident.id, team_id=team.id, note=note, state="paging", step=0,
                          paged_user_ids=[], requested_at=now, requested_by=actor.label[:200],
                          policy_snapshot=snapshot(policy) if policy is not None and policy.steps else None)
    db.session.add(request)
    db.session.flush()
    how = f"through {policy.name}" if request.policy_snapshot else "(no escalation policy: paging its members)"
    record_event(incident, EventKind.TEAM_REQUESTED, actor, via=via, at=now,
                 text=f"Asked the {team.name} team to join {how}" + (f": {note}" if note else ""),
                 data={"team_id": team.id, "request_id": request.id})
    audit.record(actor, "incident.request_team", incident, summary=f"#{incident.id} asked {team.name} to join")
    _page_request_step(request, incident, now, actor)
    return request


def _page_request_step(request: TeamRequest, incident: Incident, now: datetime, actor: Actor) -> None:
    from app.escalation import targets
    from app.notify import paging
    snap = request.policy_snapshot
    if snap:
        step = snap["steps"][request.step]
        people = targets.people(step["targets"], now, incident)
        delay = step["delay"]
    else:
        people = targets.members(request.team_id)
        delay = None
    label = f"the {request.team.name} team asked to join"
    reached = [p for p in people
               if paging.page(incident, p, now, round_key=f"team{request.id}s{request.step}", actor=actor,
                              reason=label, purpose="assist")]
    request.paged_user_ids = sorted({*(request.paged_user_ids or []), *(p.id for p in reached)})
    more = snap is not None and request.step + 1 < len(snap["steps"])
    request.next_step_at = now + timedelta(minutes=delay) if more and delay is not None else None
    if not reached and not more:
        request.state = "unreachable" if not request.paged_user_ids else "exhausted"
        record_event(incident, EventKind.NOBODY_REACHABLE, Actor.system(), via="engine", at=now,
                     text=f"Nobody of the {request.team.name} team could be paged",
                     data={"team_id": request.team_id, "request_id": request.id})


def joined(request: TeamRequest) -> tuple[User | None, datetime | None]:
    """The first of the people paged (or the team's members) to act on the incident
    after the request: acknowledging their page, joining, a note, anything."""
    if request.joined_at is not None:
        return request.joined_user, request.joined_at
    from app.escalation import targets
    ids = set(request.paged_user_ids or []) | {u.id for u in targets.members(request.team_id)}
    if not ids:
        return None, None
    event = db.session.scalar(sa.select(IncidentEvent).where(
        IncidentEvent.incident_id == request.incident_id, IncidentEvent.actor_user_id.in_(ids),
        IncidentEvent.at >= request.requested_at, IncidentEvent.kind != EventKind.TEAM_REQUESTED)
        .order_by(IncidentEvent.at, IncidentEvent.id).limit(1))
    if event is None:
        return None, None
    return db.session.get(User, event.actor_user_id), event.at


def advance_request(request_id: int, now: datetime) -> bool:
    """Engine unit: nobody joined within the step's delay, so page the next step."""
    request = db.session.get(TeamRequest, request_id)
    if request is None or request.next_step_at is None or request.next_step_at > now:
        return False
    incident = db.session.get(Incident, request.incident_id)
    who, when = joined(request)
    if who is not None or request.state != "paging" or incident.status == Status.RESOLVED:
        if who is not None:
            request.state, request.joined_user_id, request.joined_at = "joined", who.id, when
        elif request.state == "paging":
            request.state = "closed"
        request.next_step_at = None
        return True
    request.step += 1
    _page_request_step(request, incident, now, Actor.system())
    return True


def due_requests(now: datetime, limit: int) -> list[int]:
    return db.session.scalars(sa.select(TeamRequest.id).where(TeamRequest.next_step_at <= now)
                              .order_by(TeamRequest.next_step_at).limit(limit)).all()


def join(actor: Actor, incident: Incident, now: datetime, *, via: str = "web") -> bool:
    """'I'm joining': the person says they are on the incident (answering a request
    for their team, or of their own accord). Once per person."""
    _may_act(actor)
    if actor.user is None:
        raise DomainError("Only a person joins an incident.")
    already = db.session.scalar(sa.select(IncidentEvent.id).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EventKind.RESPONDER_JOINED,
        IncidentEvent.actor_user_id == actor.user.id).limit(1))
    if already is not None:
        return False
    teams = [r.team.name for r in open_requests(incident) if actor.user.id in (r.paged_user_ids or [])
             or actor.user in r.team.members]
    record_event(incident, EventKind.RESPONDER_JOINED, actor, via=via, at=now,
                 text=f"{actor.user.name} joined" + (f" for the {', '.join(teams)} team" if teams else ""),
                 data={"user_id": actor.user.id})
    settle_requests(incident, now)
    return True


def was_asked(incident: Incident, user: User) -> bool:
    """Whether an open request for another team paged this person."""
    return any(user.id in (r.paged_user_ids or []) for r in open_requests(incident))


def open_requests(incident: Incident) -> list[TeamRequest]:
    return db.session.scalars(sa.select(TeamRequest).where(TeamRequest.incident_id == incident.id,
                                                           TeamRequest.state == "paging")).all()


def settle_requests(incident: Incident, now: datetime) -> None:
    """Requests someone has answered stop paging further steps."""
    for request in open_requests(incident):
        who, when = joined(request)
        if who is not None:
            request.state, request.joined_user_id, request.joined_at, request.next_step_at = \
                "joined", who.id, when, None


@dataclass
class RequestView:
    request: TeamRequest
    paged: list[User]
    joined_by: User | None
    joined_at: datetime | None


def requests(incident: Incident) -> list[RequestView]:
    rows = db.session.scalars(sa.select(TeamRequest).where(TeamRequest.incident_id == incident.id)
                              .order_by(TeamRequest.requested_at, TeamRequest.id)).all()
    out = []
    for row in rows:
        ids = row.paged_user_ids or []
        people = db.session.scalars(sa.select(User).where(User.id.in_(ids))).all() if ids else []
        who, when = joined(row)
        out.append(RequestView(row, sorted(people, key=lambda u: u.name), who, when))
    return out


def joined_people(incident: Incident) -> list[tuple[User, datetime]]:
    """Everyone who said they joined, first first."""
    events = db.session.scalars(sa.select(IncidentEvent).where(
        IncidentEvent.incident_id == incident.id, IncidentEvent.kind == EventKind.RESPONDER_JOINED)
        .order_by(IncidentEvent.at, IncidentEvent.id)).all()
    out = []
    for event in events:
        user = db.session.get(User, event.actor_user_id) if event.actor_user_id else None
        if user is not None:
            out.append((user, event.at))
    return out


JOBS = [Job("team_requests", due_requests, advance_request)]
