"""Secrets come only from the environment: none in the repository, and no start in
production without a real SECRET_KEY."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from app import config, create_app
from app.config import ConfigError, from_env

ROOT = Path(__file__).resolve().parent.parent

# What real credentials look like. Test doubles (tests/fakes.py's all-zero Twilio SID,
# "test-…" tokens) are built so that they do not.
CREDENTIALS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Twilio account SID or API key": re.compile(r"\b(?:AC|SK)(?!0{32}|(?:0123456789abcdef){2})[0-9a-f]{32}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{16,}"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{40,})"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Stripe key": re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}"),
    "JSON web token": re.compile(r"\beyJ[0-9A-Za-z_-]{10,}\.eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}"),
    "Firebreak API token": re.compile(r"\bfbk_[0-9A-Za-z_-]{40,}"),
    "Firebreak calendar token": re.compile(r"\bfbcal_[0-9A-Za-z_-]{30,}"),
}
# user:password@host in a URL, unless the password is a placeholder or the host is made up.
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://([^/\s:@'\"]+):([^/\s@'\"]+)@([^/\s:'\"]+)")
PLACEHOLDER_PASSWORDS = {"pass", "password", "secret", "…", "...", "xxx", "PASSWORD", "$PASSWORD"}
MADE_UP_HOSTS = ("example.com", "example.org", "localhost", "127.0.0.1", "host")
# A literal assigned to a secret-looking setting, in code that runs in production.
SECRET_ASSIGNMENT = re.compile(
    r"""\b([A-Z_]*(?:SECRET|PASSWORD|TOKEN|API_KEY|PRIVATE_KEY)[A-Z_]*)\s*[:=]\s*(?:"|')([^"'\s]{8,})(?:"|')""")
PRODUCTION_CODE = ("app/", "migrations/", "scripts/", "wsgi.py", "gunicorn.conf.py", "Dockerfile", "fly.toml",
                   "Makefile", "pyproject.toml")


def tracked_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in names.decode().split("\0") if name]


def findings(path: Path, text: str) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    found = [f"{relative}: {what}" for what, pattern in CREDENTIALS.items() if pattern.search(text)]
    for user, password, host in URL_PASSWORD.findall(text):
        if password not in PLACEHOLDER_PASSWORDS and not host.endswith(MADE_UP_HOSTS) and "{" not in password:
            found.append(f"{relative}: a password in a URL for {host}")
    if relative.startswith(PRODUCTION_CODE):
        for name, value in SECRET_ASSIGNMENT.findall(text):
            if not re.fullmatch(r"[a-z_.]+", value):  # an enum's value or a name, not a secret
                found.append(f"{relative}: {name} is given a literal value")
    return found


def test_no_secret_is_in_the_repository():
    files = tracked_files()
    assert len(files) > 100
    found = []
    for path in files:
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:1024]:
            continue  # binary (fonts, images)
        found += findings(path, data.decode("utf-8", errors="replace"))
    assert found == []


def test_nothing_from_instance_is_tracked():
    """instance/ holds the SQLite file, a development key and the demo sign-in."""
    names = [p.relative_to(ROOT).as_posix() for p in tracked_files()]
    assert not [n for n in names if n.startswith("instance/") or n.endswith((".db", "secret_key", "demo-login.txt"))]
    assert "instance/" in (ROOT / ".gitignore").read_text().split()


@pytest.mark.parametrize("text", [
    'SECRET_KEY = "s3cr3t-but-real-looking"',
    "TWILIO_AUTH_TOKEN: 'a1b2c3d4e5f6a7b8'",
    "url = 'postgresql://firebreak:Tr0ub4dor" + "@db.internal/firebreak'",  # split: this file is scanned too
    "sid = 'AC" + "1f" * 16 + "'",
    "token = 'fbk_" + "A" * 43 + "'",
    "-----BEGIN RSA " + "PRIVATE KEY-----",
])
def test_the_scan_finds_what_it_looks_for(text):
    assert findings(ROOT / "app" / "example.py", text)


@pytest.mark.parametrize("text", [
    'SECRET_KEY = os.environ.get("SECRET_KEY")',
    "SMTP_URL=smtp://user:pass@mail.example.com:587",
    "postgresql+psycopg://app@127.0.0.1:55432/appdb",
    'ACCOUNT_SID = "AC" + "0" * 32',
])
def test_the_scan_lets_placeholders_and_environment_reads_pass(text):
    assert findings(ROOT / "app" / "example.py", text) == []


# --- no start in production without a real key ------------------------------------------

@pytest.fixture
def instance(monkeypatch, tmp_path):
    """An empty instance folder, so a key file written there would be seen."""
    monkeypatch.setattr(config, "INSTANCE", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/never.db")
    return tmp_path


def test_production_refuses_to_start_without_secret_key(monkeypatch, instance):
    monkeypatch.setenv("FIREBREAK_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()
    assert not (instance / "secret_key").exists()  # and made none up


def test_an_https_address_means_production(monkeypatch, instance):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://incidents.example.com")
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_production_refuses_a_short_key(monkeypatch, instance):
    monkeypatch.setenv("FIREBREAK_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "changeme")
    with pytest.raises(ConfigError, match="too short"):
        from_env()


def test_production_starts_with_a_key_from_the_environment(monkeypatch, instance):
    monkeypatch.setenv("FIREBREAK_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    app = create_app()
    assert app.secret_key == "k" * 48 and app.config["FIREBREAK_PRODUCTION"] is True
    assert not (instance / "secret_key").exists()


def test_development_keeps_a_made_up_key_in_instance_only(monkeypatch, instance):
    monkeypatch.setenv("FIREBREAK_ENV", "development")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://dev.example.com")  # an explicit FIREBREAK_ENV wins
    first = from_env()["SECRET_KEY"]
    assert (instance / "secret_key").read_text().strip() == first
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0
    assert from_env()["SECRET_KEY"] == first and from_env()["FIREBREAK_PRODUCTION"] is False


def test_the_container_image_runs_as_production():
    assert "FIREBREAK_ENV=production" in (ROOT / "Dockerfile").read_text()
