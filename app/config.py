"""Settings, all read from the environment, with defaults safe for one machine.

`Config.from_env()` is the only place that reads `os.environ`; everything else
reads `current_app.config`. Tests pass a dict of overrides to `create_app`.

Secrets (keys, tokens, URLs that carry a password) may instead come from a file named by
`<NAME>_FILE`, as Docker and Kubernetes secrets and systemd credentials hand them over
(`_secret`), so they need not sit in the process's environment.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("FIREBREAK_INSTANCE_PATH", ROOT / "instance"))


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class ConfigError(RuntimeError):
    """A setting that makes it unsafe to start: the app refuses rather than guess."""


def _secret(name: str) -> str:
    """The setting `name`, or the contents of the file `<name>_FILE` names, without its
    trailing newline; empty when neither is set. Both set is refused: which one was
    meant cannot be guessed. An unreadable file is refused too, naming the variable and
    the path, never the contents."""
    value = os.environ.get(name, "")
    path = os.environ.get(f"{name}_FILE", "")
    if not path:
        return value
    if value:
        raise ConfigError(f"{name} and {name}_FILE are both set: keep one.")
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().rstrip("\r\n")
    except OSError as error:
        raise ConfigError(f"{name}_FILE: cannot read {path}: {error.strerror or error}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}_FILE: {path} is not UTF-8 text.") from None


def database_url(url: str) -> str:
    """`postgres://` and `postgresql://`, as Fly, Heroku, Render and Supabase hand them
    out, mean psycopg 3, the driver Firebreak installs: SQLAlchemy refuses the first and
    would look for psycopg2 for the second."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme.lower() in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


MIN_SECRET_KEY_LENGTH = 32


def is_production(public_base_url: str) -> bool:
    """FIREBREAK_ENV says so (the Docker image sets `production`); without it, an
    https PUBLIC_BASE_URL means a real deployment."""
    env = os.environ.get("FIREBREAK_ENV", "").strip().lower()
    if env:
        return env == "production"
    return urlparse(public_base_url).scheme == "https"


