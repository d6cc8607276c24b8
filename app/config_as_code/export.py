"""The configuration as it is now, as a `Document`: what `config export` writes and
what `config apply` compares a file with.

Names stand for database ids (people by email). Lists of things are sorted by name;
lists whose order means something (layers, steps, participants, rules) keep it.
Never written: passwords, second factors, API and calendar tokens, integration keys
(listed by name only) and webhook URLs and secrets (named by an environment
variable instead). Incidents, alerts, history and the audit log are not configuration.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.auth.models import Team, User
from app.comms.models import CommsTemplate, StakeholderList, Webhook
from app.config_as_code.document import (WEEKDAYS, ComponentDoc, ContactMethodDoc, Document, EnvRef, GroupDoc,
                                         HolidayDoc, KeyDoc, LayerDoc, MatrixDoc, PersonDoc, PolicyDoc,
                                         RestrictionDoc, RotationDoc, RuleDoc, RulesDoc, ScheduleDoc, ServiceDoc,
                                         PageDoc, SeverityLevelDoc, SeverityMappingDoc, StakeholderListDoc,
                                         StakeholderMemberDoc, StatusPageDoc, StepDoc, TargetDoc, TeamDoc,
                                         TemplateDoc, TriggerDoc, WebhookDoc, dump_yaml, member_key)
from app.escalation.models import EscalationPolicy, SeverityTrigger
from app.extensions import db
from app.notify.models import NotificationRule
from app.oncall import compute
from app.oncall.models import Holiday, Schedule
from app.services.models import Service
from app.statuspage.models import Component, ComponentGroup, PageSettings
from app.statuspage.service import SETTINGS_ID
from app.triage import levels
from app.triage.models import ImpactRule, SeverityLevel


def webhook_env(name: str, part: str) -> str:
    """The environment variable a webhook's URL or secret is read from, by its name:
    "Ops Slack" → FIREBREAK_WEBHOOK_OPS_SLACK_URL."""
    slug = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "HOOK"
    return f"FIREBREAK_WEBHOOK_{slug}_{part.upper()}"


def export_text(now: datetime) -> str:
    return dump_yaml(current(now).model_dump(mode="python"))


def current(now: datetime) -> Document:
    """Everything configured, as a Document."""
    users = {u.id: u for u in db.session.scalars(sa.select(User))}
    teams = {t.id: t for t in db.session.scalars(sa.select(Team))}
    schedules = {s.id: s for s in db.session.scalars(sa.select(Schedule))}
    policies = {p.id: p for p in db.session.scalars(sa.select(EscalationPolicy))}

    def email(user_id):
        return users[user_id].email if user_id is not None else None

    def team(team_id):
        return teams[team_id].name if team_id is not None else None

    return Document(
        people=[_person(u, now) for u in sorted(users.values(), key=lambda u: u.email)],
        teams=[_team(t) for t in sorted(teams.values(), key=lambda t: (t.name.lower(), t.name))],
        schedules=[_schedule(s, email, team) for s in sorted(schedules.values(), key=lambda s: (s.name.lower(), s.name))
                   if s.archived_at is None],
        escalation_policies=[_policy(p, email, team, schedules)
                             for p in sorted(policies.values(), key=lambda p: (p.name.lower(), p.name))],
        services=[_service(s, team, policies) for s in
                  by_name(sa.select(Service))],
        severity_levels=_levels(email, team, schedules),
        communication_templates=[_template(t) for t in
                                 sorted(db.session.scalars(sa.select(CommsTemplate)), key=lambda t: t.key)],
        stakeholder_lists=[_stakeholders(row) for row in
                           by_name(sa.select(StakeholderList))],
        status_page=_status_page(),
        webhooks=[_webhook(w) for w in
                  by_name(sa.select(Webhook).where(Webhook.removed_at.is_(None)))],
    )


def by_name(stmt) -> list:
    """Rows sorted by name in Python, not by the database's collation, so SQLite and
    PostgreSQL (whose locale may skip hyphens and spaces) export the same order."""
    return sorted(db.session.scalars(stmt), key=lambda row: (row.name.lower(), row.name))


def _person(user: User, now: datetime) -> PersonDoc:
    methods = sorted((m for m in user.contact_methods if m.active), key=lambda m: (m.channel.value, m.address))
    rules: dict[str, list[RuleDoc] | None] = {"high": None, "low": None}
    for urgency in rules:
        chosen = db.session.scalars(sa.select(NotificationRule).where(
            NotificationRule.user_id == user.id, NotificationRule.urgency == urgency)
            .order_by(NotificationRule.delay_minutes, NotificationRule.id)).all()
        if any(r.chosen for r in chosen):
            rules[urgency] = [RuleDoc(channel=r.contact_method.channel.value, address=r.contact_method.address,
                                      delay_minutes=r.delay_minutes) for r in chosen]
    holidays = [HolidayDoc(**dict(zip(("first_day", "last_day"), holiday_days(h, user))), note=h.note or "")
                for h in db.session.scalars(sa.select(Holiday).where(Holiday.user_id == user.id, Holiday.ends_at > now)
                                            .order_by(Holiday.starts_at, Holiday.id))]
    return PersonDoc(email=user.email, name=user.name, role=user.role.value, time_zone=user.time_zone,
                     phone=user.phone, active=user.active,
                     contact_methods=[ContactMethodDoc(channel=m.channel.value, address=m.address,
                                                       verified=m.verified) for m in methods],
                     notification_rules=RulesDoc(**rules), holidays=holidays)


def holiday_days(holiday: Holiday, user: User) -> tuple:
    """A holiday's first and last day off, in its person's zone (as it was entered)."""
    zone = ZoneInfo(user.time_zone or "UTC")
    return (compute.to_local(holiday.starts_at, zone).date(),
            (compute.to_local(holiday.ends_at, zone) - timedelta(microseconds=1)).date())


def _team(team: Team) -> TeamDoc:
    members = sorted(team.memberships, key=lambda m: m.user.email)
    return TeamDoc(name=team.name, description=team.description or "", members=[m.user.email for m in members],
                   managers=[m.user.email for m in members if m.is_manager])


def _hhmm(value) -> str:
    return value.strftime("%H:%M")


def _schedule(schedule: Schedule, email, team) -> ScheduleDoc:
    layers = []
    for layer in sorted(schedule.layers, key=lambda item: -item.position):
        version = latest_version(layer)
        if version is None:
            continue
        participants = [email(i) for i in version.participant_ids]
        layers.append(LayerDoc(name=layer.name, rotation=RotationDoc(
            participants=participants, shift_unit=version.shift_unit.value, shift_length=version.shift_length,
            handoff_time=_hhmm(version.handoff_time),
            handoff_weekday=WEEKDAYS[version.handoff_weekday] if version.handoff_weekday is not None else None,
            restrictions=[RestrictionDoc(days=[WEEKDAYS[int(d)] for d in r["days"]], start=r["start"], end=r["end"])
                          for r in version.restrictions or ()],
            start_date=version.start_date,
            first_participant=participants[version.start_index % len(participants)] if participants else None)))
    return ScheduleDoc(name=schedule.name, description=schedule.description or "", time_zone=schedule.time_zone,
                       team=team(schedule.team_id), reminder_minutes=schedule.reminder_minutes, layers=layers)


def latest_version(layer):
    """The rotation a layer will follow: the last version (in force, or waiting for
    its first handoff). Earlier versions are history."""
    return max(layer.versions, key=lambda v: (v.start_date, v.handoff_time, v.id), default=None)


def _target(kind: str, ref: int | None, email, team, schedules) -> dict:
    if kind == "user":
        return {"user": email(ref)}
    if kind == "schedule":
        return {"schedule": schedules[ref].name}
    return {"team": team(ref)}


def _policy(policy: EscalationPolicy, email, team, schedules) -> PolicyDoc:
    return PolicyDoc(name=policy.name, description=policy.description or "", team=team(policy.team_id),
                     repeat=policy.repeat, steps=[
                         StepDoc(delay_minutes=step.delay_minutes, mode=step.mode,
                                 targets=[TargetDoc(**_target(t.kind, t.ref, email, team, schedules))
                                          for t in step.targets])
                         for step in sorted(policy.steps, key=lambda s: s.position)])


def _service(service: Service, team, policies) -> ServiceDoc:
    matrix = {rule.effect: rule.severity for rule in db.session.scalars(
        sa.select(ImpactRule).where(ImpactRule.service_id == service.id))}
    return ServiceDoc(
        name=service.name, description=service.description or "", team=team(service.team_id), active=service.active,
        escalation_policy=policies[service.escalation_policy_id].name if service.escalation_policy_id else None,
        fallback_team=team(service.fallback_team_id), alert_grouping=service.alert_grouping,
        resolve_with_alerts=service.resolve_with_alerts, ack_timeout_minutes=service.ack_timeout_minutes,
        auto_resolve_minutes=service.auto_resolve_minutes,
        severity_mapping=SeverityMappingDoc(**(service.severity_mapping or {})),
        severity_matrix=MatrixDoc(**matrix),
        integration_keys=sorted((KeyDoc(name=k.name) for k in service.active_keys), key=lambda k: k.name))


def _levels(email, team, schedules) -> list[SeverityLevelDoc]:
    out = []
    for number in (1, 2, 3, 4):
        row = db.session.get(SeverityLevel, number) or levels.DEFAULTS[number]
        triggers = db.session.scalars(sa.select(SeverityTrigger).where(SeverityTrigger.severity == number)).all()
        docs = []
        for t in triggers:
            if t.kind == "managers":
                docs.append(TriggerDoc(when=t.on, managers=True))
            else:
                ref = {"user": t.user_id, "schedule": t.schedule_id, "team": t.team_id}[t.kind]
                docs.append(TriggerDoc(when=t.on, **_target(t.kind, ref, email, team, schedules)))
        out.append(SeverityLevelDoc(
            level=number, label=row.label, definition=row.definition or "", impact_criteria=row.impact_criteria or "",
            examples=row.examples or "", response_minutes=row.response_minutes,
            resolution_minutes=row.resolution_minutes, update_cadence_minutes=row.update_cadence_minutes,
            postmortem=row.postmortem, urgency=row.urgency,
            owner=email(getattr(row, "owner_id", None)), triggers=sorted(docs, key=trigger_key)))
    return out


def trigger_key(t: TriggerDoc) -> tuple:
    return (t.when, t.kind, t.ref or "")


def _template(row: CommsTemplate) -> TemplateDoc:
    return TemplateDoc(key=row.key, name=row.name, audience=row.audience, description=row.description or "",
                       subject=row.subject or "", body=row.body or "", active=row.active)


def _stakeholders(row: StakeholderList) -> StakeholderListDoc:
    members = [StakeholderMemberDoc(user=m.user.email) if m.user is not None else
               StakeholderMemberDoc(name=m.name or "", email=m.email or None, phone=m.phone or None)
               for m in row.members]
    return StakeholderListDoc(name=row.name, description=row.description or "", external=row.external,
                              send_sms=row.send_sms, severities=list(row.severities or []),
                              services=sorted((s.name for s in row.services), key=str.lower),
                              members=sorted(members, key=member_key))


def _status_page() -> StatusPageDoc:
    groups = by_name(sa.select(ComponentGroup))
    components = by_name(sa.select(Component))
    page = db.session.get(PageSettings, SETTINGS_ID)
    return StatusPageDoc(
        page=PageDoc(name=page.name, time_zone=page.time_zone, brand_color=page.brand_color, about=page.about or "",
                     support_url=page.support_url or "") if page is not None else None,
        groups=[GroupDoc(name=g.name, description=g.description or "", position=g.position) for g in groups],
        components=[ComponentDoc(name=c.name, description=c.description or "",
                                 group=c.group.name if c.group else None, position=c.position,
                                 services=sorted(s.name for s in c.services),
                                 only_show_if_degraded=c.only_show_if_degraded, showcase=c.showcase,
                                 start_date=c.start_date) for c in components])


def _webhook(row: Webhook) -> WebhookDoc:
    return WebhookDoc(name=row.name, kind=row.kind, url=EnvRef(env=webhook_env(row.name, "url")),
                      secret=EnvRef(env=webhook_env(row.name, "secret")), active=row.active)
