"""The demo organisation itself: believable teams, people, services, on-call
schedules and the paging set-up around them.

Idempotent like the rest of app.demo: what exists is left alone.
"""
from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Role, Team, User
from app.extensions import db
from app.oncall import compute
from app.oncall import service as oncall
from app.oncall.models import Schedule
from app.services import service as services
from app.services.models import IntegrationKey, Service

ADMIN_EMAIL = "admin@example.com"

TEAMS = [
    ("Payments", "Checkout, payment processing and the ledger."),
    ("Platform", "The gateway, identity and the shared infrastructure under every product."),
    ("Customer Experience", "The web and mobile front ends and customer notifications."),
]

# name, email, role, phone, time zone, team, manager?
PEOPLE = [
    ("Avery Admin", ADMIN_EMAIL, Role.ADMIN, "+15551230000", "America/New_York", "Platform", True),
    ("Dana Okafor", "dana@example.com", Role.RESPONDER, "+15551230001", "America/New_York", "Payments", False),
    ("Lee Tanaka", "lee@example.com", Role.RESPONDER, "+15551230002", "America/Los_Angeles", "Payments", False),
    ("Priya Raman", "priya@example.com", Role.RESPONDER, "+447700900003", "Europe/London", "Payments", True),
    ("Marco Rossi", "marco@example.com", Role.RESPONDER, "+393401230004", "Europe/Rome", "Payments", False),
    ("Sam Keller", "sam@example.com", Role.RESPONDER, "+15551230005", "America/Chicago", "Platform", False),
    ("Ines Duarte", "ines@example.com", Role.RESPONDER, "+351912300006", "Europe/Lisbon", "Platform", False),
    ("Kwame Mensah", "kwame@example.com", Role.RESPONDER, "+15551230007", "America/New_York", "Platform", False),
    ("Yuki Sato", "yuki@example.com", Role.RESPONDER, "+819012300008", "Asia/Tokyo", "Customer Experience", False),
    ("Noor Haddad", "noor@example.com", Role.RESPONDER, "+15551230009", "America/Denver", "Customer Experience", True),
    ("Elena Petrova", "elena@example.com", Role.RESPONDER, "+15551230010", "America/New_York", "Customer Experience", False),
    ("Morgan Blake", "morgan@example.com", Role.VIEWER, "+15551230011", "America/New_York", "Customer Experience", False),
]

# name, team, description, fixed integration key (so demo monitoring configs keep working)
SERVICES = [
    ("checkout-api", "Payments", "Takes orders and payment at checkout.", "4e1c9f7a2b3d4c5e8f9a0b1c2d3e4f5a"),
    ("payments-db", "Payments", "The PostgreSQL cluster behind payments and the ledger.", None),
    ("api-gateway", "Platform", "The edge: TLS, routing, rate limits for every public API.", None),
    ("auth-service", "Platform", "Sign-in, sessions and tokens for customers.", None),
    ("web-frontend", "Customer Experience", "The storefront and account pages.", None),
    ("notifications-worker", "Customer Experience", "Order emails, SMS and push notifications.", None),
]


# name, team, zone, weekly handoff weekday, people in rotation order (emails). Handoffs at 09:00 local.
SCHEDULES = [
    ("Payments on-call", "Payments", "America/New_York", 0,
     ["dana@example.com", "lee@example.com", "priya@example.com", "marco@example.com"]),
    ("Platform on-call", "Platform", "Europe/Lisbon", 2,
     ["sam@example.com", "ines@example.com", "kwame@example.com"]),
    ("Customer Experience on-call", "Customer Experience", "America/Denver", 0,
     ["yuki@example.com", "noor@example.com", "elena@example.com"]),
    # Paged for SEV-1 and SEV-2 by a later issue: keep the name.
    ("Incident Commander", None, "UTC", 0, [ADMIN_EMAIL, "priya@example.com", "noor@example.com"]),
]


def seed_teams(actor: Actor) -> tuple[dict[str, Team], int]:
    """Every demo team by name, and how many this run made."""
    made = 0
    teams: dict[str, Team] = {}
    for name, description in TEAMS:
        team = db.session.scalar(sa.select(Team).where(Team.name == name))
        if team is None:
            team = people.create_team(actor, name=name, description=description)
            made += 1
        teams[name] = team
    return teams, made


def seed_people(actor: Actor, teams: dict[str, Team], password: str | None) -> tuple[int, str | None]:
    """The people, each in their team; how many were made, and the admin's password
    when this run made the admin (`password`, or a new random one)."""
    made = 0
    admin_password = None
    for name, email, role, phone, zone, team_name, manager in PEOPLE:
        if people.find_user_by_email(email):
            continue
        pw = None
        if email == ADMIN_EMAIL:
            admin_password = pw = password or secrets.token_urlsafe(12)
        user = people.create_user(actor, email=email, name=name, role=role, phone=phone,
                                  time_zone=zone, password=pw)
        people.add_member(actor, teams[team_name], user, is_manager=manager)
        made += 1
    return made, admin_password


