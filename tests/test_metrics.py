"""GET /metrics: the token rules, each family moving when its thing happens (through
the real views, service functions, engine and fake Twilio), several processes' series
added up in multiprocess mode, gunicorn's hooks for it, and the real Prometheus from
the OS packages scraping a real gunicorn.

The recorded series are counters of the whole test process, so tests compare them
before and after; the series read from the database at scrape time are compared as
they are.
"""
from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app import clock, metrics
from app.alerts import heartbeats
from app.auth.models import Role
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from app.extensions import db
from app.incidents import service as incidents
from app.metrics.database import DatabaseCollector
from app.metrics.views import Scrape, authorized, sources
from app.notify import dispatch, paging
from app.notify.models import Channel, Notification
from app.services.models import IntegrationKey
from tests.conftest import make_app, provider_config
from tests.factories import SYSTEM, make_service, make_user, reachable
from tests.fakes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-for-tests-0123456789abcdef"
KEY = "7d" * 16
T0 = datetime(2026, 11, 27, 15, 12, tzinfo=UTC)
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_config(request):
    config = {"METRICS_TOKEN": TOKEN}
    if "paged" in request.fixturenames:  # the providers at the fakes
        config.update(provider_config(request.getfixturevalue("twilio"), request.getfixturevalue("mailbox")))
    return config