def _secret_key(production: bool) -> str:
    """SECRET_KEY from the environment; on one machine in development, one made once
    and kept in instance/ (never in the repo).

    In production the key must come from the environment, at least 32 characters: a key
    made on the machine would differ between machines and vanish with a container, and
    the app refuses to start rather than sign sessions with it.
    """
    key = _secret("SECRET_KEY").strip()
    if production:
        if not key:
            raise ConfigError(
                "SECRET_KEY is not set. In production (FIREBREAK_ENV=production, or an https PUBLIC_BASE_URL) "
                "it must come from the environment (SECRET_KEY, or a file named by SECRET_KEY_FILE): "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'")
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(f"SECRET_KEY is too short for production: use at least {MIN_SECRET_KEY_LENGTH} "
                              "random characters.")
        return key
    if key:
        return key
    INSTANCE.mkdir(parents=True, exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _positive(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    number = float(value)
    if not number > 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return number


def _heartbeat_url() -> str:
    url = _secret("ENGINE_HEARTBEAT_URL").strip()
    if not url:
        return url
    # Never the URL itself in the message: its path is often the check's secret.
    if not url.isascii() or any(ord(char) <= 0x20 or ord(char) == 0x7F for char in url):
        raise ConfigError("ENGINE_HEARTBEAT_URL has a space, a control character or a non-ASCII one: "
                          "percent-encode it (as %20, …).")
    parts = urlparse(url)
    try:
        parts.port  # noqa: B018 (raises on a port that is not one)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("ENGINE_HEARTBEAT_URL must be an http:// or https:// URL (the engine fetches it with GET).")
    return url


def log_format() -> str:
    """LOG_FORMAT: `text` (the default) or `json` (app.logs); read by gunicorn.conf.py too."""
    value = os.environ.get("LOG_FORMAT", "").strip().lower() or "text"
    if value not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text or json, not {value!r}.")
    return value


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def oidc() -> dict:
    """Single sign-on's settings (app.auth.oidc), refused at start when they cannot work."""
    issuer = os.environ.get("OIDC_ISSUER", "").strip().rstrip("/")
    settings = {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": os.environ.get("OIDC_CLIENT_ID", "").strip(),
        "OIDC_CLIENT_SECRET": _secret("OIDC_CLIENT_SECRET"),
        "OIDC_SCOPES": " ".join(os.environ.get("OIDC_SCOPES", "").split()) or "openid email profile",
        "OIDC_AUTO_CREATE": _choice("OIDC_AUTO_CREATE", ("off", "viewer", "responder"), "off"),
        "OIDC_GROUPS_CLAIM": os.environ.get("OIDC_GROUPS_CLAIM", "").strip(),
        "PASSWORD_SIGN_IN": _choice("PASSWORD_SIGN_IN", ("on", "admins-only"), "on"),
    }
    parts = urlparse(issuer)
    if issuer and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ConfigError("OIDC_ISSUER must be the provider's https:// URL, as its discovery document names it.")
    if issuer and not settings["OIDC_CLIENT_ID"]:
        raise ConfigError("OIDC_ISSUER is set but OIDC_CLIENT_ID is not: register Firebreak at the provider first.")
    if "openid" not in settings["OIDC_SCOPES"].split():
        raise ConfigError("OIDC_SCOPES must include openid.")
    if settings["PASSWORD_SIGN_IN"] == "admins-only" and not issuer:
        raise ConfigError("PASSWORD_SIGN_IN=admins-only needs OIDC_ISSUER: without single sign-on only admins "
                          "could sign in.")
    return settings


def default_database_url() -> str:
    return f"sqlite:///{INSTANCE / 'firebreak.db'}"


def from_env() -> dict:
    public_base_url = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    https = urlparse(public_base_url).scheme == "https"
    production = is_production(public_base_url)
    return {
        "SECRET_KEY": _secret_key(production),
        "FIREBREAK_PRODUCTION": production,
        "SQLALCHEMY_DATABASE_URI": database_url(_secret("DATABASE_URL").strip()) or default_database_url(),
        "PUBLIC_BASE_URL": public_base_url,
        "TWILIO_ACCOUNT_SID": _secret("TWILIO_ACCOUNT_SID"),
        "TWILIO_AUTH_TOKEN": _secret("TWILIO_AUTH_TOKEN"),
        "TWILIO_FROM_NUMBER": os.environ.get("TWILIO_FROM_NUMBER", ""),
        "TWILIO_API_BASE": os.environ.get("TWILIO_API_BASE", "https://api.twilio.com"),
        # Where `flask import pagerduty` reads PagerDuty's REST API (a test points it at a fake).
        "PAGERDUTY_API_BASE": os.environ.get("PAGERDUTY_API_BASE", "https://api.pagerduty.com").rstrip("/"),
        # Where `flask import opsgenie` reads; empty: Opsgenie's own (US, or EU with --region eu).
        "OPSGENIE_API_BASE": os.environ.get("OPSGENIE_API_BASE", "").strip().rstrip("/"),
        "SMTP_URL": _secret("SMTP_URL"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Firebreak <firebreak@localhost>"),
        "ENGINE_IN_PROCESS": _flag("ENGINE_IN_PROCESS", False),
        "RATELIMIT_STORAGE_URI": _secret("RATELIMIT_STORAGE_URI") or "memory://",
        # Requests each API token may make (Flask-Limiter's notation); over it, 429 and Retry-After.
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "").strip() or "600 per minute",
        # Logs as text (the default) or one JSON object per line (app.logs).
        "LOG_FORMAT": log_format(),
        # How many proxies in front set X-Forwarded-For/-Proto (Fly.io: 1). 0 trusts none.
        "PROXY_COUNT": int(os.environ.get("PROXY_COUNT", "0") or 0),
        # The engine's cycle and its lease (seconds); a standby takes over within a lease.
        "ENGINE_INTERVAL_SECONDS": _positive("ENGINE_INTERVAL_SECONDS", 0.5),
        "ENGINE_LEASE_SECONDS": _positive("ENGINE_LEASE_SECONDS", 15.0),
        # The engine's dead man's switch (app.engine.deadman): fetched at most once a minute.
        "ENGINE_HEARTBEAT_URL": _heartbeat_url(),
        # When /healthz calls the engine's heartbeat stale.
        "ENGINE_STALE_SECONDS": _positive("ENGINE_STALE_SECONDS", 45.0),
        # How many messages go to the providers at once. An engine that dies mid-send
        # may leave up to this many to be sent again (at-least-once).
        "NOTIFY_CONCURRENCY": int(os.environ.get("NOTIFY_CONCURRENCY") or 8),
        # How long a provider (Twilio, SMTP) may take before a send counts as failed; a
        # claimed message is sent again only after 6 of these (app.notify.dispatch).
        "NOTIFY_TIMEOUT_SECONDS": _positive("NOTIFY_TIMEOUT_SECONDS", 10.0),
        # How long one job may work in a cycle before the next job's turn (the outbox
        # after escalations); the engine then cycles again at once, without sleeping.
        "ENGINE_SLICE_SECONDS": _positive("ENGINE_SLICE_SECONDS", 0.2),
        # Whether concurrent PagerDuty triggers share one write transaction per process
        # (app.alerts.hotpath.GroupCommit); each is still answered only once committed.
        "INGEST_GROUP_COMMIT": _flag("INGEST_GROUP_COMMIT", True),
        # SQLite under gunicorn: the hot path's writes in a writer process per worker
        # (app.alerts.writer), outside the request threads' interpreter.
        "INGEST_WRITER": _flag("INGEST_WRITER", True),
        # Which of app.patches' framework patches are on: all, none, or names.
        "FRAMEWORK_PATCHES": os.environ.get("FRAMEWORK_PATCHES", "all"),
        # The status page: its own host name (it then answers at / there), and how often
        # each process checks for changes.
        "STATUS_PAGE_HOST": os.environ.get("STATUS_PAGE_HOST", "").strip().lower(),
        "STATUS_CACHE_CHECK_SECONDS": float(os.environ.get("STATUS_CACHE_CHECK_SECONDS") or "0.5"),
        # Outbound webhooks go only to public addresses, except to these hosts (comma-
        # separated names, addresses or host:port), e.g. a receiver on this network.
        "WEBHOOK_ALLOW_HOSTS": os.environ.get("WEBHOOK_ALLOW_HOSTS", "").strip(),
        # GET /metrics answers only with this bearer token; without one it is off (404).
        "METRICS_TOKEN": _secret("METRICS_TOKEN"),
        # A signed-in browser session ends this long after sign-in, or after this long
        # without a request (app.auth.sessions); the cookie itself expires with the first.
        "SESSION_LIFETIME_HOURS": _positive("SESSION_LIFETIME_HOURS", 12),
        "SESSION_IDLE_MINUTES": _positive("SESSION_IDLE_MINUTES", 60),
        "PERMANENT_SESSION_LIFETIME": int(_positive("SESSION_LIFETIME_HOURS", 12) * 3600),
        # Single sign-on (OpenID Connect) and whether passwords still sign everyone in.
        **oidc(),
        "SESSION_COOKIE_SECURE": https,
        "REMEMBER_COOKIE_SECURE": https,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
    }


DEFAULTS = {
    # 512 KB is PagerDuty's limit for an event; nothing we take is larger.
    "MAX_CONTENT_LENGTH": 512 * 1024,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "firebreak_session",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "WTF_CSRF_CHECK_DEFAULT": False,  # app.web.enforce_access checks it, after sign-in
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_HEADERS_ENABLED": True,
    # A shared storage (Redis) that stops answering: each process counts on its own
    # until it is back, rather than failing every sign-in.
    "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
    "SIGNIN_RATE_LIMIT": "10 per minute",
    # Failed sign-ins allowed per account before it is held back for SIGNIN_LOCK_MINUTES.
    "SIGNIN_MAX_FAILURES": 5,
    "SIGNIN_LOCK_MINUTES": 15,
    "PASSWORD_HASH_METHOD": "scrypt",
    "PAGE_SIZE": 50,
    # How often live pages (incident list, incident page) ask whether anything changed.
    "LIVE_POLL_SECONDS": 3,
    # /healthz is unhealthy when the disk under the SQLite file has less free than this.
    "HEALTHZ_MIN_FREE_BYTES": 16 * 1024 * 1024,
    # The status page re-renders at least this often even without a change (today's bar moves on).
    "STATUS_RERENDER_SECONDS": 300,
    # How often the open status page refreshes itself (htmx; 30 to 60 s).
    "STATUS_REFRESH_SECONDS": 45,
    # Subscribing: per client (Flask-Limiter); per address the service allows 3 messages an hour.
    "STATUS_SUBSCRIBE_RATE_LIMIT": "10 per hour;3 per minute",
}