def seed_services(actor: Actor, teams: dict[str, Team]) -> int:
    """The services with their integration keys (checkout-api's fixed); how many were made."""
    made = 0
    for name, team_name, description, key in SERVICES:
        if db.session.scalar(sa.select(Service).where(Service.name == name)):
            continue
        service = services.create_service(actor, name=name, description=description,
                                          team_id=teams[team_name].id, with_key=key is None)
        if key is not None and not db.session.scalar(sa.select(IntegrationKey).where(IntegrationKey.key == key)):
            services.add_integration_key(actor, service, name="Events API v2", key=key)
        made += 1
    return made


def seed_schedules(actor: Actor, teams: dict[str, Team], now: datetime) -> int:
    """A weekly rotation per team (09:00 local handoff), a business-hours layer on
    Payments with an override and a holiday, and the Incident Commander schedule.
    Schedules that exist are left alone."""
    made = 0
    for name, team_name, zone, weekday, emails in SCHEDULES:
        if db.session.scalar(sa.select(Schedule.id).where(Schedule.name == name)) is not None:
            continue
        people_in = [people.find_user_by_email(email) for email in emails]
        if any(p is None for p in people_in):
            continue
        tz = ZoneInfo(zone)
        started = compute.to_local(now, tz).date() - timedelta(days=42)
        schedule = oncall.create_schedule(actor, name=name, time_zone=zone, now=now,
                                          team_id=teams[team_name].id if team_name else None,
                                          description=f"Weekly, handing over at 09:00 {zone} time.")
        oncall.add_layer(actor, schedule, name="Weekly", start_date=started, participant_ids=[p.id for p in people_in],
                         shift_unit="weeks", shift_length=1, handoff_time=time(9), handoff_weekday=weekday,
                         restrictions=[], now=now)
        if name == "Payments on-call":
            day_people = [p.id for p in people_in[2:]]
            oncall.add_layer(actor, schedule, name="Business hours", start_date=started, participant_ids=day_people,
                             shift_unit="days", shift_length=1, handoff_time=time(9), handoff_weekday=None,
                             restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}], now=now)
            tomorrow = compute.to_local(now, tz).date() + timedelta(days=1)
            cover_from = compute.to_utc(datetime.combine(tomorrow, time(18)), tz)
            oncall.add_override(actor, schedule, user_id=people_in[1].id, starts_at=cover_from,
                                ends_at=cover_from + timedelta(hours=4), note="Covering a dinner", now=now)
            away = compute.to_local(now, ZoneInfo(people_in[3].time_zone)).date() + timedelta(days=7)
            oncall.add_holiday(actor, people_in[3], first_day=away, last_day=away + timedelta(days=1),
                               note="Conference", now=now)
        made += 1
    return made


def seed_paging(actor: Actor, teams: dict[str, Team], now: datetime) -> None:
    """Verified phones and email for the demo people (the demo vouches for them), an
    escalation policy per team on its services, the severity model, its triggers and
    a severity matrix for the core services. What exists is left alone."""
    from app.escalation import policies
    from app.escalation.models import EscalationPolicy
    from app.escalation.service import seed_default_triggers
    from app.notify import contacts
    from app.notify.models import Channel
    from app.triage import service as triage
    for person in demo_people():
        have = {(m.channel, m.address) for m in person.contact_methods}
        for channel, address in ((Channel.SMS, person.phone), (Channel.VOICE, person.phone), (Channel.EMAIL, person.email)):
            if address and (channel, address) not in have:
                contacts.add_method(actor, person, channel, address, now, verified=True)
        contacts.ensure_rules(person)
    for team_name, team in teams.items():
        name = f"{team_name} escalation"
        if db.session.scalar(sa.select(EscalationPolicy.id).where(EscalationPolicy.name == name)) is not None:
            continue
        schedule = db.session.scalar(sa.select(Schedule).where(Schedule.name == f"{team_name} on-call"))
        manager = next((m.user for m in team.memberships if m.is_manager), None)
        if schedule is None or manager is None:
            continue
        policy = policies.create_policy(actor, name=name, repeat=1, team_id=team.id, now=now,
                                        description=f"Whoever is on call for {team_name}, then its manager.")
        first = policies.add_step(actor, policy, delay_minutes=10, mode="all", now=now)
        policies.add_target(actor, first, "schedule", schedule.id, now)
        second = policies.add_step(actor, policy, delay_minutes=15, mode="all", now=now)
        policies.add_target(actor, second, "user", manager.id, now)
        for service in db.session.scalars(sa.select(Service).where(Service.team_id == team.id)):
            if service.escalation_policy_id is None:
                policies.set_service_policy(actor, service, policy.id, service.fallback_team_id)
    triage.seed_levels()
    seed_default_triggers()
    for service_name, cells in (("checkout-api", {"unavailable": 1, "degraded": 2}),
                                ("payments-db", {"unavailable": 1, "degraded": 2}),
                                ("auth-service", {"unavailable": 1})):
        service = db.session.scalar(sa.select(Service).where(Service.name == service_name))
        if service is not None and not triage.service_matrix(service):
            triage.set_matrix(actor, service, {**{"unavailable": None, "degraded": None, "bug": None}, **cells})


def demo_people() -> list[User]:
    emails = [p[1] for p in PEOPLE]
    return db.session.scalars(sa.select(User).where(User.email.in_(emails))).all()