def parse(text: str) -> dict:
    """{(sample name, frozenset of labels): value} of an exposition."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client) -> dict:
    answer = client.get("/metrics", headers=BEARER)
    assert answer.status_code == 200, answer.data
    return parse(answer.get_data(as_text=True))


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def enqueue(client, body):
    return client.post("/v2/enqueue", data=json.dumps(body), content_type="application/json")


def trigger(dedup_key: str, severity: str = "critical", action: str = "trigger") -> dict:
    return {"routing_key": KEY, "event_action": action, "dedup_key": dedup_key,
            "payload": {"summary": f"{dedup_key} is failing", "source": "prod-1", "severity": severity}}


@pytest.fixture
def service(app):
    clock.set(T0)
    service = make_service("checkout-api", with_key=False)
    db.session.add(IntegrationKey(service=service, key=KEY, name="Prometheus", created_at=T0))
    db.session.commit()
    return service


# --- the token --------------------------------------------------------------------------

@pytest.mark.parametrize("app_config", [{}], ids=["no token"])
def test_without_a_token_metrics_are_off_for_everyone(client):
    for headers in ({}, {"Authorization": "Bearer "}, BEARER):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 404 and b"firebreak_" not in answer.data
        assert answer.get_data(as_text=True) == "Metrics are off: set METRICS_TOKEN to turn them on.\n"


def test_a_scrape_needs_the_bearer_token(client):
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Bearer {TOKEN}x"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}, {"Authorization": "Bearer Ünïcode"}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="firebreak metrics"'
        assert b"firebreak_" not in answer.data
    answer = client.get("/metrics", headers=BEARER)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    assert authorized(f"bearer  {TOKEN} ", TOKEN) and not authorized(f"Bearer {TOKEN[:-1]}", TOKEN)


def test_every_series_is_firebreaks_and_prometheus_gets_openmetrics(client):
    client.get("/status")
    client.get("/no/such/page")
    answer = client.get("/metrics", headers={**BEARER, "Accept": "application/openmetrics-text; version=1.0.0"})
    assert answer.content_type.startswith("application/openmetrics-text; version=1.0.0")
    text = answer.get_data(as_text=True)
    assert text.endswith("# EOF\n")
    names = [line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")]
    assert len(names) > 20 and all(name.startswith("firebreak_") for name in names), names
    gzipped = client.get("/metrics", headers={**BEARER, "Accept-Encoding": "gzip"})
    assert gzipped.headers["Content-Encoding"] == "gzip" and gzipped.data[:2] == b"\x1f\x8b"


# --- each family moves when its thing happens ----------------------------------------------

@pytest.mark.db
def test_ingestion_counts_deliveries_by_source_and_incidents_by_severity(client, service):
    before = scrape(client)
    assert enqueue(client, trigger("db-latency")).status_code == 202          # the hot path: opens SEV-2
    assert enqueue(client, trigger("db-latency")).status_code == 202          # folds into it
    assert enqueue(client, trigger("db-latency", action="acknowledge")).status_code == 202  # the full path
    assert enqueue(client, trigger("disk", severity="warning")).status_code == 202  # SEV-4
    assert enqueue(client, {"routing_key": KEY}).status_code == 400
    assert enqueue(client, {**trigger("x"), "routing_key": "0" * 32}).status_code == 400
    assert client.post(f"/integrations/alertmanager/{'1' * 32}", json={}).status_code == 404
    assert client.post(f"/integrations/alertmanager/{KEY}", json={"version": "4", "alerts": [{
        "status": "firing", "fingerprint": "f1", "labels": {"alertname": "Queue", "severity": "critical"}}]}
    ).status_code == 200
    assert client.post("/v2/change/enqueue", json={"routing_key": KEY, "payload": {"summary": "deploy 42"}}
                       ).status_code == 202
    assert client.get(f"/heartbeats/{'0' * 32}").status_code == 404
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert {source: (moved("firebreak_events_received_total", source=source),
                     moved("firebreak_events_accepted_total", source=source),
                     moved("firebreak_events_refused_total", source=source))
            for source in ("events_v2", "alertmanager", "change_events", "heartbeat")} == {
        "events_v2": (6, 4, 2), "alertmanager": (2, 1, 1), "change_events": (1, 1, 0), "heartbeat": (1, 0, 1)}
    assert moved("firebreak_incidents_opened_total", severity="2", source="alert") == 2  # events API, Alertmanager
    assert moved("firebreak_incidents_opened_total", severity="4", source="alert") == 1
    assert value(after, "firebreak_incidents_open", status="acknowledged", severity="2") == 1
    assert value(after, "firebreak_incidents_open", status="triggered", severity="2") == 1
    assert value(after, "firebreak_incidents_open", status="triggered", severity="4") == 1
    # Opened by monitoring, their escalation is due at once, for the engine's next cycle
    # (not the acknowledged one's).
    clock.set(T0 + timedelta(seconds=12))
    later = scrape(client)
    assert value(later, "firebreak_escalations_due") == 2
    assert value(later, "firebreak_escalations_oldest_due_age_seconds") == 12
    assert moved("firebreak_http_request_duration_seconds_count", route="/v2/enqueue", method="POST",
                 status="2xx") == 4


@pytest.mark.db
def test_an_incident_counts_once_its_transaction_commits(client, service):
    def opened():
        return value(scrape(client), "firebreak_incidents_opened_total", severity="3", source="api")

    before = opened()
    incidents.open_incident(SYSTEM, service=service, title="Rolled back", severity=3, now=T0, source="api")
    db.session.rollback()
    assert opened() == before
    incidents.open_incident(SYSTEM, service=service, title="Kept", severity=3, now=T0, source="api")
    db.session.commit()
    assert opened() == before + 1


@pytest.fixture
def paged(app, twilio, mailbox):
    """Dana, reachable by SMS at once, a call after 2 minutes and email after 5, paged
    at T0 about a SEV-2 on a service without a policy (nobody else is paged)."""
    clock.set(T0)
    dana = reachable(make_user(Role.RESPONDER, name="Dana Okafor", phone="+15551230001"))
    service = make_service("payments-api")
    incident = incidents.open_incident(SYSTEM, service=service, title="Card errors 4%", severity=2, now=T0)
    db.session.commit()
    rows = paging.page(incident, dana, T0, round_key="1", actor=SYSTEM)
    db.session.commit()
    return rows


@pytest.mark.db
def test_pages_by_channel_and_outcome_the_outbox_and_the_engine(client, twilio, mailbox, paged):
    engine = Engine(all_jobs(), holder="test-engine")
    clock.set(T0 + timedelta(seconds=30))
    before = scrape(client)
    assert value(before, "firebreak_outbox_messages", status="queued") == 3
    assert value(before, "firebreak_outbox_due_messages") == 1  # the SMS; the call and the email come later
    assert value(before, "firebreak_outbox_oldest_due_age_seconds") == 30
    assert value(before, "firebreak_engine_lease_held") == 0

    def moved(samples, channel, outcome):
        labels = {"channel": channel, "purpose": "page", "outcome": outcome}
        return value(samples, "firebreak_notifications_total", **labels) - value(
            before, "firebreak_notifications_total", **labels)

    twilio.failures = 1
    assert engine.cycle().active                      # the SMS fails: tried again later
    clock.set(T0 + timedelta(minutes=3))
    engine.cycle()                                    # the SMS again, and the call
    mailbox.refuse = True
    clock.set(T0 + timedelta(minutes=6))
    engine.cycle()                                    # the email is refused: no use trying again
    sms = db.session.scalar(db.select(Notification).where(Notification.channel == Channel.SMS,
                                                          Notification.provider_id.is_not(None)))
    dispatch.record_status(sms.provider_id, "delivered", clock.now())
    db.session.commit()
    after = scrape(client)
    assert [len(twilio.messages), len(twilio.calls)] == [1, 1]
    assert {(channel, outcome): moved(after, channel, outcome)
            for channel in ("sms", "voice", "email") for outcome in ("sent", "failed", "gave_up", "delivered")
            if moved(after, channel, outcome)} == {
        ("sms", "failed"): 1, ("sms", "sent"): 1, ("sms", "delivered"): 1, ("voice", "sent"): 1,
        ("email", "gave_up"): 1}
    assert value(after, "firebreak_engine_lease_held") == 1
    assert value(after, "firebreak_engine_lease_holder", holder="test-engine") == 1
    assert value(after, "firebreak_engine_cycles_total") == 3
    assert value(after, "firebreak_engine_last_cycle_duration_seconds") > 0
    assert 0 <= value(after, "firebreak_engine_heartbeat_age_seconds") < 60
    assert value(after, "firebreak_engine_cycle_duration_seconds_count") - value(
        before, "firebreak_engine_cycle_duration_seconds_count") == 3


# The engine as its own process, as compose.yaml and several machines run it: no
# /metrics of its own and no PROMETHEUS_MULTIPROC_DIR shared with the web.
ENGINE_PROCESS = """
import json, sys
from datetime import datetime
from app import clock
from app.engine.core import Engine
from app.engine.jobs import all_jobs
from tests.conftest import make_app

