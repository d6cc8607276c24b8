"""Fixtures: an app from the factory on a migrated database, a client, a runner.

Every test gets its own SQLite file, copied from one migrated template per worker.
Tests marked `db` run again on PostgreSQL when `FIREBREAK_TEST_POSTGRES_URL` is set
(`make test` sets it, see scripts/pgcluster.py): one database per xdist worker,
migrated once, emptied between tests.
"""
from __future__ import annotations

import contextvars
import os
import re
import shutil

# Settings come from the environment: make sure the developer's own never leak in,
# and that no secret key file is written for tests.
for _name in ("DATABASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER",
              "TWILIO_API_BASE", "SMTP_URL", "ENGINE_IN_PROCESS", "PUBLIC_BASE_URL", "PROXY_COUNT",
              "FIREBREAK_ENV", "SESSION_LIFETIME_HOURS", "SESSION_IDLE_MINUTES", "ENGINE_HEARTBEAT_URL", "LOG_FORMAT",
              "RATELIMIT_STORAGE_URI", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_SCOPES", "OIDC_AUTO_CREATE",
              "OIDC_GROUPS_CLAIM", "PASSWORD_SIGN_IN"):
    os.environ.pop(_name, None)
for _name in ("SECRET_KEY", "DATABASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMTP_URL", "METRICS_TOKEN",
              "RATELIMIT_STORAGE_URI", "ENGINE_HEARTBEAT_URL", "OIDC_CLIENT_SECRET"):
    os.environ.pop(f"{_name}_FILE", None)  # the same secret from a file (app.config) would clash
os.environ["SECRET_KEY"] = "test-secret-key-not-for-production"

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import has_app_context  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from itsdangerous import URLSafeTimedSerializer  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from app import clock, create_app  # noqa: E402
from app.database import set_write_intent  # noqa: E402
from app.extensions import db  # noqa: E402

# Property tests judge results, not speed: on a loaded machine (CI runs beside other
# work) a 200 ms deadline per example fails tests that are right.
settings.register_profile("firebreak", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("firebreak")

PG_URL = os.environ.get("FIREBREAK_TEST_POSTGRES_URL")

BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": os.environ["SECRET_KEY"],
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast in tests; scrypt in production
    "RATELIMIT_ENABLED": False,
    "PUBLIC_BASE_URL": "http://localhost",
    "SERVER_NAME": None,
    # The status page's cache reads the version on every request in tests (no waiting for
    # its half-second interval); tests/test_statuspage_cache.py checks the interval itself.
    "STATUS_CACHE_CHECK_SECONDS": 0,
    # Tests move the clock by days while signed in; sessions outlast that here, and the
    # tests of session expiry (test_auth.py) put the production limits back.
    "SESSION_LIFETIME_HOURS": 24 * 3650,
    "SESSION_IDLE_MINUTES": 60 * 24 * 3650,
}


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if PG_URL and metafunc.definition.get_closest_marker("db"):
            backends.append("postgresql")
        if metafunc.definition.get_closest_marker("postgresql"):
            backends = ["postgresql"] if PG_URL else []
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request):
    return getattr(request, "param", "sqlite")


def make_app(url: str, **overrides):
    return create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url, **overrides})


def migrate_database(url: str) -> None:
    app = make_app(url)
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file to copy for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url(worker_id):
    """This worker's own migrated PostgreSQL database."""
    if not PG_URL:
        pytest.skip("no PostgreSQL (run through `make test`)")
    name = f"firebreak_{re.sub(r'[^a-z0-9_]', '_', worker_id.lower())}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    migrate_database(url)
    return url


def _empty_postgres(app) -> None:
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables]
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(backend, tmp_path, request):
    if backend == "postgresql":
        return request.getfixturevalue("postgres_url")
    path = tmp_path / "firebreak.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture
def app_config():
    """Overrides for one test's app: `@pytest.mark.parametrize` or override the fixture."""
    return {}


@pytest.fixture
def app(database_url, backend, app_config):
    app = make_app(database_url, **app_config)
    if backend == "postgresql":
        _empty_postgres(app)
    app.test_client_class = Client
    # The test itself reads deferred, like a browser's GET: it must never hold the
    # write lock while a live server thread or an engine it drives needs it.
    set_write_intent(False)
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    db.engine.dispose()
    ctx.pop()
    clock.reset()


class Client(FlaskClient):
    """A test client that behaves like a browser against a separate server.

    Posts carry a valid CSRF token, as a form would (pass `csrf=False` to leave it
    out). Each request runs in an empty context, so it gets its own app context, `g`
    and database session, never the test's; the test's pending changes are
    committed first, since a real request only sees what was committed.
    """

    def csrf_token(self) -> str:
        app = self.application
        with self.session_transaction() as session:
            raw = session.get("csrf_token")
            if raw is None:
                raw = session["csrf_token"] = os.urandom(20).hex()
        return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)

    def open(self, *args, csrf: bool = True, **kwargs):
        method = kwargs.get("method", "GET").upper()
        if csrf and method not in ("GET", "HEAD", "OPTIONS") and not kwargs.get("json"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        if has_app_context():
            db.session.commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def fake_twilio_server():
    from tests.fakes import FakeTwilio
    server = FakeTwilio()
    yield server
    server.close()


@pytest.fixture
def twilio(fake_twilio_server):
    """The fake Twilio, emptied for this test."""
    fake_twilio_server.reset()
    return fake_twilio_server


@pytest.fixture(scope="session")
def mailbox_server():
    from tests.fakes import Mailbox
    server = Mailbox()
    yield server
    server.close()


@pytest.fixture
def mailbox(mailbox_server):
    """A real SMTP server on loopback, emptied for this test."""
    mailbox_server.reset()
    return mailbox_server


def provider_config(twilio, mailbox) -> dict:
    """Settings that point the real twilio client and smtplib at the fakes."""
    from tests.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
    return {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE": twilio.base_url, "SMTP_URL": mailbox.url, "NOTIFY_TIMEOUT_SECONDS": 10}


@pytest.fixture
def live_app(app):
    """This test's app served over real HTTP on loopback (for peers that call it:
    the fake Twilio, Alertmanager). PUBLIC_BASE_URL becomes its address."""
    import threading

    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, url
    server.shutdown()
    server.server_close()
    thread.join()
