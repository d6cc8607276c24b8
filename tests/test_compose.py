"""compose.yaml describes the layout `make prod-check` runs for real (load/test_prod.py):
Caddy with deploy/Caddyfile in front of two web processes, two engines, one
PostgreSQL, migrations once before any of them starts.

No container engine runs here, so the file is read as Compose reads it (YAML, merge
keys and anchors included) and held to the rules: the same layout and the same
Caddyfile as the prod-check; no secret in the file, each one a file mounted under
/run/secrets/ and read through a *_FILE setting the app knows; read-only root
filesystems; health checks on what each service is; start order by conditions.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from load import front

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]

# Settings whose value is a secret, as compose.yaml may set them (the app's own, and
# the PostgreSQL image's password).
SECRETS = ("SECRET_KEY", "DATABASE_URL", "TWILIO_AUTH_TOKEN", "SMTP_URL", "METRICS_TOKEN", "RATELIMIT_STORAGE_URI",
           "ENGINE_HEARTBEAT_URL", "POSTGRES_PASSWORD")
# Services that may write to their root filesystem, and why.
WRITABLE = {"postgres": "the image's entrypoint writes its run directory and init state outside the data volume"}


def command(service: dict) -> list[str]:
    value = service.get("command", [])
    return shlex.split(value) if isinstance(value, str) else list(value)


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def replicas(service: dict) -> int:
    return service.get("deploy", {}).get("replicas", 1)


def webs() -> dict[str, dict]:
    return {name: s for name, s in SERVICES.items() if command(s)[:1] == ["gunicorn"]}


def engines() -> dict[str, dict]:
    return {name: s for name, s in SERVICES.items() if command(s) == ["flask", "--app", "wsgi", "engine", "run"]}


def app_services() -> dict[str, dict]:
    return {name: s for name, s in SERVICES.items() if s.get("build") is not None}


def test_the_layout_is_the_one_prod_check_runs():
    assert sum(replicas(s) for s in webs().values()) >= 2
    assert sum(replicas(s) for s in engines().values()) >= 2
    assert SERVICES["caddy"]["image"] == "caddy:2"
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert command(SERVICES["migrate"]) == ["flask", "--app", "wsgi", "db", "upgrade"]
    assert set(app_services()) == {"migrate", *webs(), *engines()}
    assert all(s["build"] == "." for s in app_services().values())
    # Caddy balances over every web process, at the port its gunicorn binds; one each,
    # so each has its own health checks (replicas behind one name would share them).
    upstreams = SERVICES["caddy"]["environment"]["FIREBREAK_UPSTREAMS"].split()
    assert sorted(upstreams) == sorted(f"{name}:{option(command(s), '--bind').rsplit(':', 1)[1]}"
                                       for name, s in webs().items())
    assert all(replicas(s) == 1 for s in webs().values())


def test_the_app_is_told_it_is_behind_caddy_on_the_site_caddy_serves():
    site = SERVICES["caddy"]["environment"]["FIREBREAK_SITE"]
    for name, service in app_services().items():
        environment = service["environment"]
        assert environment["PUBLIC_BASE_URL"] == f"https://{site}", name
        assert environment["PROXY_COUNT"] == "1", name
        assert environment["FIREBREAK_ENV"] == "production", name


def test_caddy_runs_the_caddyfile_prod_check_runs():
    mounts = [volume.split(":") for volume in SERVICES["caddy"]["volumes"]]
    [(source, _, mode)] = [mount for mount in mounts if mount[1] == "/etc/caddy/Caddyfile"]
    assert (ROOT / source).resolve() == front.CADDYFILE and front.CADDYFILE.is_file() and mode == "ro"
    text = front.CADDYFILE.read_text()
    placeholders = dict(re.findall(r"\{\$(\w+)(?::([^}]*))?\}", text))
    # Only addresses vary, and the prod-check sets each of them.
    assert set(placeholders) == set(front.addresses(["web:1"], 1, 2, 3))
    # Compose sets what has no default that fits a container.
    given = set(SERVICES["caddy"]["environment"])
    assert given <= set(placeholders)
    assert all(placeholders[name] for name in set(placeholders) - given)
    # The defaults are what compose needs: where compose also sets one, it is the same
    # (compose's own default, when it takes `${NAME:-default}` from the shell).
    compose_values = {name: re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", str(value))
                      for name, value in SERVICES["caddy"]["environment"].items()}
    assert {name: compose_values[name] for name in given if placeholders[name]} == {
        name: placeholders[name] for name in given if placeholders[name]}
    assert "skip_install_trust" in text and "health_uri /healthz/ready" in text


def test_no_secret_is_written_in_the_file():
    declared = COMPOSE["secrets"]
    for name, service in SERVICES.items():
        environment = service.get("environment", {})
        mounted = set(service.get("secrets", []))
        for setting in SECRETS:
            assert not environment.get(setting), f"{name}: {setting} is given inline"
        for setting, path in environment.items():
            if not setting.endswith("_FILE"):
                assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", str(path)), f"{name}: {setting} has a password"
                continue
            secret = path.removeprefix("/run/secrets/")
            assert path == f"/run/secrets/{secret}" and secret in mounted, f"{name}: {setting} is no secret it mounts"
            assert declared[secret] == {"file": f"./secrets/{secret}"}, secret
    assert set(declared) == {s for service in SERVICES.values() for s in service.get("secrets", [])}


def test_every_secret_file_setting_is_one_the_app_reads():
    """A *_FILE the app does not read would leave its setting empty without a word."""
    config = (ROOT / "app" / "config.py").read_text()
    for name, service in app_services().items():
        for setting in service["environment"]:
            if setting.endswith("_FILE"):
                assert f'_secret("{setting.removesuffix("_FILE")}")' in config, f"{name}: {setting}"


def test_the_secrets_folder_stays_out_of_git_and_the_image():
    for ignore in (".gitignore", ".dockerignore"):
        lines = (ROOT / ignore).read_text().splitlines()
        assert {"secrets", "secrets/", "/secrets", "/secrets/"} & set(lines), ignore


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_root_filesystems_are_read_only(name):
    service = SERVICES[name]
    if name in WRITABLE:
        assert not service.get("read_only")
        return
    assert service.get("read_only") is True
    assert "/tmp" in service.get("tmpfs", [])


def test_health_checks_ask_what_each_service_is():
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    for name, service in webs().items():
        port = option(command(service), "--bind").rsplit(":", 1)[1]
        assert f"http://127.0.0.1:{port}/healthz/ready" in " ".join(service["healthcheck"]["test"]), name
        graceful = int(option(command(service), "--graceful-timeout"))
        assert int(service["stop_grace_period"].removesuffix("s")) > graceful, name
    # No HTTP server in these: a check inherited from the image would call them unhealthy.
    for name in ("migrate", *engines()):
        assert SERVICES[name]["healthcheck"] == {"disable": True}, name


def test_start_order_waits_on_conditions():
    def waits(name: str) -> dict[str, str]:
        return {other: rule["condition"] for other, rule in SERVICES[name].get("depends_on", {}).items()}

    assert waits("migrate") == {"postgres": "service_healthy"}
    for name in (*webs(), *engines()):
        assert waits(name) == {"migrate": "service_completed_successfully"}, name
    assert waits("caddy") == {name: "service_started" for name in webs()}
    assert SERVICES["migrate"]["restart"] == "no"
    assert all(service["restart"] == "unless-stopped" for name, service in SERVICES.items() if name != "migrate")
