"""Every row of every table: run two ways of doing the same thing from the same
database and compare all that each left, so a side effect written by one way alone
shows up, in whatever table it lands.

The tables come from the metadata (`db.metadata.sorted_tables`), not from a list:
a table added tomorrow is compared too. Only the tables in `NOT_COMPARED` are left
out, each for the reason it gives.
"""
from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from app.alerts import ingest
from app.extensions import db

NOT_COMPARED = {
    # Only ingestion's hot path records the attempts it wrote, by design: a retry of an
    # event whose answer was lost looks there (app/alerts/hotpath.py, "Idempotence").
    "ingest_attempts": "written by the hot path alone",
    # Written by an engine from the wall clock, whatever the app clock says.
    "engine_leases": "the engine's lease, on the wall clock",
}


# Tables the database has that the models do not map, each compared or not for its reason.
UNMAPPED = {
    "alembic_version": "the migrations' own bookkeeping",
}
UNMAPPED_PREFIXES = {
    "search_fts": "post-mortem search's full-text index (SQLite FTS5), rebuilt from the rows it indexes",
}


def unexplained_tables() -> set[str]:
    """Tables in the database that neither the metadata nor the lists above account
    for: a table made by a migration alone would otherwise go uncompared."""
    mapped = {table.name for table in db.metadata.sorted_tables}
    found = set(sa.inspect(db.engine).get_table_names())
    return {name for name in found - mapped - UNMAPPED.keys()
            if not any(name.startswith(prefix) for prefix in UNMAPPED_PREFIXES)}


def every_row(leaving_out: dict[str, str] = NOT_COMPARED) -> dict[str, list[tuple]]:
    """Every row of every table (less `leaving_out`) as stored, read through the
    DB-API: a time or a JSON value stored as other text than the other way stores
    it differs here. Ordered by primary key. A copy of one database (a backup
    restored) leaves nothing out."""
    db.session.commit()
    db.session.expire_all()
    assert unexplained_tables() == set(), "a table the models do not map: compare it or say why not"
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        rows = {}
        for table in db.metadata.sorted_tables:
            if table.name in leaving_out:
                continue
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns) or columns
            cursor.execute(f'SELECT {columns} FROM "{table.name}" ORDER BY {order}')
            rows[table.name] = [tuple(row) for row in cursor.fetchall()]
        connection.rollback()
        return rows
    finally:
        connection.close()


def postgres_admin(*statements: str) -> None:
    """Statements outside any transaction on the test cluster (CREATE/DROP DATABASE)."""
    admin = sa.create_engine(os.environ["FIREBREAK_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for statement in statements:
                connection.execute(sa.text(statement))
    finally:
        admin.dispose()


class _Pristine:
    """A copy of the test's database as it is now, to start each run from: a file
    copy on SQLite, a database made from it as a template on PostgreSQL (so ids and
    sequences start again where they were, and the runs number rows alike)."""

    def __init__(self):
        self._close()
        self.url = db.engine.url
        if self.url.get_backend_name() == "sqlite":
            self.path = Path(self.url.database)
            self.copy = self.path.with_name(self.path.name + ".pristine")
            shutil.copyfile(self.path, self.copy)
        else:
            self.name = self.url.database
            self.copy_name = f"{self.name}_pristine"
            postgres_admin(f'DROP DATABASE IF EXISTS "{self.copy_name}"',
                        f'CREATE DATABASE "{self.copy_name}" TEMPLATE "{self.name}"')

    @staticmethod
    def _close() -> None:
        db.session.remove()
        db.engine.dispose()

    def restore(self) -> None:
        self._close()
        if self.url.get_backend_name() == "sqlite":
            for suffix in ("-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.copy, self.path)
        else:
            postgres_admin(f'DROP DATABASE "{self.name}" WITH (FORCE)',
                        f'CREATE DATABASE "{self.name}" TEMPLATE "{self.copy_name}"')

    def drop(self) -> None:
        if self.url.get_backend_name() == "sqlite":
            self.copy.unlink(missing_ok=True)
        else:
            postgres_admin(f'DROP DATABASE IF EXISTS "{self.copy_name}"')


def each_from_here(monkeypatch, *runs: Callable[[], object]) -> list[dict[str, list[tuple]]]:
    """Run each of `runs` from the database as it is now (committed), and return
    `every_row()` after each; the database is left as the last run left it. A
    trigger without a dedup key gets `generated-1`, `generated-2`, … in each run, so
    the runs name their alerts alike."""
    db.session.commit()
    pristine = _Pristine()
    try:
        found = []
        for run in runs:
            pristine.restore()
            numbers = itertools.count(1)
            monkeypatch.setattr(ingest, "new_dedup_key", lambda: f"generated-{next(numbers)}")
            run()
            found.append(every_row())
        return found
    finally:
        pristine.drop()


def assert_same(one: dict[str, list[tuple]], other: dict[str, list[tuple]]) -> None:
    """Table by table, so a difference names its table."""
    assert sorted(one) == sorted(other)
    for name in one:
        if one[name] != other[name]:
            only_one = [row for row in one[name] if row not in other[name]]
            only_other = [row for row in other[name] if row not in one[name]]
            raise AssertionError(f"table {name} differs:\n  only in the first: {only_one}\n"
                                 f"  only in the second: {only_other}\n  (or the same rows in another order)")
