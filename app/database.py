"""Database plumbing shared by every domain: column types, SQLite pragmas, helpers."""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
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


# --- one writer at a time, handed over at once ------------------------------------------
#
# SQLite lets one connection write at a time. A writer that finds the lock taken
# waits in SQLite's busy handler, which sleeps (1, 2, 5 … up to 100 ms) between tries:
# with several processes writing, the lock is mostly free while the waiters sleep,
# and a process that keeps writing wins again and again while the others starve
# (docs/architecture.md).
# So every write transaction first takes two locks that wake the next writer the
# moment they are free: this process's (threads queue in Python, with the busy
# timeout as their limit) and then an exclusive flock() on `<database>-lock`, shared
# by every process using the file; the kernel frees it when its holder exits, even
# when it is killed. Both are held from BEGIN IMMEDIATE to COMMIT or ROLLBACK, the
# span SQLite's own write lock is held anyway. One thread per process waits on the
# flock; SQLite's busy handler still arbitrates with anything that does not take it
# (the sqlite3 shell, say).

BUSY_TIMEOUT_MS = 15000
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(path: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(path, threading.Lock())


class WriterLockedConnection(sqlite3.Connection):
    """A sqlite3 connection that takes the writer locks for `begin_write()` and
    gives them up when its transaction ends (commit, rollback or close)."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        path = os.fspath(database) if isinstance(database, (str, bytes, os.PathLike)) else ""
        plain_file = isinstance(path, str) and path not in ("", ":memory:") and not path.startswith("file:")
        self._lock_path = os.path.abspath(path) + "-lock" if plain_file else None
        self._lock_fd: int | None = None
        self._held: threading.Lock | None = None

    def begin_write(self) -> None:
        if self._lock_path is None or self._held is not None:
            return
        lock = _process_lock(self._lock_path)
        if not lock.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked (no turn to write within the busy timeout)")
        try:
            if self._lock_fd is None:
                self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        except OSError:
            # No lock file (a read-only directory, say): SQLite's own lock still arbitrates.
            lock.release()
            return
        self._held = lock

    def end_write(self) -> None:
        lock, self._held = self._held, None
        if lock is None:
            return
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self.end_write()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_write()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_write()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


@event.listens_for(Engine, "do_connect")
def _sqlite_writer_locks(dialect, conn_rec, cargs, cparams):
    """SQLite connections are WriterLockedConnection (unless a caller chose a factory)."""
    if dialect.name == "sqlite":
        cparams.setdefault("factory", WriterLockedConnection)


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
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
    if not _write_intent.get():
        connection.exec_driver_sql("BEGIN")
        return
    dbapi_connection = connection.connection.dbapi_connection
    locked = isinstance(dbapi_connection, WriterLockedConnection)
    if locked:
        dbapi_connection.begin_write()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if locked:
            dbapi_connection.end_write()
        raise


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
