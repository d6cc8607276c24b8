"""Database plumbing shared by every domain: column types, SQLite pragmas, helpers."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.extensions import db

# Ids are 32-bit on PostgreSQL: a larger number names no row (and past 2**63 does not
# even fit SQLite's integer, so it must never reach a query).
MAX_ID = 2**31 - 1


class UTCDateTime(sa.types.TypeDecorator):
    """A moment in time: stored as naive UTC on every backend, read back aware (UTC).

    Refusing naive datetimes on the way in catches local-time bugs where they start.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where an aware one is needed")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


# Whether transactions begun in this context intend to write. On SQLite a deferred
# transaction that reads and then writes fails at once with SQLITE_BUSY when another
# connection wrote in between (busy_timeout cannot help), so writers take the write
# lock up front with BEGIN IMMEDIATE and simply queue. Safe requests (GET, HEAD)
# begin deferred, so readers never wait for writers under WAL.
_write_intent: ContextVar[bool] = ContextVar("write_intent", default=True)


def set_write_intent(value: bool) -> None:
    _write_intent.set(value)


@contextmanager
def write_intent(value: bool = True):
    """Transactions begun inside this block take the write lock up front (or not)."""
    token = _write_intent.set(value)
    try:
        yield
    finally:
        _write_intent.reset(token)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """Every SQLite connection: foreign keys on, WAL, a wait instead of 'locked'."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy's "begin" event (below) emit BEGIN, not the sqlite3 module.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value):
    """SQL lower() as Python's str.lower, as PostgreSQL's does: SQLite's own folds ASCII
    only, so a check for a name already taken, `lower(name) = :typed.lower()`, missed
    "Ë9" typed twice and the unique index refused the second with a 500."""
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


# Objects that migrations make by hand and no model describes (the full-text search
# index: an FTS5 table and its shadow tables on SQLite, a GIN index on PostgreSQL).
# Comparing the schema with the models (autogenerate, tests) leaves them out.
UNMODELLED_TABLE_PREFIXES = ("search_fts",)
UNMODELLED_INDEXES = frozenset({"ix_search_entries_fts"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's include_object hook: False for the objects above."""
    if type_ == "table" and name and name.startswith(UNMODELLED_TABLE_PREFIXES):
        return False
    return not (type_ == "index" and name in UNMODELLED_INDEXES)
