"""SQLite's writers take their turn through a lock file beside the database, which
wakes the next writer the moment the last one is done (app.database)."""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.database import write_intent
from app.extensions import db


def lock_is_free(path: str) -> bool:
    """Whether another open file could take the writer lock now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@pytest.fixture
def lock_path(app, backend):
    if backend != "sqlite":
        pytest.skip("the writer lock is SQLite's")
    return db.engine.url.database + "-lock"


def test_a_write_transaction_holds_the_writer_lock_until_it_ends(app, lock_path):
    with write_intent(True):
        db.session.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE
        assert not lock_is_free(lock_path)
        db.session.commit()
        assert lock_is_free(lock_path)
        db.session.execute(sa.text("SELECT 1"))
        assert not lock_is_free(lock_path)
        db.session.rollback()
        assert lock_is_free(lock_path)


def test_reads_take_no_writer_lock(app, lock_path):
    with write_intent(False):
        db.session.execute(sa.text("SELECT 1"))
        assert lock_is_free(lock_path)
        db.session.rollback()


@pytest.mark.realtime
def test_a_writer_killed_mid_transaction_frees_the_lock_at_once(app, lock_path, tmp_path):
    """The kernel drops a dead process's flock: nobody waits for a writer that died."""
    url = str(db.engine.url)
    db.session.remove()
    script = ("import os, sys, time, sqlalchemy as sa\n"
              "from app import create_app\nfrom app.extensions import db\n"
              f"app = create_app({{'SQLALCHEMY_DATABASE_URI': {url!r}}})\n"
              "with app.app_context():\n"
              "    db.session.execute(sa.text('UPDATE engine_leases SET cycles = 1'))\n"
              "    print('holding', flush=True)\n"
              "    time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "SECRET_KEY": "x"})
    try:
        assert child.stdout.readline().strip() == "holding"
        assert not lock_is_free(lock_path)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert lock_is_free(lock_path)
        began = time.monotonic()
        with write_intent(True):
            db.session.execute(sa.text("UPDATE engine_leases SET cycles = 2"))
            db.session.commit()
        assert time.monotonic() - began < 1
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
