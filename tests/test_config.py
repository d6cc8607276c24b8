"""Settings as hosts hand them over: secrets in files (`<NAME>_FILE`, as Docker and
Kubernetes secrets and systemd credentials are given), and `postgres://` URLs."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import create_app
from app.config import ConfigError, from_env
from app.extensions import db
from tests.conftest import BASE_CONFIG

# Every secret setting, and the key it becomes in app.config.
SECRETS = {
    "SECRET_KEY": "SECRET_KEY",
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "TWILIO_ACCOUNT_SID": "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN": "TWILIO_AUTH_TOKEN",
    "SMTP_URL": "SMTP_URL",
    "RATELIMIT_STORAGE_URI": "RATELIMIT_STORAGE_URI",
    "METRICS_TOKEN": "METRICS_TOKEN",
    "ENGINE_HEARTBEAT_URL": "ENGINE_HEARTBEAT_URL",
}
VALUES = {
    "DATABASE_URL": "sqlite:////data/firebreak.db",
    "SMTP_URL": "smtp://firebreak:pass@mail.example.com:587",
    "RATELIMIT_STORAGE_URI": "redis://:pass@redis.example.com:6379/0",
    "ENGINE_HEARTBEAT_URL": "https://hc-ping.com/0d1f2e3a-heartbeat",
}


@pytest.fixture
def secret_file(tmp_path, monkeypatch):
    """Write `value` to a file and point `<name>_FILE` at it, `<name>` unset."""
    def write(name: str, value: str | bytes) -> str:
        path = tmp_path / name.lower()
        path.write_bytes(value if isinstance(value, bytes) else value.encode())
        monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(f"{name}_FILE", str(path))
        return str(path)
    return write


@pytest.mark.parametrize("name", SECRETS)
def test_every_secret_can_come_from_a_file(secret_file, name):
    value = VALUES.get(name, f"{name.lower()}-from-a-file-0123456789abcdef")
    secret_file(name, value + "\n")  # `echo … > file` and editors end it with a newline
    assert from_env()[SECRETS[name]] == value


def test_a_secret_file_keeps_everything_but_its_trailing_newline(secret_file):
    secret_file("TWILIO_AUTH_TOKEN", " two words \r\n")
    assert from_env()["TWILIO_AUTH_TOKEN"] == " two words "


def test_a_secret_given_twice_refuses_to_start(secret_file, monkeypatch):
    secret_file("SMTP_URL", "smtp://mail.example.com\n")
    monkeypatch.setenv("SMTP_URL", "smtp://other.example.com")
    with pytest.raises(ConfigError, match="SMTP_URL and SMTP_URL_FILE are both set"):
        create_app(BASE_CONFIG)


def test_an_empty_setting_beside_its_file_is_not_a_second_value(secret_file, monkeypatch):
    secret_file("TWILIO_AUTH_TOKEN", "token-from-file")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    assert from_env()["TWILIO_AUTH_TOKEN"] == "token-from-file"


def test_a_missing_secret_file_is_named_with_its_variable(tmp_path, monkeypatch):
    missing = tmp_path / "run" / "secrets" / "secret_key"
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.setenv("SECRET_KEY_FILE", str(missing))
    with pytest.raises(ConfigError) as refused:
        create_app(BASE_CONFIG)
    assert str(refused.value) == f"SECRET_KEY_FILE: cannot read {missing}: No such file or directory."


def test_an_unreadable_secret_file_never_shows_its_contents(secret_file, tmp_path, monkeypatch):
    path = secret_file("TWILIO_AUTH_TOKEN", b"\xffhunter2-not-text")
    with pytest.raises(ConfigError) as refused:
        from_env()
    assert str(refused.value) == f"TWILIO_AUTH_TOKEN_FILE: {path} is not UTF-8 text."
    monkeypatch.setenv("TWILIO_AUTH_TOKEN_FILE", str(tmp_path))  # a directory
    with pytest.raises(ConfigError, match=f"TWILIO_AUTH_TOKEN_FILE: cannot read {tmp_path}: Is a directory"):
        from_env()


def test_a_key_from_a_file_is_held_to_the_production_rules(secret_file, monkeypatch):
    monkeypatch.setenv("FIREBREAK_ENV", "production")
    secret_file("SECRET_KEY", "short\n")
    with pytest.raises(ConfigError, match="too short"):
        from_env()
    secret_file("SECRET_KEY", "k" * 48 + "\n")
    assert from_env()["SECRET_KEY"] == "k" * 48


# --- postgres:// URLs -------------------------------------------------------------------

@pytest.mark.parametrize("given", [
    "postgres://firebreak:pass@db.example.com:5432/firebreak?sslmode=require",
    "postgresql://firebreak:pass@db.example.com:5432/firebreak?sslmode=require",
    "postgresql+psycopg://firebreak:pass@db.example.com:5432/firebreak?sslmode=require",
])
def test_postgres_urls_mean_psycopg_3(monkeypatch, given):
    """What Fly, Heroku, Render and Supabase hand out: SQLAlchemy refused `postgres://`
    and would have looked for psycopg2 (not installed) for `postgresql://`."""
    monkeypatch.setenv("DATABASE_URL", given)
    app = create_app(BASE_CONFIG)
    with app.app_context():
        url = db.engine.url
        assert (url.drivername, db.engine.dialect.driver) == ("postgresql+psycopg", "psycopg")
        assert (url.host, url.port, url.database, url.query) == (
            "db.example.com", 5432, "firebreak", {"sslmode": "require"})
        assert url.password == "pass"
        db.engine.dispose()


def test_other_urls_are_left_as_they_are(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/postgres.db")
    assert from_env()["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/postgres.db"


@pytest.mark.postgresql
def test_a_postgres_url_connects(backend, postgres_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://" + postgres_url.split("://", 1)[1])
    app = create_app(BASE_CONFIG)
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM alembic_version")) == 1
        db.session.remove()
        db.engine.dispose()
