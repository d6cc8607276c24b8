"""The demo's communications: stakeholder lists to send updates to, and the incident
roles as editable rows. Idempotent: what exists is left alone."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.audit.service import Actor
from app.auth.models import User
from app.comms import stakeholders
from app.comms.models import StakeholderList
from app.extensions import db
from app.incidents import roles
from app.services.models import Service

# name, description, outside?, texts?, severities, services, people (emails of ours), outside members (name, email, phone)
LISTS = [
    ("Executives", "Leadership: told of every SEV-1 and SEV-2 within 30 minutes.", False, True, [1, 2], [],
     ["admin@example.com", "priya@example.com", "noor@example.com"], []),
    ("Customer support", "The support desk, so they can answer customers with the same words.", False, False,
     [1, 2, 3], [], ["elena@example.com", "yuki@example.com"], [("Support inbox", "support@example.com", "")]),
    ("Payment partners", "Banks and processors integrated with checkout: told when payments are affected.", True,
     False, [], ["checkout-api", "payments-db"], [],
     [("Acme Bank integration desk", "integrations@acmebank.example", "+15557770100"),
      ("Globex Payments operations", "ops@globex-payments.example", "")]),
]


def seed_comms(actor: Actor, now: datetime) -> int:
    """Add the demo's stakeholder lists (and the role rows); returns the lists made."""
    roles.seed_definitions(actor, now)
    made = 0
    for name, description, external, texts, severities, service_names, emails, outside in LISTS:
        if db.session.scalar(sa.select(StakeholderList.id).where(StakeholderList.name == name)) is not None:
            continue
        service_ids = db.session.scalars(sa.select(Service.id).where(Service.name.in_(service_names))).all()
        row = stakeholders.create_list(actor, now, name=name, description=description, external=external,
                                       send_sms=texts, severities=severities, service_ids=service_ids)
        for email in emails:
            user = db.session.scalar(sa.select(User).where(User.email == email))
            if user is not None:
                stakeholders.add_member(actor, row, now, user_id=user.id)
        for member_name, email, phone in outside:
            stakeholders.add_member(actor, row, now, name=member_name, email=email, phone=phone)
        made += 1
    return made