app = make_app(sys.argv[1], **json.loads(sys.argv[2]))
with app.app_context():
    clock.set(datetime.fromisoformat(sys.argv[3]))
    Engine(all_jobs(), holder="engine-process").cycle()
"""


@pytest.mark.db
def test_what_an_engine_process_sends_and_opens_shows_in_the_webs_scrape(app, client, twilio, mailbox, paged,
                                                                       database_url):
    """The page's SMS and the incident of a silent heartbeat, both done by an engine
    in another process, are counted where the web's scrape reads them."""
    service = make_service("nightly-backup")
    heartbeats.create(SYSTEM, service, name="backup", interval_seconds=60, grace_seconds=0, now=T0)
    db.session.commit()
    before = scrape(client)
    env = {name: value_ for name, value_ in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"}
    config = {"METRICS_TOKEN": TOKEN, **provider_config(twilio, mailbox)}
    engine = subprocess.run([sys.executable, "-c", ENGINE_PROCESS, database_url, json.dumps(config),
                             (T0 + timedelta(seconds=90)).isoformat()], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert engine.returncode == 0, engine.stderr
    assert len(twilio.messages) == 1
    db.session.expire_all()
    after = scrape(client)
    page_sms = {"channel": "sms", "purpose": "page", "outcome": "sent"}
    opened = {"severity": "2", "source": "alert"}  # a silent heartbeat is critical: SEV-2
    assert value(after, "firebreak_notifications_total", **page_sms) - value(
        before, "firebreak_notifications_total", **page_sms) == 1
    assert value(after, "firebreak_incidents_opened_total", **opened) - value(
        before, "firebreak_incidents_opened_total", **opened) == 1


def test_status_page_answers_count_as_cache_hits_and_misses_under_their_route(client):
    def looked_up():
        samples = scrape(client)
        return ([value(samples, "firebreak_status_page_cache_total", result=result) for result in ("hit", "miss")],
                value(samples, "firebreak_http_request_duration_seconds_count", route="/status", method="GET",
                      status="2xx"))

    (hits, misses), requests = looked_up()
    assert client.get("/status").status_code == 200   # rendered
    assert client.get("/status").status_code == 200   # from memory, without Flask
    assert client.head("/status").status_code == 200
    (hits_after, misses_after), requests_after = looked_up()
    assert (hits_after - hits, misses_after - misses, requests_after - requests) == (2, 1, 2)
    assert value(scrape(client), "firebreak_http_request_duration_seconds_count", route="/status", method="HEAD",
                 status="2xx") >= 1


def test_request_durations_are_labelled_by_url_rule_never_by_path(app, client, service):
    incident = incidents.open_incident(SYSTEM, service=service, title="Slow", severity=3, now=T0)
    db.session.commit()
    client.get(f"/incidents/{incident.id}")                 # sends an anonymous visitor to sign in
    client.get("/no/such/page/8812345")
    client.open("/status", method="BREW")                   # 405: no rule answers it
    samples = scrape(client)
    routes = {dict(labels)["route"] for name, labels in samples if name.startswith("firebreak_http_request")}
    assert {"/incidents/<int:incident_id>", "unmatched"} <= routes
    assert routes <= {rule.rule for rule in app.url_map.iter_rules()} | {"unmatched"}
    assert value(samples, "firebreak_http_request_duration_seconds_count", route="unmatched", method="other",
                 status="4xx") >= 1
    assert value(samples, "firebreak_http_request_duration_seconds_bucket", route="/incidents/<int:incident_id>",
                 method="GET", status="3xx", le="+Inf") >= 1


@pytest.mark.parametrize("app_config", [{"SQLALCHEMY_DATABASE_URI": "sqlite:////nonexistent/dir/firebreak.db",
                                         "METRICS_TOKEN": TOKEN}], ids=["no database"])
def test_a_database_that_does_not_answer_is_a_series_not_a_failed_scrape(client):
    samples = scrape(client)
    assert value(samples, "firebreak_database_up") == 0
    assert not [name for name, _ in samples if name.startswith(("firebreak_outbox", "firebreak_engine_lease"))]


def exposed_names(families) -> set[str]:
    """Series names as Prometheus sees them: a counter's with `_total`, a histogram's bare."""
    return {f"{family.name}_total" if family.type == "counter" else family.name for family in families}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_expressions() -> list[str]:
    return re.findall(r"^\s+expr: (.+)$", (ROOT / "docs" / "metrics.md").read_text(), re.M)


def series_named(expressions: list[str]) -> set[str]:
    return {re.sub(r"_(bucket|sum|count)$", "", name)
            for expression in expressions for name in re.findall(r"firebreak_[a-z_]+", expression)}


def test_every_series_is_documented_and_the_dashboard_and_alerts_use_real_ones(app):
    Engine(all_jobs(), holder="docs").cycle()  # a lease row: its series appear
    exposed = exposed_names([*metrics.REGISTRY.collect(), *DatabaseCollector().collect()])
    documented = set(re.findall(r"^\| `(firebreak_[a-z_]+)`", (ROOT / "docs" / "metrics.md").read_text(), re.M))
    assert exposed == documented
    used = series_named(dashboard_expressions())
    assert used <= exposed and len(used) >= 15, used - exposed
    assert series_named(alert_expressions()) <= exposed


# --- several processes ----------------------------------------------------------------------

# A worker's requests as its middleware times them (no app needed: starting one per
# process would cost seconds): refused events, and status page answers.
RECORD = """
import sys
from app import metrics

def refuse(environ, start_response):
    environ[metrics.ROUTE_KEY], environ[metrics.SOURCE_KEY] = "/v2/enqueue", "events_v2"
    start_response("400 BAD REQUEST", [])
    return [b""]

timer = metrics.RequestTimer(refuse)
for _ in range(int(sys.argv[1])):
    timer({"REQUEST_METHOD": "POST"}, lambda *args: None)
metrics.status_cache("miss")
metrics.engine_cycle(float(sys.argv[2]))
"""


def test_multiprocess_mode_adds_up_every_processs_series(app, tmp_path):
    """Two processes recording into one directory, as two gunicorn workers do: a scrape
    adds their counters and histograms up (and this process's own values stay out). The
    directory need not exist yet."""
    directory = tmp_path / "metrics"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    processes = [subprocess.Popen([sys.executable, "-c", RECORD, repeat, cycle], cwd=ROOT, env=env,
                                  stderr=subprocess.PIPE) for repeat, cycle in (("2", "0.02"), ("3", "0.3"))]
    for process in processes:
        _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, errors.decode()
    assert len(list(directory.glob("*.db"))) == 4  # counters and histograms, per process
    samples = parse(generate_latest(Scrape(sources(str(directory)))).decode())
    assert value(samples, "firebreak_events_refused_total", source="events_v2") == 5
    assert value(samples, "firebreak_events_received_total", source="events_v2") == 5
    assert value(samples, "firebreak_http_request_duration_seconds_count", route="/v2/enqueue", method="POST",
                 status="4xx") == 5
    assert value(samples, "firebreak_status_page_cache_total", result="miss") == 2
    assert value(samples, "firebreak_engine_cycle_duration_seconds_count") == 2
    assert value(samples, "firebreak_engine_cycle_duration_seconds_sum") == pytest.approx(0.32)
    assert value(samples, "firebreak_engine_cycle_duration_seconds_bucket", le="0.025") == 1
    assert value(samples, "firebreak_database_up") == 1  # the database's series come with them


def test_gunicorns_master_reads_its_settings_without_importing_prometheus_client():
    """The directory must be in the environment before prometheus_client is first
    imported; gunicorn.conf.py makes it in `on_starting`, after the master has read the
    file (and whatever of app/ the file imports)."""
    check = "import runpy, sys; runpy.run_path('gunicorn.conf.py'); print('prometheus_client' in sys.modules)"
    found = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == "False", found.stderr


def test_gunicorn_makes_the_metrics_directory_marks_workers_dead_and_cleans_up(tmp_path, monkeypatch):
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # unset as far as gunicorn is concerned
    hooks["on_starting"](None)
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.is_dir() and made.name.startswith("firebreak-metrics-") and not list(made.iterdir())
    (made / "gauge_livesum_4242.db").write_bytes(b"")
    hooks["child_exit"](None, SimpleNamespace(pid=4242))
    assert not (made / "gauge_livesum_4242.db").exists()
    with pytest.raises(RuntimeError, match="--preload"):  # this process imported prometheus_client without it
        hooks["post_worker_init"](SimpleNamespace(wsgi=Flask("minimal"), cfg=SimpleNamespace(threads=1)))
    hooks["on_exit"](None)
    assert not made.exists()

    chosen = tmp_path / "chosen"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(chosen))
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    hooks["on_starting"](None)
    hooks["on_exit"](None)
    assert chosen.is_dir() and os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(chosen)  # the operator's: kept


# --- the real Prometheus ---------------------------------------------------------------------

PROMETHEUS = Path("/usr/bin/prometheus")
GUNICORN = Path(sys.executable).parent / "gunicorn"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def query(prometheus: str, expression: str) -> list:
    return get_json(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression}))["data"]["result"]


