"""The templates: shipped ones (app/comms/defaults.py) with admins' edits and their own.

A template is checked when it is saved (it must fill in for a sample incident:
no unknown field, nothing unsafe), and again whenever it is used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.audit import service as audit
from app.audit.service import Actor
from app.auth.models import Role
from app.comms import defaults, render
from app.comms.models import CommsTemplate
from app.errors import DomainError, Forbidden, NotFound
from app.extensions import db

MAX_NAME = 120


@dataclass(frozen=True)
class Template:
    key: str
    name: str
    audience: str
    description: str
    subject: str
    body: str
    active: bool = True
    shipped: bool = False   # one of the shipped keys
    edited: bool = False    # a row replaces the shipped text
    id: int | None = None

    @property
    def audience_label(self) -> str:
        return defaults.AUDIENCES.get(self.audience, (self.audience, False))[0]

    @property
    def external(self) -> bool:
        return defaults.AUDIENCES.get(self.audience, ("", False))[1]


def _from_row(row: CommsTemplate) -> Template:
    return Template(key=row.key, name=row.name, audience=row.audience, description=row.description or "",
                    subject=row.subject or "", body=row.body or "", active=row.active,
                    shipped=row.key in defaults.TEMPLATE_KEYS, edited=row.key in defaults.TEMPLATE_KEYS, id=row.id)


def all_templates(*, include_inactive: bool = False) -> list[Template]:
    """Shipped ones first (in their order, edits applied), then admins' own by name."""
    rows = {row.key: row for row in db.session.scalars(sa.select(CommsTemplate))}
    out = []
    for spec in defaults.TEMPLATES:
        row = rows.pop(spec["key"], None)
        out.append(_from_row(row) if row is not None else Template(shipped=True, **spec))
    out.extend(sorted((_from_row(row) for row in rows.values()), key=lambda t: t.name.lower()))
    return [t for t in out if include_inactive or t.active]


def get(key: str) -> Template:
    for template in all_templates(include_inactive=True):
        if template.key == key:
            return template
    raise NotFound(f"There is no template {key!r}.")


def _clean(name: str, audience: str, description: str, subject: str, body: str) -> dict:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise DomainError(f"Give the template a name (at most {MAX_NAME} characters).", "name")
    if audience not in defaults.AUDIENCES:
        raise DomainError("Choose who the template is for.", "audience")
    description = (description or "").strip()
    if len(description) > 500:
        raise DomainError("Keep the description under 500 characters.", "description")
    subject = (subject or "").strip()
    body = (body or "").strip()
    if not body:
        raise DomainError("The template needs a body.", "body")
    sample = render.sample_fields()
    for stage in render.STAGES:  # every branch a template may take by stage
        fields = {**sample, "stage": stage, "stage_label": render.STAGE_LABELS[stage]}
        render.render(subject, fields, part="subject")
        render.render(body, fields, part="body")
    return {"name": name, "audience": audience, "description": description, "subject": subject, "body": body}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:40] or "template"


def save(actor: Actor, key: str | None, now: datetime, *, name: str, audience: str, description: str,
         subject: str, body: str, active: bool = True, new_key: bool = False) -> Template:
    """Save an edit of a template (`key`), or a new one (`key` None, or with `new_key`
    the `custom_…` key it is to have: a configuration file names its templates).
    Refused, with the reason, when the text does not fill in for a sample incident."""
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change templates.")
    values = _clean(name, audience, description, subject, body)
    if new_key:
        if not re.fullmatch(r"custom_[a-z0-9_]{1,53}", key or ""):
            raise DomainError("An admin's own template has a key custom_ and lowercase letters, digits or _.", "key")
        if db.session.scalar(sa.select(CommsTemplate.id).where(CommsTemplate.key == key)) is not None:
            raise DomainError(f"There is already a template {key!r}.", "key")
    before = get(key) if key and not new_key else None
    row = db.session.scalar(sa.select(CommsTemplate).where(CommsTemplate.key == key)) if key else None
    if row is None:
        if key is None:
            key = f"custom_{_slug(values['name'])}"
            base, n = key, 2
            while key in defaults.TEMPLATE_KEYS or db.session.scalar(
                    sa.select(CommsTemplate.id).where(CommsTemplate.key == key)) is not None:
                key, n = f"{base}_{n}", n + 1
        row = CommsTemplate(key=key)
        db.session.add(row)
    for name_, value in values.items():
        setattr(row, name_, value)
    row.active, row.updated_at, row.updated_by = bool(active), now, actor.label[:200]
    db.session.flush()
    audit.record(actor, "comms.template", row, summary=f"Saved the template {row.name}",
                 before={"subject": before.subject, "body": before.body, "active": before.active} if before else None,
                 after={"subject": row.subject, "body": row.body, "active": row.active})
    return _from_row(row)


def restore(actor: Actor, key: str) -> bool:
    """Back to the shipped text (admins' own templates are retired instead)."""
    if not actor.can(Role.ADMIN):
        raise Forbidden("Only an admin may change templates.")
    if key not in defaults.TEMPLATE_KEYS:
        raise DomainError("Only a shipped template can be restored; retire your own instead.")
    row = db.session.scalar(sa.select(CommsTemplate).where(CommsTemplate.key == key))
    if row is None:
        return False
    audit.record(actor, "comms.template", row, summary=f"Restored the shipped template {key}")
    db.session.delete(row)
    return True
