"""The factory, settings and the database plumbing."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import clock, create_app
from app.auth.models import User
from app.config import from_env
from app.extensions import db
from tests.factories import make_user


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://status.example.com/")
    monkeypatch.setenv("TWILIO_API_BASE", "http://127.0.0.1:8765")
    monkeypatch.setenv("SMTP_URL", "smtp://127.0.0.1:8025")
    monkeypatch.setenv("ENGINE_IN_PROCESS", "yes")
    settings = from_env()
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/x.db"
    assert settings["PUBLIC_BASE_URL"] == "https://status.example.com"
    assert settings["SESSION_COOKIE_SECURE"] is True  # https public URL → secure cookies
    assert settings["TWILIO_API_BASE"] == "http://127.0.0.1:8765"
    assert settings["SMTP_URL"] == "smtp://127.0.0.1:8025"
    assert settings["ENGINE_IN_PROCESS"] is True


def test_default_database_is_a_sqlite_file_under_instance(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = from_env()["SQLALCHEMY_DATABASE_URI"]
    assert url.startswith("sqlite:///") and url.endswith("instance/firebreak.db")


def test_factory_makes_no_database(tmp_path):
    path = tmp_path / "never.db"
    create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "TESTING": True})
    assert not path.exists()


def test_every_sqlite_connection_is_configured(app):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_sqlite_enforces_foreign_keys(app):
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text("INSERT INTO team_memberships (team_id, user_id, is_manager) VALUES (999, 999, 0)"))
        db.session.flush()
    db.session.rollback()


@pytest.mark.db
def test_times_are_stored_in_utc_and_read_back_aware(app):
    user = make_user()
    local = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    user.last_signin_at = local
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(User, user.id)
    assert again.last_signin_at == local
    assert again.last_signin_at.tzinfo == UTC
    assert again.last_signin_at.hour == 1


@pytest.mark.db
def test_naive_datetimes_are_refused(app):
    user = make_user()
    user.last_signin_at = datetime(2026, 1, 1, 12, 0)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        db.session.commit()
    db.session.rollback()


def test_the_clock_can_be_set_and_moved():
    at = datetime(2026, 11, 27, 3, 12, tzinfo=UTC)
    clock.set(at)
    try:
        assert clock.now() == at
        assert clock.advance(timedelta(minutes=5)) == at + timedelta(minutes=5)
        with clock.frozen_at(at - timedelta(days=1)):
            assert clock.now() == at - timedelta(days=1)
        assert clock.now() == at + timedelta(minutes=5)
        with pytest.raises(ValueError):
            clock.set(datetime(2026, 1, 1))
    finally:
        clock.reset()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_a_worker_compiles_the_busiest_templates_as_it_starts(app, monkeypatch):
    """gunicorn.conf.py's worker hook compiles them (every one, or a worker would find
    out at its first visitor), and leaves another app, such as the benchmarks' minimal
    one, alone."""
    import runpy
    from types import SimpleNamespace

    from flask import Flask

    from app import templating
    assert app.extensions["firebreak.warm"]() == len(templating.WARM_TEMPLATES)
    from app import patches
    hooks = runpy.run_path(str(Path(__file__).parent.parent / "gunicorn.conf.py"))
    monkeypatch.setattr(patches.gc, "freeze", lambda: None)  # not this test process's collector
    monkeypatch.setattr(patches.gc, "set_threshold", lambda *args: None)
    compiled, writers = [], []
    app.extensions["firebreak.warm"] = lambda: compiled.append(True)
    app.extensions["firebreak.start_writer"] = writers.append  # SQLite: the worker's ingestion writer
    worker = SimpleNamespace(cfg=SimpleNamespace(threads=16))
    hooks["post_worker_init"](SimpleNamespace(wsgi=app, cfg=worker.cfg))
    hooks["post_worker_init"](SimpleNamespace(wsgi=Flask("minimal"), cfg=worker.cfg))
    assert compiled == [True] and writers == [16]


def test_hooks_known_to_be_plain_are_remembered_weakly(app, monkeypatch):
    """`ensure_sync` remembers a plain function (it runs for every hook of every
    request), forgets a function made for one request once it is gone, and still
    wraps a coroutine function as Flask does."""
    import gc
    import weakref

    from flask import Flask
    asked = []
    flasks = Flask.ensure_sync
    monkeypatch.setattr(Flask, "ensure_sync", lambda self, func: asked.append(func.__name__) or flasks(self, func))

    def plain():
        return "plain"

    assert app.ensure_sync(plain) is plain and app.ensure_sync(plain) is plain
    assert asked == ["plain"]  # Flask was asked once

    def made_for_one_request():
        return None

    gone = weakref.ref(made_for_one_request)
    app.ensure_sync(made_for_one_request)
    del made_for_one_request
    gc.collect()
    assert gone() is None

    async def coroutine():
        return "awaited"

    with pytest.raises(RuntimeError, match="async"):  # Flask's own answer without its async extra
        app.ensure_sync(coroutine)
    assert coroutine not in app._plain


def test_a_response_without_a_session_sets_no_cookie_and_varies_on_cookie(client):
    """An empty session left unchanged is saved as Flask saves it: no cookie, and the
    answer varies on Cookie (Flask 3 counts every session as read)."""
    answer = client.post("/v2/enqueue", json={})
    assert answer.status_code == 400  # its errors listed; the point here is the headers
    assert "Set-Cookie" not in answer.headers
    assert "Cookie" in answer.headers.get("Vary", "")
