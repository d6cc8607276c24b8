"""Stakeholder lists: named lists of people (ours) and addresses (anyone's), each
subscribed to services and severities, that updates are sent to.

An update to one or several lists reaches every member once: recipients are
deduplicated by channel and address (`recipients`), and each outbox row's key
names the update and the address, so nothing is ever sent twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role, User
from app.auth.service import normalise_email, normalise_phone
from app.comms.models import StakeholderList, StakeholderMember
from app.errors import Conflict, DomainError, Forbidden, NotFound
from app.extensions import db
from app.notify.models import Channel
from app.services.models import Service

MAX_MEMBERS = 2_000


def _admin(actor: Actor) -> None:
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change stakeholder lists.")


def lists() -> list[StakeholderList]:
    return db.session.scalars(sa.select(StakeholderList).options(
        selectinload(StakeholderList.members).selectinload(StakeholderMember.user),
        selectinload(StakeholderList.services)).order_by(StakeholderList.name)).all()


def get_list(list_id: int) -> StakeholderList:
    row = db.session.get(StakeholderList, list_id)
    if row is None:
        raise NotFound(f"There is no stakeholder list {list_id}.")
    return row


def _fields(name: str, description: str, severities, service_ids) -> dict:
    name = " ".join((name or "").split())
    if not name or len(name) > 120:
        raise DomainError("Give the list a name (at most 120 characters).", "name")
    description = (description or "").strip()
    if len(description) > 500:
        raise DomainError("Keep the description under 500 characters.", "description")
    severities = sorted({int(s) for s in severities or []})
    if any(s not in (1, 2, 3, 4) for s in severities):
        raise DomainError("Severities are 1 to 4.", "severities")
    service_ids = sorted({int(s) for s in service_ids or []})
    services = db.session.scalars(sa.select(Service).where(Service.id.in_(service_ids))).all() if service_ids else []
    if len(services) != len(service_ids):
        raise DomainError("One of the services does not exist.", "service_ids")
    return {"name": name, "description": description, "severities": severities, "services": services}


def _unique_name(name: str, list_id: int | None) -> None:
    other = db.session.scalar(sa.select(StakeholderList.id).where(sa.func.lower(StakeholderList.name) == name.lower()))
    if other is not None and other != list_id:
        raise Conflict(f"There is already a list called {name}.")


def create_list(actor: Actor, now: datetime, *, name: str, description: str = "", external: bool = False,
                send_sms: bool = False, severities=(), service_ids=()) -> StakeholderList:
    _admin(actor)
    values = _fields(name, description, severities, service_ids)
    _unique_name(values["name"], None)
    row = StakeholderList(name=values["name"], description=values["description"], external=bool(external),
                          send_sms=bool(send_sms), severities=values["severities"], services=values["services"],
                          created_at=now, updated_at=now)
    db.session.add(row)
    db.session.flush()
    audit.record(actor, "comms.list", row, summary=f"Created the stakeholder list {row.name}",
                 after=_snapshot(row))
    return row


def update_list(actor: Actor, row: StakeholderList, now: datetime, *, name: str, description: str = "",
                external: bool = False, send_sms: bool = False, severities=(), service_ids=()) -> StakeholderList:
    _admin(actor)
    values = _fields(name, description, severities, service_ids)
    _unique_name(values["name"], row.id)
    before = _snapshot(row)
    row.name, row.description, row.external, row.send_sms = values["name"], values["description"], bool(external), \
        bool(send_sms)
    row.severities, row.services, row.updated_at = values["severities"], values["services"], now
    after = _snapshot(row)
    before, after = audit.changed(before, after)
    if after:
        audit.record(actor, "comms.list", row, summary=f"Changed the stakeholder list {row.name}",
                     before=before, after=after)
    return row


def delete_list(actor: Actor, row: StakeholderList) -> None:
    _admin(actor)
    audit.record(actor, "comms.list", row, summary=f"Deleted the stakeholder list {row.name}", before=_snapshot(row))
    db.session.delete(row)


def _snapshot(row: StakeholderList) -> dict:
    return {"name": row.name, "description": row.description, "external": row.external, "send_sms": row.send_sms,
            "severities": list(row.severities or []), "services": [s.name for s in row.services]}


def add_member(actor: Actor, row: StakeholderList, now: datetime, *, user_id: int | None = None, name: str = "",
               email: str = "", phone: str = "") -> StakeholderMember:
    """A person of ours (their own addresses are used), or an outside name with an
    email address and/or a phone number."""
    _admin(actor)
    if len(row.members) >= MAX_MEMBERS:
        raise DomainError(f"A list holds at most {MAX_MEMBERS:,} members.")
    if user_id is not None:
        user = db.session.get(User, user_id)
        if user is None or not user.active:
            raise DomainError("Choose an active person.", "user_id")
        if any(m.user_id == user.id for m in row.members):
            raise Conflict(f"{user.name} is already on {row.name}.")
        member = StakeholderMember(list=row, user_id=user.id, name="", email="", phone="")
        label = user.name
    else:
        name = " ".join((name or "").split())[:120]
        email = normalise_email(email) if (email or "").strip() else ""
        phone = normalise_phone(phone) or ""
        if not email and not phone:
            raise DomainError("Give an email address, a phone number, or choose a person.", "email")
        for other in row.members:
            if (email and other.email == email) or (phone and other.phone == phone):
                raise Conflict(f"{email or phone} is already on {row.name}.")
        member = StakeholderMember(list=row, name=name, email=email, phone=phone)
        label = name or email or phone
    db.session.add(member)
    row.updated_at = now
    db.session.flush()
    audit.record(actor, "comms.list_member", row, summary=f"Added {label} to {row.name}")
    return member


def remove_member(actor: Actor, row: StakeholderList, member_id: int, now: datetime) -> None:
    _admin(actor)
    member = db.session.get(StakeholderMember, member_id)
    if member is None or member.list_id != row.id:
        raise NotFound("That member is not on this list.")
    audit.record(actor, "comms.list_member", row, summary=f"Removed {member.label} from {row.name}")
    row.members.remove(member)
    row.updated_at = now


# --- for an incident ------------------------------------------------------------------------

def proposed_for(incident) -> list[StakeholderList]:
    """Lists subscribed to this incident's service and severity (a list that names
    services or severities matches when it names this one; one naming neither is
    only chosen by hand)."""
    out = []
    for row in lists():
        services = {s.id for s in row.services}
        severities = set(row.severities or [])
        if not services and not severities:
            continue
        if (not services or incident.service_id in services) and (not severities or incident.severity in severities):
            out.append(row)
    return out


@dataclass(frozen=True)
class Recipient:
    channel: Channel
    address: str
    name: str
    user_id: int | None


def _user_addresses(user: User, sms: bool) -> list[tuple[Channel, str]]:
    methods = [m for m in user.contact_methods if m.usable]
    email = next((m.address for m in methods if m.channel == Channel.EMAIL), user.email)
    out = [(Channel.EMAIL, email)] if email else []
    if sms:
        number = next((m.address for m in methods if m.channel == Channel.SMS), None)
        if number:
            out.append((Channel.SMS, number))
    return out


def recipients(chosen: list[StakeholderList]) -> list[Recipient]:
    """Everyone the lists reach, each address once per channel: email always, SMS
    for lists that text. A person on two lists, or listed twice, hears once."""
    seen: dict[tuple[Channel, str], Recipient] = {}
    for row in chosen:
        for member in row.members:
            if member.user is not None:
                if not member.user.active:
                    continue
                pairs = _user_addresses(member.user, row.send_sms)
                name, user_id = member.user.name, member.user.id
            else:
                pairs = []
                if member.email:
                    pairs.append((Channel.EMAIL, member.email))
                if member.phone and (row.send_sms or not member.email):  # a phone alone is texted
                    pairs.append((Channel.SMS, member.phone))
                name, user_id = member.label, None
            for channel, address in pairs:
                key = (channel, address.lower())
                if key not in seen:
                    seen[key] = Recipient(channel, address, name, user_id)
    return list(seen.values())
