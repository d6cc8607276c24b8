"""The demo organisation: believable teams, people and services to explore, and a
status page with components and two weeks of history.

Idempotent: it adds what is missing and leaves what exists alone, so running it
twice, or on a database someone has used, changes nothing that is there.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from app.audit.service import Actor
from app.auth import service as people
from app.auth.models import Role, Team, User
from app.extensions import db
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


@dataclass
class SeedResult:
    created: dict[str, int]
    admin_email: str
    admin_password: str | None  # only when this run created the admin


def seed_demo(password: str | None = None) -> SeedResult:
    actor = Actor.system("demo seed")
    created = {"teams": 0, "people": 0, "services": 0, "components": 0}
    teams: dict[str, Team] = {}
    for name, description in TEAMS:
        team = db.session.scalar(sa.select(Team).where(Team.name == name))
        if team is None:
            team = people.create_team(actor, name=name, description=description)
            created["teams"] += 1
        teams[name] = team

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
        created["people"] += 1

    for name, team_name, description, key in SERVICES:
        if db.session.scalar(sa.select(Service).where(Service.name == name)):
            continue
        service = services.create_service(actor, name=name, description=description,
                                          team_id=teams[team_name].id, with_key=key is None)
        if key is not None and not db.session.scalar(sa.select(IntegrationKey).where(IntegrationKey.key == key)):
            services.add_integration_key(actor, service, name="Events API v2", key=key)
        created["services"] += 1

    from app import clock
    from app.statuspage import demo as status_page
    created["components"] = status_page.seed(actor, clock.now())
    return SeedResult(created=created, admin_email=ADMIN_EMAIL, admin_password=admin_password)


def demo_people() -> list[User]:
    emails = [p[1] for p in PEOPLE]
    return db.session.scalars(sa.select(User).where(User.email.in_(emails))).all()
