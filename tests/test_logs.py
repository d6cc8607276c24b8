"""LOG_FORMAT=json: one JSON object per line, with the request's id (echoed in the
response's X-Request-ID) and, where there is one, the incident's; gunicorn's error and
access logs too, from a real gunicorn."""
from __future__ import annotations

import io
import json
import re
import logging
import sys
import urllib.error
import urllib.request

import pytest

from app import clock, logs
from app.config import ConfigError, from_env
from app.engine.core import Engine, Job
from app.incidents import service as incidents
from tests.factories import SYSTEM, login, make_service, make_user
from tests.servers import gunicorns


@pytest.fixture
def json_lines(monkeypatch):
    """What the root logger's JSON handler writes, as parsed lines: the handler the app
    installs with LOG_FORMAT=json, pointed at a buffer, and taken away afterwards."""
    root = logging.getLogger()
    before = list(root.handlers)
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)  # where the installed handler writes

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield lines
    for handler in root.handlers:
        if handler not in before:
            root.removeHandler(handler)


@pytest.fixture
def app_config(json_lines):
    return {"LOG_FORMAT": "json"}


def test_every_request_gets_an_id_it_answers_with(client):
    given = client.get("/healthz/live", headers={"X-Request-ID": "lb-7f3a.9c:01"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.9c:01"
    made = client.get("/healthz/live").headers["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0
    assert client.get("/healthz/live").headers["X-Request-ID"] != made
    for unsound in ("a" * 129, "two words", "line\tbreak", "ünïcode", ""):
        answer = client.get("/healthz/live", headers={"X-Request-ID": unsound})
        assert answer.headers["X-Request-ID"] != unsound and len(answer.headers["X-Request-ID"]) == 32


def test_a_record_of_a_request_carries_its_id_and_its_incident(app, client, json_lines, monkeypatch):
    """A failure on an incident's page is logged with its traceback, the request's id
    (the one in the answer) and the incident's id."""
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="Checkout down", severity=2,
                                       now=clock.now())
    login(client, make_user("viewer"))

    def broken(incident):
        raise RuntimeError("the page could not be put together")

    monkeypatch.setattr("app.incidents.views.page_context", broken)
    answer = client.get(f"/incidents/{incident.id}", headers={"X-Request-ID": "req-42"})
    assert answer.status_code == 500 and answer.headers["X-Request-ID"] == "req-42"
    [record] = [line for line in json_lines() if line["message"] == "unhandled error"]
    assert record["request_id"] == "req-42" and record["incident_id"] == incident.id
    assert record["level"] == "ERROR" and record["logger"] == app.name
    assert "RuntimeError: the page could not be put together" in record["exception"]
    assert record["time"].endswith("+00:00")


def test_records_outside_a_request_carry_neither_id(app, json_lines):
    logging.getLogger("firebreak.test").warning("no request here: %s", "none")
    [record] = json_lines()
    assert record["message"] == "no request here: none" and record["logger"] == "firebreak.test"
    assert "request_id" not in record and "incident_id" not in record and "exception" not in record


def test_an_engine_unit_on_an_incident_logs_its_id(app, json_lines):
    incident = incidents.open_incident(SYSTEM, service=make_service(), title="Pager test", severity=3,
                                       now=clock.now())

    def fails(ident, now):
        raise RuntimeError("the unit went wrong")

    engine = Engine([Job("on_incidents", lambda now, limit: [incident.id], fails, on_incidents=True),
                     Job("on_other_rows", lambda now, limit: [77], fails)], holder="logs")
    assert len(engine.cycle().errors) == 2
    failed = [line for line in json_lines() if line["message"].startswith("engine job")]
    assert [(line["message"], line.get("incident_id")) for line in failed] == [
        (f"engine job on_incidents failed on {incident.id}", incident.id), ("engine job on_other_rows failed on 77", None)]
    assert all("RuntimeError: the unit went wrong" in line["exception"] for line in failed)


def test_text_stays_the_default_and_anything_else_is_refused(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert from_env()["LOG_FORMAT"] == "text"
    monkeypatch.setenv("LOG_FORMAT", "JSON ")
    assert from_env()["LOG_FORMAT"] == "json"
    monkeypatch.setenv("LOG_FORMAT", "logfmt")
    with pytest.raises(ConfigError, match="LOG_FORMAT must be text or json, not 'logfmt'"):
        from_env()


def test_the_formatter_keeps_one_record_on_one_line():
    record = logging.LogRecord("firebreak.test", logging.WARNING, __file__, 1, "two\nlines \"quoted\"", None, None)
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line and json.loads(line)["message"] == "two\nlines \"quoted\""


def test_secrets_in_urls_are_redacted():
    assert logs.redact_url("/schedules/3/oncall.ics?token=abc&week=2") == "/schedules/3/oncall.ics?token=[redacted]&week=2"
    assert logs.redact_url("GET /integrations/alertmanager/7d7d?x=1 HTTP/1.1") == (
        "GET /integrations/alertmanager/[redacted]?x=1 HTTP/1.1")
    assert logs.redact_url("https://host/status/unsubscribe/abc/undo") == "https://host/status/unsubscribe/[redacted]/undo"
    assert logs.redact_query("api_key=1&Signature=2&code=&page=3&password=4") == (
        "api_key=[redacted]&Signature=[redacted]&code=&page=3&password=[redacted]")
    assert logs.redact_url("/admin/comms-templates/paging/edit?page=2") == "/admin/comms-templates/paging/edit?page=2"


def test_every_route_with_a_secret_in_its_path_is_redacted(app):
    """A route whose rule takes a token or a key as a path segment is in SECRET_SEGMENTS."""
    secret = {rule.rule for rule in app.url_map.iter_rules()
              if {"token", "integration_key"} & set(rule.arguments)}
    assert secret and all(logs.redact_url(re.sub(r"<(?:\w+:)?(token|integration_key)>", "s3cr3t", rule))
                          .count("s3cr3t") == 0 for rule in secret), secret


# --- gunicorn ------------------------------------------------------------------------------

@pytest.mark.realtime
def test_gunicorn_logs_json_with_the_request_id(sqlite_template, tmp_path):
    """A real gunicorn with LOG_FORMAT=json: its start-up and shut-down records and the
    access record of a request are JSON lines; the access record has the request's id."""
    with gunicorns([tmp_path], {"LOG_FORMAT": "json"}, sqlite_template=sqlite_template) as [url]:
        request = urllib.request.Request(url + "/healthz/ready", headers={"X-Request-ID": "probe-1"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200 and answer.headers["X-Request-ID"] == "probe-1"
        secret = urllib.request.Request(url + "/heartbeats/hb-secret-1?token=feed-secret-2&page=2",
                                        headers={"X-Request-ID": "probe-2", "Referer": url + "/invite/inv-secret-3"})
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(secret, timeout=10)
    errors = [json.loads(line) for line in (tmp_path / "stderr").read_text().splitlines()]
    accesses = [json.loads(line) for line in (tmp_path / "stdout").read_text().splitlines()]
    assert {line["logger"] for line in errors} == {"gunicorn.error"}
    assert any(line["message"].startswith("Booting worker") for line in errors)
    assert any(line["message"] == "Shutting down: Master" for line in errors)
    [access] = [line for line in accesses if line.get("request_id") == "probe-1"]
    assert access["logger"] == "gunicorn.access"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz/ready", 200)
    assert access["duration_ms"] > 0 and '"GET /healthz/ready HTTP/1.1" 200' in access["message"]
    # Secrets in the URL stay out: a heartbeat's token in the path, a feed's in the query.
    stdout = (tmp_path / "stdout").read_text()
    assert not [secret for secret in ("hb-secret-1", "feed-secret-2", "inv-secret-3") if secret in stdout]
    [secret] = [line for line in accesses if line.get("request_id") == "probe-2"]
    assert (secret["path"], secret["query"]) == ("/heartbeats/[redacted]", "token=[redacted]&page=2")
    assert '"GET /heartbeats/[redacted]?token=[redacted]&page=2 HTTP/1.1" 404' in secret["message"]
