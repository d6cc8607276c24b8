"""From a document to a plan, and from a plan to the database.

`make_plan` compares the file with `export.current` object by object (keyed by
name, people by email) and lists what to create, update (with the fields that
change) and, with `prune`, delete; without it, what would be deleted is listed as
kept. `check_references` first makes sure every name the file uses means
something (in the file or in the database), so a typo stops the run before any
write. `apply` then carries the plan out through the domains' service functions,
so every change records its audit entry, acting as `Actor.system("config apply")`;
the caller commits once, or rolls back (a dry run, or an error, which names the
object's path and line in the file).

Deleting follows each domain's own rule: people and services are deactivated
(incidents name them), schedules archived, integration keys revoked, shipped
communication templates restored (an admin's own retired), a team deleted only when
it owns nothing any more; severity levels are never deleted (there are always four).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time

import sqlalchemy as sa

from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Team, TeamMembership, User
from app.comms import library, stakeholders
from app.comms import webhooks as hooks
from app.comms.defaults import TEMPLATE_KEYS
from app.comms.models import StakeholderList, Webhook
from app.config_as_code.document import (WEEKDAYS, ConfigError, Document, Lines, Path, PersonDoc, PolicyDoc,
                                         ScheduleDoc, ServiceDoc, TeamDoc, member_key, resolve_env)
from app.config_as_code.export import current, holiday_days, latest_version, trigger_key
from app.errors import DomainError
from app.escalation import policies as escalation
from app.escalation import service as severity_triggers
from app.escalation.models import EscalationPolicy
from app.extensions import db
from app.notify import contacts
from app.notify.models import NotificationRule
from app.oncall import service as oncall
from app.oncall.models import Holiday, Schedule
from app.services import service as services
from app.services.models import Service
from app.statuspage import service as statuspage
from app.statuspage.models import Component, ComponentGroup
from app.triage import service as triage

ACTOR = Actor.system("config apply")

# Sections in the order they are applied (what an object names comes before it).
KINDS = [
    # section, kind (as the plan says it), the key that matches file and database
    ("people", "person", lambda d: d.email),
    ("teams", "team", lambda d: d.name.lower()),
    ("schedules", "schedule", lambda d: d.name.lower()),
    ("escalation_policies", "escalation policy", lambda d: d.name.lower()),
    ("services", "service", lambda d: d.name.lower()),
    ("severity_levels", "severity level", lambda d: d.level),
    ("communication_templates", "communication template", lambda d: d.key),
    ("stakeholder_lists", "stakeholder list", lambda d: d.name.lower()),
    ("status_page.page", "status page", lambda d: "settings"),
    ("status_page.groups", "status page group", lambda d: d.name.lower()),
    ("status_page.components", "status page component", lambda d: d.name.lower()),
    ("webhooks", "webhook", lambda d: d.name),
]


@dataclass
class Change:
    action: str            # create, update, delete
    kind: str              # "person", "escalation policy", …
    label: str             # its name (a person's email, SEV-2)
    section: str
    doc: object = None     # the file's item (create, update)
    path: Path = ()        # where it is in the file
    fields: list[str] = field(default_factory=list)
    note: str = ""

    def line(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        text = f"{sign} {self.action} {self.kind} {self.label}"
        if self.fields:
            text += f": {', '.join(self.fields)}"
        return text + (f" ({self.note})" if self.note else "")


@dataclass
class Plan:
    changes: list[Change]
    kept: list[Change]     # not in the file: deleted only with --prune

    def text(self) -> str:
        lines = [change.line() for change in self.changes]
        if self.changes:
            counts = Counter(change.action for change in self.changes)
            lines.append(f"Plan: {counts['create']} to create, {counts['update']} to update, "
                         f"{counts['delete']} to delete.")
        else:
            lines.append("No changes.")
        if self.kept:
            lines.append("Not in the file, kept (apply with --prune to delete):")
            lines += [f"  {change.kind} {change.label}" + (f" ({change.note})" if change.note else "")
                      for change in self.kept]
        return "\n".join(lines)


def _items(doc: Document, section: str) -> list:
    obj = doc
    for part in section.split("."):
        obj = getattr(obj, part)
    return obj if isinstance(obj, list) else [] if obj is None else [obj]  # the page: one or none


def _path(section: str, index: int) -> Path:
    return tuple(section.split(".")) + (() if section == "status_page.page" else (index,))


def _label(section: str, item) -> str:
    if section == "people":
        return item.email
    if section == "severity_levels":
        return f"SEV-{item.level}"
    if section == "communication_templates":
        return item.key
    if section == "status_page.page":
        return "settings"
    return item.name


# --- references ------------------------------------------------------------------------------

def check_references(doc: Document, lines: Lines, *, prune: bool = False) -> None:
    """Every person, team, schedule, policy, service and group the file names exists,
    in the file or in the database (with `prune`, teams, schedules, policies and groups
    only in the file: the others are about to go); ConfigError at the first that does not."""
    def known(model, column, section, key, *, pruned: bool = False):
        have = set() if pruned and prune else {str(v).lower() for v in db.session.scalars(sa.select(column))}
        return have | {str(key(d)).lower() for d in _items(doc, section)}

    emails = known(User, User.email, "people", lambda d: d.email)
    teams = known(Team, Team.name, "teams", lambda d: d.name, pruned=True)
    schedules = known(Schedule, Schedule.name, "schedules", lambda d: d.name, pruned=True)
    if not prune:
        schedules -= {n.lower() for n in db.session.scalars(sa.select(Schedule.name).where(
            Schedule.archived_at.is_not(None)))} - {d.name.lower() for d in doc.schedules}
    policies = known(EscalationPolicy, EscalationPolicy.name, "escalation_policies", lambda d: d.name, pruned=True)
    service_names = known(Service, Service.name, "services", lambda d: d.name)
    groups = known(ComponentGroup, ComponentGroup.name, "status_page.groups", lambda d: d.name, pruned=True)
    sets = {"person": emails, "team": teams, "schedule": schedules, "escalation policy": policies,
            "service": service_names, "status page group": groups}

    def need(what: str, name: str | None, path: Path) -> None:
        if name is not None and name.lower() not in sets[what]:
            raise lines.error(path, f'unknown {what} "{name}"')

    def target(t, path: Path) -> None:
        for kind, what in (("user", "person"), ("schedule", "schedule"), ("team", "team")):
            need(what, getattr(t, kind), path + (kind,))

    for i, person in enumerate(doc.people):
        mine = {(m.channel, m.address) for m in person.contact_methods}
        for urgency in ("high", "low"):
            for j, rule in enumerate(getattr(person.notification_rules, urgency) or ()):
                if (rule.channel, rule.address) not in mine:
                    raise lines.error(("people", i, "notification_rules", urgency, j),
                                      f'no contact method {rule.channel} "{rule.address}" in contact_methods')
    for i, team in enumerate(doc.teams):
        for j, email in enumerate(team.members):
            need("person", email, ("teams", i, "members", j))
    for i, schedule in enumerate(doc.schedules):
        need("team", schedule.team, ("schedules", i, "team"))
        for j, layer in enumerate(schedule.layers):
            for k, email in enumerate(layer.rotation.participants):
                need("person", email, ("schedules", i, "layers", j, "rotation", "participants", k))
    for i, policy in enumerate(doc.escalation_policies):
        need("team", policy.team, ("escalation_policies", i, "team"))
        for j, step in enumerate(policy.steps):
            for k, t in enumerate(step.targets):
                target(t, ("escalation_policies", i, "steps", j, "targets", k))
    for i, service in enumerate(doc.services):
        need("team", service.team, ("services", i, "team"))
        need("team", service.fallback_team, ("services", i, "fallback_team"))
        need("escalation policy", service.escalation_policy, ("services", i, "escalation_policy"))
    for i, level in enumerate(doc.severity_levels):
        need("person", level.owner, ("severity_levels", i, "owner"))
        for j, t in enumerate(level.triggers):
            target(t, ("severity_levels", i, "triggers", j))
    for i, row in enumerate(doc.stakeholder_lists):
        for j, name in enumerate(row.services):
            need("service", name, ("stakeholder_lists", i, "services", j))
        for j, member in enumerate(row.members):
            need("person", member.user, ("stakeholder_lists", i, "members", j, "user"))
    for i, component in enumerate(doc.status_page.components):
        need("status page group", component.group, ("status_page", "components", i, "group"))
        for j, name in enumerate(component.services):
            need("service", name, ("status_page", "components", i, "services", j))
    for i, hook in enumerate(doc.webhooks):
        resolve_env(hook.url, ("webhooks", i, "url"), lines)
        resolve_env(hook.secret, ("webhooks", i, "secret"), lines)


# --- the plan --------------------------------------------------------------------------------

def make_plan(doc: Document, lines: Lines, now: datetime, *, prune: bool) -> Plan:
    have = current(now)
    changes: list[Change] = []
    kept: list[Change] = []
    for section, kind, key in KINDS:
        ours = {key(item): item for item in _items(have, section)}
        wanted = {key(item) for item in _items(doc, section)}
        for index, item in enumerate(_items(doc, section)):
            path = _path(section, index)
            there = ours.get(key(item))
            if there is None:
                changes.append(Change("create", kind, _label(section, item), section, item, path))
                continue
            fields = _differences(section, item, there, lines, path, prune, kept)
            if fields:
                changes.append(Change("update", kind, _label(section, item), section, item, path, fields))
        for k, item in ours.items():
            if k in wanted:
                continue
            gone = _deletion(section, kind, item)
            if gone is not None:
                (changes if prune else kept).append(gone)
    return Plan(changes, kept)


def _dump(item) -> dict:
    return item.model_dump(mode="json")


def _differences(section: str, want, have, lines: Lines, path: Path, prune: bool, kept: list) -> list[str]:
    """The fields of one object that the file changes."""
    a, b = _dump(want), _dump(have)
    if section == "people":
        # A verified address stays verified whatever a file says.
        verified = {(m["channel"], m["address"]) for m in b["contact_methods"] if m["verified"]}
        for m in a["contact_methods"]:
            m["verified"] = m["verified"] or (m["channel"], m["address"]) in verified
        # Contact methods and holidays are sets, whatever order the file lists them in.
        a["contact_methods"] = sorted(a["contact_methods"], key=lambda m: (m["channel"], m["address"]))
        a["holidays"] = sorted(a["holidays"], key=lambda h: (h["first_day"], h["last_day"], h["note"]))
    elif section == "schedules":
        # Where an existing layer started, and with whom, is the schedule's history.
        theirs = {layer["name"].lower(): layer for layer in b["layers"]}
        for layer in a["layers"]:
            if layer["name"].lower() in theirs:
                for name in ("start_date", "first_participant"):
                    layer["rotation"][name] = theirs[layer["name"].lower()]["rotation"][name]
    elif section == "services":
        if not prune:  # keys not in the file are kept (revoking one stops its monitoring)
            extra = Counter(k["name"] for k in b["integration_keys"]) \
                - Counter(k["name"] for k in a["integration_keys"])
            if extra:
                kept.append(Change("delete", "integration key", f"{', '.join(sorted(extra))} of {want.name}", section,
                                   note="revoked"))
                a["integration_keys"] = sorted(a["integration_keys"] + [{"name": n, "kind": "events_api_v2"}
                                                                         for n in extra.elements()],
                                               key=lambda k: k["name"])
        a["integration_keys"] = sorted(a["integration_keys"], key=lambda k: k["name"])
    elif section == "severity_levels":
        a["triggers"] = [_dump(t) for t in sorted(want.triggers, key=trigger_key)]
    elif section == "status_page.components":
        a["services"] = sorted(a["services"], key=str.lower)
        b["services"] = sorted(b["services"], key=str.lower)
    elif section == "webhooks":
        row = _webhook(want.name)
        url = resolve_env(want.url, path + ("url",), lines)
        secret = resolve_env(want.secret, path + ("secret",), lines)
        a["url"], b["url"] = url, row.url
        a["secret"], b["secret"] = (secret, row.secret) if secret is not None else (None, None)
    elif section == "stakeholder_lists":
        a["members"] = sorted(a["members"], key=member_key)
        a["services"] = sorted(a["services"], key=str.lower)
    elif section == "teams":
        a["members"], a["managers"] = sorted(a["members"]), sorted(a["managers"])
    a, b = _references_folded(a), _references_folded(b)
    return [name for name in a if a[name] != b.get(name)]


REFERENCES = {"team", "fallback_team", "escalation_policy", "services", "group", "schedule"}


def _references_folded(value, key: str | None = None):
    """Names that refer to other objects compared as the lookups find them, whatever
    their case (an object's own `name` is compared as written: a change is a rename)."""
    if isinstance(value, dict):
        return {k: _references_folded(v, k) for k, v in value.items()}
    if isinstance(value, list):
        folded = [_references_folded(v, key) for v in value]
        return sorted(folded) if key == "services" else folded
    if key in REFERENCES and isinstance(value, str):
        return value.lower()
    return value


def _deletion(section: str, kind: str, item) -> Change | None:
    """What deleting an object the file leaves out means, or None when nothing would."""
    label = _label(section, item)
    if section == "people":
        return Change("delete", kind, label, section, item, note="deactivated") if item.active else None
    if section == "services":
        return Change("delete", kind, label, section, item, note="deactivated") if item.active else None
    if section == "schedules":
        return Change("delete", kind, label, section, item, note="archived")
    if section == "communication_templates":
        if item.key in TEMPLATE_KEYS:
            return Change("delete", kind, label, section, item, note="the shipped text restored")
        return Change("delete", kind, label, section, item, note="retired") if item.active else None
    if section in ("severity_levels", "status_page.page"):
        return None
    return Change("delete", kind, label, section, item)


# --- applying --------------------------------------------------------------------------------

def apply(plan: Plan, lines: Lines, now: datetime, actor: Actor = ACTOR) -> None:
    """Carry out the plan (creates and updates in the order of KINDS, then deletions,
    last section first). Leaves the commit to the caller. A refusal from a service
    becomes a ConfigError naming the object's path and line."""
    writes = [c for c in plan.changes if c.action != "delete"]
    deletes = [c for c in plan.changes if c.action == "delete"]
    order = [section for section, _, _ in KINDS]
    deletes.sort(key=lambda c: -order.index(c.section))
    for change in writes + deletes:
        try:
            APPLY[change.section](change, now, actor)
            db.session.flush()
        except DomainError as error:
            where = f"{change.action} {change.kind} {change.label}: "
            raise ConfigError(change.path, where + error.message, lines.of(change.path) if change.path else None) \
                from None


def _user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def _named(model, name: str | None):
    if name is None:
        return None
    return db.session.scalar(sa.select(model).where(sa.func.lower(model.name) == name.lower()))


def _team_id(name: str | None) -> int | None:
    return _named(Team, name).id if name else None


def _schedule(name: str) -> Schedule:
    return db.session.scalar(sa.select(Schedule).where(sa.func.lower(Schedule.name) == name.lower(),
                                                       Schedule.archived_at.is_(None)))


def _webhook(name: str) -> Webhook | None:
    return db.session.scalar(sa.select(Webhook).where(Webhook.name == name, Webhook.removed_at.is_(None)))


def _ref_id(kind: str, name: str) -> int:
    if kind == "user":
        return _user(name).id
    if kind == "schedule":
        return _schedule(name).id
    return _named(Team, name).id


# people

def _person(change: Change, now: datetime, actor: Actor) -> None:
    d: PersonDoc = change.doc
    if change.action == "delete":
        people.update_user(actor, _user(d.email), active=False)
        return
    user = _user(d.email)
    if user is None:
        user = people.create_user(actor, email=d.email, name=d.name, role=d.role, phone=d.phone,
                                  time_zone=d.time_zone)
    else:
        fields = {name: getattr(d, name) for name in ("name", "role", "time_zone", "phone")
                  if getattr(d, name) != (getattr(user, name).value if name == "role" else getattr(user, name))}
        if fields:
            people.update_user(actor, user, **fields)
    # Contact methods: add what is missing (vouched for when `verified`), remove the rest.
    have = {(m.channel.value, m.address): m for m in user.contact_methods if m.active}
    for m in d.contact_methods:
        method = have.pop((m.channel, m.address), None)
        if method is None:
            contacts.add_method(actor, user, m.channel, m.address, now, verified=m.verified, send=False)
        elif m.verified and not method.verified:
            contacts.vouch(actor, method, now)
    for method in have.values():
        if method.active:  # removing a phone's SMS method may have removed its voice one
            contacts.remove_method(actor, method)
    db.session.flush()
    db.session.expire(user, ["contact_methods"])
    methods = {(m.channel.value, m.address): m for m in user.contact_methods if m.active}
    for urgency in ("high", "low"):
        wanted = getattr(d.notification_rules, urgency)
        rules = db.session.scalars(sa.select(NotificationRule).where(
            NotificationRule.user_id == user.id, NotificationRule.urgency == urgency)
            .order_by(NotificationRule.delay_minutes, NotificationRule.id)).all()
        chosen = any(r.chosen for r in rules)
        if wanted is None:
            if chosen:
                contacts.reset_rules(actor, user, urgency)
            continue
        steps = [(methods[(r.channel, r.address)].id, r.delay_minutes) for r in wanted]
        if not chosen or [(r.contact_method_id, r.delay_minutes) for r in rules] != steps:
            contacts.set_rules(actor, user, urgency, steps)
    _holidays(actor, user, d, now)
    if d.active != user.active:
        people.update_user(actor, user, active=d.active)


def _holidays(actor: Actor, user: User, d: PersonDoc, now: datetime) -> None:
    """The person's holidays still to come made the file's: (first day, last day, note)."""
    want = {(h.first_day, h.last_day, h.note) for h in d.holidays}
    have = set()
    for row in db.session.scalars(sa.select(Holiday).where(Holiday.user_id == user.id, Holiday.ends_at > now)
                                  .order_by(Holiday.starts_at, Holiday.id)):
        days = (*holiday_days(row, user), row.note or "")
        if days in want and days not in have:
            have.add(days)
        else:
            oncall.remove_holiday(actor, row, now)
    for first, last, note in sorted(want - have):
        oncall.add_holiday(actor, user, first_day=first, last_day=last, note=note, now=now)


# teams

def _team(change: Change, now: datetime, actor: Actor) -> None:
    d: TeamDoc = change.doc
    team = _named(Team, d.name)
    if change.action == "delete":
        people.delete_team(actor, team)  # refused while it still owns anything
        return
    if team is None:
        team = people.create_team(actor, name=d.name, description=d.description)
    elif team.description != d.description or team.name != d.name:
        people.update_team(actor, team, name=d.name, description=d.description)
    have = {m.user.email: m for m in db.session.scalars(sa.select(TeamMembership).where(
        TeamMembership.team_id == team.id))}
    for email in d.members:
        manager = email in d.managers
        membership = have.pop(email, None)
        if membership is None:
            people.add_member(actor, team, _user(email), is_manager=manager)
        elif membership.is_manager != manager:
            people.set_manager(actor, team, membership.user, manager)
    for email, membership in have.items():
        people.remove_member(actor, team, membership.user)


# schedules

def _rotation(rotation) -> dict:
    return {"participant_ids": [_user(e).id for e in rotation.participants], "shift_unit": rotation.shift_unit,
            "shift_length": rotation.shift_length, "handoff_time": time.fromisoformat(rotation.handoff_time),
            "handoff_weekday": WEEKDAYS.index(rotation.handoff_weekday) if rotation.handoff_weekday else None,
            "restrictions": [{"days": [WEEKDAYS.index(day) for day in r.days], "start": r.start, "end": r.end}
                             for r in rotation.restrictions]}


def _schedule_apply(change: Change, now: datetime, actor: Actor) -> None:
    d: ScheduleDoc = change.doc
    if change.action == "delete":
        oncall.archive_schedule(actor, _schedule(d.name), now)
        return
    schedule = _schedule(d.name)
    settings = {"name": d.name, "time_zone": d.time_zone, "description": d.description,
                "team_id": _team_id(d.team), "reminder_minutes": d.reminder_minutes}
    if schedule is None:
        schedule = oncall.create_schedule(actor, now=now, **settings)
    elif any(getattr(schedule, k) != v for k, v in settings.items()):
        oncall.update_schedule(actor, schedule, now=now, **settings)
    layers = {layer.name.lower(): layer for layer in schedule.layers}
    wanted = {layer.name.lower() for layer in d.layers}
    for layer in list(layers.values()):
        if layer.name.lower() not in wanted:
            oncall.remove_layer(actor, layer, now)
    for item in reversed(d.layers):  # new layers go on top: bottom first
        rotation = _rotation(item.rotation)
        layer = layers.get(item.name.lower())
        if layer is None:
            oncall.add_layer(actor, schedule, name=item.name, start_date=item.rotation.start_date, now=now,
                             start_index=item.rotation.participants.index(item.rotation.first_participant),
                             **rotation)
            continue
        if layer.name != item.name:
            oncall.change_layer(actor, layer, now=now, name=item.name)
        latest = latest_version(layer)
        if any(getattr(latest, k) != v for k, v in rotation.items()):
            oncall.change_layer(actor, layer, now=now, **rotation)
    # The order: the file's first layer on top.
    wanted_order = [layer.name.lower() for layer in d.layers]
    for _ in range(len(wanted_order) ** 2):
        order = [layer.name.lower() for layer in sorted(schedule.layers, key=lambda item: -item.position)]
        if order == wanted_order:
            break
        i = next(i for i, (a, b) in enumerate(zip(order, wanted_order)) if a != b)
        mover = next(layer for layer in schedule.layers if layer.name.lower() == wanted_order[i])
        oncall.move_layer(actor, mover, up=True, now=now)


# escalation policies

def _policy(change: Change, now: datetime, actor: Actor) -> None:
    d: PolicyDoc = change.doc
    policy = _named(EscalationPolicy, d.name)
    if change.action == "delete":
        escalation.delete_policy(actor, policy)
        return
    team_id = _team_id(d.team)
    if policy is None:
        policy = escalation.create_policy(actor, name=d.name, now=now, description=d.description, repeat=d.repeat,
                                          team_id=team_id)
    else:
        if (policy.name, policy.description, policy.repeat) != (d.name, d.description, d.repeat):
            escalation.update_policy(actor, policy, name=d.name, description=d.description, repeat=d.repeat, now=now)
        escalation.set_policy_team(actor, policy, team_id, now)
    steps = sorted(policy.steps, key=lambda s: s.position)
    for extra in steps[len(d.steps):][::-1]:
        escalation.remove_step(actor, extra, now)
    for index, item in enumerate(d.steps):
        if index < len(steps):
            step = steps[index]
            if (step.delay_minutes, step.mode) != (item.delay_minutes, item.mode):
                escalation.update_step(actor, step, delay_minutes=item.delay_minutes, mode=item.mode, now=now)
        else:
            step = escalation.add_step(actor, policy, delay_minutes=item.delay_minutes, mode=item.mode, now=now)
        wanted = [(t.kind, _ref_id(t.kind, t.ref)) for t in item.targets]
        if [(t.kind, t.ref) for t in step.targets] != wanted:
            for target in list(step.targets):
                escalation.remove_target(actor, target, now)
            for kind, ref in wanted:
                escalation.add_target(actor, step, kind, ref, now)


# services

def _service(change: Change, now: datetime, actor: Actor) -> None:
    d: ServiceDoc = change.doc
    service = _named(Service, d.name)
    if change.action == "delete":
        services.update_service(actor, service, name=service.name, description=service.description,
                                team_id=service.team_id, severity_mapping=service.severity_mapping, active=False)
        return
    settings = {"alert_grouping": d.alert_grouping, "resolve_with_alerts": d.resolve_with_alerts,
                "ack_timeout_minutes": d.ack_timeout_minutes, "auto_resolve_minutes": d.auto_resolve_minutes}
    mapping = d.severity_mapping.model_dump()
    team_id = _team_id(d.team)
    if service is None:
        service = services.create_service(actor, name=d.name, description=d.description, team_id=team_id,
                                          severity_mapping=mapping, with_key=False, **settings)
    if ((service.name, service.description, service.team_id, service.severity_mapping, service.active)
            != (d.name, d.description, team_id, mapping, d.active)
            or any(getattr(service, k) != v for k, v in settings.items())):
        services.update_service(actor, service, name=d.name, description=d.description, team_id=team_id,
                                severity_mapping=mapping, active=d.active, **settings)
    policy = _named(EscalationPolicy, d.escalation_policy)
    policy_id, fallback = (policy.id if policy else None), _team_id(d.fallback_team)
    if (service.escalation_policy_id, service.fallback_team_id) != (policy_id, fallback):
        escalation.set_service_policy(actor, service, policy_id, fallback)
    cells = d.severity_matrix.model_dump()
    if triage.service_matrix(service) != {k: v for k, v in cells.items() if v is not None}:
        triage.set_matrix(actor, service, cells)
    have = Counter(k.name for k in service.active_keys)
    want = Counter(k.name for k in d.integration_keys)
    for name in sorted((want - have).elements()):
        services.add_integration_key(actor, service, name=name)
    if change.fields and "integration_keys" in change.fields:
        for name in sorted((have - want).elements()):
            row = next(k for k in reversed(service.active_keys) if k.name == name)
            services.revoke_integration_key(actor, row)


# severity levels

def _level(change: Change, now: datetime, actor: Actor) -> None:
    d = change.doc
    row = triage.level_row(d.level)
    owner = _user(d.owner).id if d.owner else None
    fields = {name: getattr(d, name) for name in ("label", "definition", "impact_criteria", "examples",
                                                  "response_minutes", "resolution_minutes",
                                                  "update_cadence_minutes", "postmortem", "urgency")}
    fields["owner_id"] = owner
    fields = {k: v for k, v in fields.items() if getattr(row, k) != v}
    if fields:
        triage.update_level(actor, d.level, now, **fields)
    have = {(t.on, t.kind, t.user_id or t.schedule_id or t.team_id): t
            for t in severity_triggers.triggers(d.level)}
    want = [(t.when, t.kind, None if t.kind == "managers" else _ref_id(t.kind, t.ref)) for t in d.triggers]
    for key, trigger in have.items():
        if key not in want:
            severity_triggers.remove_trigger(actor, trigger)
    for on, kind, ref in want:
        if (on, kind, ref) not in have:
            severity_triggers.add_trigger(actor, d.level, on=on, kind=kind, ref=ref)


# communication templates

def _template(change: Change, now: datetime, actor: Actor) -> None:
    d = change.doc
    if change.action == "delete":
        if d.key in TEMPLATE_KEYS:
            library.restore(actor, d.key)
        else:
            library.save(actor, d.key, now, name=d.name, audience=d.audience, description=d.description,
                         subject=d.subject, body=d.body, active=False)
        return
    library.save(actor, d.key, now, name=d.name, audience=d.audience, description=d.description,
                 subject=d.subject, body=d.body, active=d.active,
                 new_key=change.action == "create" and d.key not in TEMPLATE_KEYS)


# stakeholder lists

def _stakeholder_list(change: Change, now: datetime, actor: Actor) -> None:
    d = change.doc
    row = _named(StakeholderList, d.name)
    if change.action == "delete":
        stakeholders.delete_list(actor, row)
        return
    values = {"name": d.name, "description": d.description, "external": d.external, "send_sms": d.send_sms,
              "severities": d.severities, "service_ids": [_named(Service, name).id for name in d.services]}
    if row is None:
        row = stakeholders.create_list(actor, now, **values)
    elif change.fields and set(change.fields) - {"members"}:
        stakeholders.update_list(actor, row, now, **values)
    want = {member_key(m): m for m in d.members}
    for member in list(row.members):
        key = member_key({"user": member.user.email} if member.user is not None else
                         {"name": member.name or "", "email": member.email or None, "phone": member.phone or None})
        if want.pop(key, None) is None:
            stakeholders.remove_member(actor, row, member.id, now)
    db.session.flush()
    for key in sorted(want):
        m = want[key]
        if m.user is not None:
            stakeholders.add_member(actor, row, now, user_id=_user(m.user).id)
        else:
            stakeholders.add_member(actor, row, now, name=m.name, email=m.email or "", phone=m.phone or "")


# the status page

def _page(change: Change, now: datetime, actor: Actor) -> None:
    statuspage.update_settings(actor, now, **change.doc.model_dump())



def _group(change: Change, now: datetime, actor: Actor) -> None:
    d = change.doc
    group = _named(ComponentGroup, d.name)
    if change.action == "delete":
        statuspage.delete_group(actor, group, now)
    elif group is None:
        statuspage.create_group(actor, name=d.name, now=now, description=d.description, position=d.position)
    else:
        statuspage.update_group(actor, group, now, name=d.name, description=d.description, position=d.position)


def _component(change: Change, now: datetime, actor: Actor) -> None:
    d = change.doc
    component = _named(Component, d.name)
    if change.action == "delete":
        statuspage.delete_component(actor, component, now)
        return
    group = _named(ComponentGroup, d.group)
    linked = [_named(Service, name) for name in d.services]
    values = {"description": d.description, "position": d.position, "only_show_if_degraded": d.only_show_if_degraded,
              "showcase": d.showcase, "start_date": d.start_date}
    if component is None:
        statuspage.create_component(actor, name=d.name, now=now, group=group, services=linked, **values)
    else:
        statuspage.update_component(actor, component, now, services=linked, name=d.name,
                                    group_id=group.id if group else None, **values)
        component.group = group


# webhooks

def _webhook_apply(change: Change, now: datetime, actor: Actor) -> None:
    d = change.doc
    row = _webhook(d.name)
    if change.action == "delete":
        hooks.delete_webhook(actor, row, now)
        return
    url = os.environ[d.url.env] if not isinstance(d.url, str) else d.url
    secret = os.environ[d.secret.env] if d.secret is not None else None
    if row is None:
        row = hooks.create_webhook(actor, now, name=d.name, kind=d.kind, url=url, secret=secret or "")
    else:
        hooks.update_webhook(actor, row, kind=d.kind, url=url, secret=secret)
    hooks.set_active(actor, row, d.active)


APPLY = {
    "people": _person,
    "teams": _team,
    "schedules": _schedule_apply,
    "escalation_policies": _policy,
    "services": _service,
    "severity_levels": _level,
    "communication_templates": _template,
    "stakeholder_lists": _stakeholder_list,
    "status_page.page": _page,
    "status_page.groups": _group,
    "status_page.components": _component,
    "webhooks": _webhook_apply,
}
