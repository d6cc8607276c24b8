"""Reading what an importer made, for the importer tests (tests/test_import_*.py)."""
from __future__ import annotations

import sqlalchemy as sa

from app.auth.models import User
from app.extensions import db


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def person(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def by_name(model, name: str):
    return db.session.scalar(sa.select(model).where(model.name == name))
