"""Who cannot be paged, and why.

A person on a schedule or an escalation policy who has no way to be paged is a page
lost before anything breaks: the schedule, policy, service and admins' home pages say
so, and `check-paging` lists everyone on call soon who cannot be paged.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.auth.models import User
from app.extensions import db


@dataclass(frozen=True)
class Unpageable:
    user: User
    reason: str

    @property
    def sentence(self) -> str:
        """"Bob Birch cannot be paged: no verified contact method"."""
        return f"{self.user.name} cannot be paged: {self.reason}"


def why_not(user: User) -> str | None:
    """Why this person cannot be paged, or None when they can."""
    if not user.active:
        return "deactivated"
    methods = [m for m in user.contact_methods if m.active]
    if any(m.usable for m in methods):
        return None
    if any(m.verified for m in methods):
        return "replied STOP to SMS and has no other verified contact method"
    return "no verified contact method"


def unpageable(user_ids) -> list[Unpageable]:
    """Those of these people who cannot be paged, by name, each with why."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return []
    users = db.session.scalars(sa.select(User).where(User.id.in_(ids)).options(selectinload(User.contact_methods))
                               .order_by(User.name, User.id)).all()
    return [Unpageable(user, reason) for user in users if (reason := why_not(user)) is not None]
