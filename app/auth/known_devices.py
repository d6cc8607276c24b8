"""The browsers a person signs in from, so that one not seen before is told to them.

A browser is known by its family and system ("Firefox on macOS", app.auth.devices)
and the network it comes from (the IPv4 /24, the IPv6 /48), hashed with the
person's id: enough to notice a stranger, without tracking anyone closely, and a
new address from the same office or a browser update keeps its place. Each person
keeps at most MAX_PER_PERSON; past that the least recently seen is reused, so the
table stays small without deleting.

A person's first sign-in (none known yet: an invitation just accepted, or the first
since this was added) is recorded without an email: there is nothing to compare with.
"""
from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime

import sqlalchemy as sa

from app.auth import devices, security_mail
from app.auth.models import KnownDevice, User
from app.extensions import db

MAX_PER_PERSON = 10


def network(ip: str | None) -> str:
    """The client's network: its IPv4 /24 or IPv6 /48, or "unknown"."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def fingerprint(user: User, label: str, ip: str | None) -> str:
    return hashlib.sha256(f"{user.id}|{label}|{network(ip)}".encode()).hexdigest()


def signed_in(user: User, user_agent: str | None, ip: str | None, now: datetime) -> bool:
    """Note a sign-in; when it comes from a browser this person has not used before
    (and they have used others), email them (app.auth.security_mail). True when new."""
    label = devices.describe(user_agent)[:120]
    mark = fingerprint(user, label, ip)
    known = db.session.scalars(sa.select(KnownDevice).where(KnownDevice.user_id == user.id)
                               .order_by(KnownDevice.last_seen_at)).all()
    same = next((device for device in known if device.fingerprint == mark), None)
    if same is not None:
        same.last_seen_at = now
        return False
    if len(known) >= MAX_PER_PERSON:
        oldest = known[0]
        oldest.fingerprint, oldest.label, oldest.first_seen_at, oldest.last_seen_at = mark, label, now, now
    else:
        db.session.add(KnownDevice(user_id=user.id, fingerprint=mark, label=label, first_seen_at=now,
                                   last_seen_at=now))
    if known:
        security_mail.send(user, "new_device", now, device=label, ip=ip or "unknown",
                           when=f"{now:%d %B %Y %H:%M} UTC")
    return bool(known)
