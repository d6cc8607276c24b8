"""Who did what: the actor behind every change, and the audit record of it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa

from app import clock
from app.audit.models import ActorKind, AuditEntry
from app.auth.models import ApiToken, Role, User
from app.extensions import db

SEARCH_LENGTH = 200  # what a search box takes; more is cut


@dataclass(frozen=True)
class Actor:
    """Whoever causes a change: a person on the web, a person's API token, an
    integration (monitoring, Twilio), or the system itself (the engine)."""

    kind: ActorKind
    label: str
    user: User | None = None
    token: ApiToken | None = None
    ip: str | None = None

    @classmethod
    def for_user(cls, user: User, ip: str | None = None) -> "Actor":
        return cls(ActorKind.USER, user.name, user=user, ip=ip)

    @classmethod
    def for_token(cls, token: ApiToken, ip: str | None = None) -> "Actor":
        return cls(ActorKind.API_TOKEN, f"{token.user.name} (API token {token.name})",
                   user=token.user, token=token, ip=ip)

    @classmethod
    def integration(cls, label: str, ip: str | None = None) -> "Actor":
        return cls(ActorKind.INTEGRATION, label, ip=ip)

    @classmethod
    def system(cls, label: str = "Firebreak") -> "Actor":
        return cls(ActorKind.SYSTEM, label)

    def can(self, needed: Role) -> bool:
        """Integrations and the system act only through the paths built for them."""
        if self.kind in (ActorKind.SYSTEM, ActorKind.INTEGRATION):
            return True
        return self.user is not None and self.user.can(needed)


def snapshot(obj: Any, fields: list[str]) -> dict:
    """A JSON-safe picture of some of an object's fields, for before/after."""
    return {name: jsonable(getattr(obj, name)) for name in fields}


def jsonable(value: Any) -> Any:
    """Enums, dates and containers made JSON-safe."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def record(actor: Actor, action: str, obj: Any = None, *, summary: str = "",
           before: dict | None = None, after: dict | None = None,
           object_type: str | None = None, object_id: int | None = None) -> AuditEntry:
    """Add an audit entry to the current session; it commits with the change it records."""
    if obj is not None:
        object_type = object_type or obj.__tablename__
        if object_id is None:
            if getattr(obj, "id", None) is None:
                db.session.flush()
            object_id = obj.id
    entry = AuditEntry(**entry_values(actor, action, object_type=object_type or "", object_id=object_id,
                                      summary=summary, before=before, after=after))
    db.session.add(entry)
    return entry


def entry_values(actor: Actor, action: str, *, object_type: str, object_id: int | None, summary: str = "",
                 before: dict | None = None, after: dict | None = None) -> dict:
    """An audit entry's columns: `record`'s, and ingestion's when it writes with Core."""
    return {
        "at": clock.now(), "actor_kind": actor.kind, "actor_user_id": actor.user.id if actor.user else None,
        "actor_token_id": actor.token.id if actor.token else None, "actor_label": actor.label[:200],
        "action": action, "object_type": object_type, "object_id": object_id, "summary": summary,
        "before": jsonable(before) if before is not None else None,
        "after": jsonable(after) if after is not None else None, "ip": actor.ip,
    }


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields that differ, for a compact before/after."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def query(*, action: str | None = None, actor_user_id: int | None = None,
          object_type: str | None = None, text: str | None = None) -> sa.Select:
    stmt = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    # Searches are short: SQLite refuses a LIKE pattern over 50,000 bytes (with a 500).
    action, text = (action or "")[:SEARCH_LENGTH], (text or "")[:SEARCH_LENGTH]
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action))
    if actor_user_id:
        stmt = stmt.where(AuditEntry.actor_user_id == actor_user_id)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if text:
        like = f"%{text}%"
        stmt = stmt.where(sa.or_(AuditEntry.summary.ilike(like), AuditEntry.actor_label.ilike(like)))
    return stmt