def prometheus_config(target: str) -> dict:
    def job(name: str, token: str) -> dict:
        return {"job_name": name, "scrape_interval": "1s", "scrape_timeout": "1s", "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials": token}, "static_configs": [{"targets": [target]}]}
    return {"global": {"scrape_interval": "1s"},
            "scrape_configs": [job("firebreak", TOKEN), job("firebreak-wrong-token", "not-the-token")]}


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.realtime
@pytest.mark.skipif(not PROMETHEUS.exists(), reason=f"{PROMETHEUS} is not installed (`make test` installs the OS "
                                                    "package prometheus)")
def test_the_real_prometheus_scrapes_gunicorn(sqlite_template, tmp_path):
    """Prometheus scrapes gunicorn with the token, and is refused without it. An event
    sent over HTTP is written by the worker's ingestion writer process, and Prometheus,
    asking the worker, sees it counted: the two processes' series are added up."""
    database = tmp_path / "firebreak.db"
    shutil.copyfile(sqlite_template, database)
    app = make_app(f"sqlite:///{database}")
    with app.app_context():
        service = make_service("checkout-api", with_key=False)
        db.session.add(IntegrationKey(service=service, key=KEY, name="Prometheus"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    port, prometheus_port = free_port(), free_port()
    env = {name: value_ for name, value_ in os.environ.items() if name != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(DATABASE_URL=f"sqlite:///{database}", METRICS_TOKEN=TOKEN, FIREBREAK_INSTANCE_PATH=str(tmp_path))
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(prometheus_config(f"127.0.0.1:{port}")))  # JSON is YAML
    web_log, prometheus_log = open(tmp_path / "gunicorn.log", "wb"), open(tmp_path / "prometheus.log", "wb")
    web = subprocess.Popen([str(GUNICORN), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class",
                            "gthread", "--threads", "4", "wsgi:app"], cwd=ROOT, env=env, stdout=web_log,
                           stderr=subprocess.STDOUT)
    prometheus = subprocess.Popen([str(PROMETHEUS), f"--config.file={config}",
                                   f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                                  stdout=prometheus_log, stderr=subprocess.STDOUT)
    url, prometheus_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prometheus_port}"

    def explain() -> str:
        return "\n".join(f"{name}:\n{(tmp_path / name).read_text(errors='replace')[-3000:]}"
                         for name in ("gunicorn.log", "prometheus.log"))

    try:
        def ready() -> bool:
            assert web.poll() is None and prometheus.poll() is None, explain()
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{url}/metrics", headers=BEARER), timeout=5):
                    return True
            except OSError:
                return False

        wait_for(ready, 30, f"gunicorn to answer. {explain()}", step=0.2)
        request = urllib.request.Request(f"{url}/v2/enqueue", data=json.dumps(trigger("checkout/5xx")).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:  # the worker's writer may still be starting
            assert answer.status == 202

        def counted():
            try:
                result = query(prometheus_url, 'firebreak_incidents_opened_total{severity="2",source="alert"}')
            except OSError:
                return None
            return result and result[0]["value"][1] == "1" and result

        [opened] = wait_for(counted, 30, f"Prometheus to see the incident counted. {explain()}", step=0.2)
        assert opened["metric"]["job"] == "firebreak"
        assert query(prometheus_url, 'firebreak_events_accepted_total{source="events_v2"}')[0]["value"][1] == "1"
        assert targets_of(prometheus_url)["firebreak"]["health"] == "up"
        refused = wait_for(lambda: targets_of(prometheus_url)["firebreak-wrong-token"]["lastError"], 10,
                           "the scrape without the token to be refused")
        assert "401" in refused, refused
        # The dashboard's and the documented alerts' expressions are PromQL Prometheus takes.
        for expression in [*dashboard_expressions(), *alert_expressions()]:
            filled = expression.replace("$job", "firebreak").replace("$__rate_interval", "1m")
            answer = get_json(f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": filled}))
            assert answer["status"] == "success", (expression, answer)
    finally:
        stop(prometheus)
        stop(web)
        web_log.close()
        prometheus_log.close()


def targets_of(prometheus: str) -> dict:
    targets = get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
    return {target["labels"]["job"]: target for target in targets}
