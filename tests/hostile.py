"""What the hostile-input suite shares (tests/test_hostile_*.py).

Every hostile test runs twice over: a few examples inside `make test`, and many in
`make hostile` (FIREBREAK_HOSTILE=full). `examples(fast, full)` says how many.

The suite works on the demo organisation (seeded once per worker into a SQLite
template, copied for each test) so that forms, pages and ids point at real things.
`digest()` fingerprints every row of every table: a refused request must leave it
unchanged. `tally()` counts what a test sent, for the figures `make hostile` prints.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app import clock
from app.extensions import db

FULL = os.environ.get("FIREBREAK_HOSTILE") == "full"
T0 = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
DEMO_PASSWORD = "demo password for hostile tests"

# Markup that must never reach a page, feed, email or export as markup. Each is
# typed into every text field the suite can reach.
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
PAYLOADS = (SCRIPT, IMG, '"><svg onload=alert(3)>', "<a href=\"javascript:alert(4)\">x</a>",
            "{{ 7*7 }}", "\u202eevil")
HOSTILE_TEXT = SCRIPT + IMG

# Columns that a read may change (a token or feed marks itself used): not a change.
VOLATILE = {("api_tokens", "last_used_at"), ("calendar_feeds", "last_used_at")}


def examples(fast: int, full: int) -> int:
    """How many examples a hypothesis test runs: `full` under `make hostile`."""
    return full if FULL else fast


def _rows():
    """(table, rows) for every table, read straight through the DB-API (a digest runs
    twice per generated request: it has to be cheap)."""
    db.session.rollback()  # a fresh snapshot: requests wrote in their own sessions
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        for table in db.metadata.sorted_tables:
            columns = [f'"{c.name}"' for c in table.columns if (table.name, c.name) not in VOLATILE]
            order = [f'"{c.name}"' for c in table.primary_key.columns] or columns
            cursor.execute(f'SELECT {", ".join(columns)} FROM "{table.name}" ORDER BY {", ".join(order)}')
            yield table.name, cursor.fetchall()
        connection.rollback()
    finally:
        connection.close()


def digest() -> str:
    """A fingerprint of every row in every table (less the VOLATILE columns)."""
    hasher = hashlib.sha256()
    for name, rows in _rows():
        hasher.update(repr((name, rows)).encode())
    return hasher.hexdigest()


def snapshot() -> dict[str, list]:
    """Every row of every table, to say *what* changed when a digest differs."""
    return dict(_rows())


def changed_tables(before: dict[str, list], after: dict[str, list]) -> list[str]:
    return sorted(name for name in after if before.get(name) != after[name])


# --- the demo organisation, once per worker ---------------------------------------------

@pytest.fixture(scope="session")
def demo_template(tmp_path_factory, sqlite_template):
    """The migrated template with the demo organisation seeded, and API tokens for
    its admin and a viewer: (path, {"admin": secret, "viewer": secret})."""
    from app.auth import service as people
    from app.auth.models import Role, User
    from app.demo import seed_demo
    from tests.conftest import make_app
    from tests.factories import SYSTEM
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        clock.set(T0)
        seed_demo(DEMO_PASSWORD)
        db.session.commit()
        admin = db.session.scalar(sa.select(User).where(User.role == Role.ADMIN).order_by(User.id))
        viewer = db.session.scalar(sa.select(User).where(User.role == Role.VIEWER).order_by(User.id))
        secrets = {"admin": people.create_api_token(SYSTEM, admin, name="hostile admin")[1],
                   "viewer": people.create_api_token(SYSTEM, viewer, name="hostile viewer")[1]}
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
        clock.reset()
    return path, secrets


@pytest.fixture
def database_url(demo_template, tmp_path):
    """Overrides conftest's: this test's copy of the demo organisation (SQLite)."""
    path = tmp_path / "firebreak.db"
    shutil.copyfile(demo_template[0], path)
    return f"sqlite:///{path}"


@pytest.fixture
def tokens(demo_template):
    return demo_template[1]


# --- figures ------------------------------------------------------------------------------

class Tally:
    def __init__(self, name: str):
        self.name, self.requests, self.examples, self.statuses = name, 0, 0, {}
        self.started = time.monotonic()

    def saw(self, status: int) -> None:
        self.requests += 1
        key = f"{status // 100}xx"
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def write(self) -> None:
        target = os.environ.get("FIREBREAK_HOSTILE_REPORT")
        if not target:
            return
        line = json.dumps({"test": self.name, "requests": self.requests, "examples": self.examples,
                           "statuses": self.statuses, "seconds": round(time.monotonic() - self.started, 2)})
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")


@pytest.fixture
def tally(request):
    """Counts the requests and examples of one test; `make hostile` sums them."""
    counter = Tally(request.node.nodeid)
    yield counter
    counter.write()
