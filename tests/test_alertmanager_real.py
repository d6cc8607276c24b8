"""A real Prometheus Alertmanager (the OS package) sending to the app on loopback.

Alertmanager runs on its own free port, with its own storage and configuration and
clustering off; the app runs as a live server in a thread on its own SQLite file.
Alerts are pushed into Alertmanager's API, as Prometheus would, and reach the app
through both of its doors: the webhook receiver (`/integrations/alertmanager/<key>`)
and the PagerDuty receiver pointed at our Events API (`/v2/enqueue`). The test polls
the database with a deadline for every outcome.
"""
from __future__ import annotations

import contextvars
import json
import shutil
import socket
import subprocess
import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from app.alerts.models import Alert, AlertStatus
from app.database import set_write_intent
from app.extensions import db
from app.incidents.models import EventKind, Incident, IncidentEvent, Status
from app.services.models import IntegrationKey, Service
from tests.conftest import make_app
from tests.factories import make_service, story
from tests.fakes import wait_for

ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
WEBHOOK_KEY = "a1" * 16
PAGERDUTY_KEY = "b2" * 16
DEFAULT_KEY = "c3" * 16

pytestmark = [pytest.mark.realtime, pytest.mark.skipif(
    not ALERTMANAGER.exists(),
    reason=f"{ALERTMANAGER} is not installed (`make test` installs the OS package prometheus-alertmanager)")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



def http(method: str, url: str, body=None, timeout: float = 5):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read()
        return response.status, json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw


@dataclass
class Peers:
    app: Flask
    app_url: str
    alertmanager_url: str
    log: Path

    def push(self, *alerts: dict) -> None:
        status, _ = http("POST", f"{self.alertmanager_url}/api/v2/alerts", list(alerts))
        assert status == 200

    def fingerprints(self) -> dict[str, str]:
        """Alertmanager's own fingerprint of each alert it holds, by instance."""
        _, alerts = http("GET", f"{self.alertmanager_url}/api/v2/alerts?active=true&silenced=true&inhibited=true")
        return {a["labels"].get("instance", a["labels"]["alertname"]): a["fingerprint"] for a in alerts}

    def explain(self) -> str:
        return "Alertmanager's log:\n" + self.log.read_text(errors="replace")[-4000:]


# The README's `description:` for the PagerDuty receiver: the alerts' summary, or, when
# they have none in common, Alertmanager's own subject line (never an empty summary).
DESCRIPTION = '{{ with .CommonAnnotations.summary }}{{ . }}{{ else }}{{ template "pagerduty.default.description" . }}{{ end }}'


def alertmanager_config(app_url: str) -> dict:
    """Alerts labelled via=pagerduty go to the PagerDuty receiver (with the README's
    description), via=pagerduty-default and via=pagerduty-readme to receivers without and
    with it on a third service, the rest to the webhook."""
    def pagerduty(name: str, key: str, **more) -> dict:
        return {"name": name, "pagerduty_configs": [
            {"url": f"{app_url}/v2/enqueue", "routing_key": key, "send_resolved": True, **more}]}

    return {
        "route": {
            "receiver": "firebreak-webhook",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [{"receiver": name, "matchers": [f'via="{via}"']} for via, name in (
                ("pagerduty", "firebreak-pagerduty"), ("pagerduty-default", "firebreak-pagerduty-default"),
                ("pagerduty-readme", "firebreak-pagerduty-readme"))],
        },
        "receivers": [
            {"name": "firebreak-webhook", "webhook_configs": [
                {"url": f"{app_url}/integrations/alertmanager/{WEBHOOK_KEY}", "send_resolved": True}]},
            pagerduty("firebreak-pagerduty", PAGERDUTY_KEY, severity="{{ .CommonLabels.severity }}",
                      description=DESCRIPTION),
            pagerduty("firebreak-pagerduty-default", DEFAULT_KEY),
            pagerduty("firebreak-pagerduty-readme", DEFAULT_KEY, description=DESCRIPTION),
        ],
    }


@pytest.fixture(scope="module")
def peers(sqlite_template, tmp_path_factory):
    root = tmp_path_factory.mktemp("alertmanager")
    path = root / "firebreak.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        for name, key in (("payments-api", WEBHOOK_KEY), ("checkout-api", PAGERDUTY_KEY), ("billing-api", DEFAULT_KEY)):
            service = make_service(name, with_key=False)
            db.session.add(IntegrationKey(service=service, key=key, name="Alertmanager"))
        db.session.commit()
        db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app_url = f"http://127.0.0.1:{server.server_port}"

    config = root / "alertmanager.yml"
    config.write_text(json.dumps(alertmanager_config(app_url), indent=2))  # JSON is YAML
    port = free_port()
    log = root / "alertmanager.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(ALERTMANAGER), f"--config.file={config}", f"--storage.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
             f"--web.external-url=http://127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    peers = Peers(app=app, app_url=app_url, alertmanager_url=url, log=log)
    try:
        def ready():
            assert process.poll() is None, f"Alertmanager exited with {process.returncode}. {peers.explain()}"
            try:
                return http("GET", f"{url}/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        wait_for(ready, 20, "Alertmanager to be ready")
        yield peers
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.shutdown()
        server.server_close()
        thread.join()
        with app.app_context():
            db.engine.dispose()


def firing(alertname: str, instance: str, severity: str, summary: str, via: str, starts_at: datetime) -> dict:
    return {
        "labels": {"alertname": alertname, "instance": instance, "job": "api", "severity": severity, "via": via},
        "annotations": {"summary": summary, "runbook": "https://runbooks.example.com/" + alertname},
        "startsAt": starts_at.isoformat(),
        "generatorURL": f"http://prometheus.example.com/graph?g0.expr={alertname}",
    }


def resolved(alert: dict, at: datetime) -> dict:
    return {**alert, "endsAt": at.isoformat()}


def read(query):
    """`query()` in a read transaction of its own, ended before returning.

    The live server writes from its own threads: a read left open between polls
    would hold SQLite's lock (tests begin writes by default) and keep it waiting.
    """
    def run():
        set_write_intent(False)
        try:
            return query()
        finally:
            db.session.remove()
    return contextvars.copy_context().run(run)


def alerts_of(service_name: str) -> list[Alert]:
    return read(lambda: db.session.scalars(sa.select(Alert).join(Service, Service.id == Alert.service_id)
                                           .where(Service.name == service_name).order_by(Alert.id)).all())


def incident(incident_id: int) -> Incident:
    return read(lambda: db.session.get(Incident, incident_id))


def resolution(incident_id: int) -> str:
    """The text of an incident's resolution on its timeline."""
    return read(lambda: db.session.scalar(sa.select(IncidentEvent.text).where(
        IncidentEvent.incident_id == incident_id, IncidentEvent.kind == EventKind.RESOLVED)))


def test_alertmanager_webhook_opens_and_resolves_incidents_per_fingerprint(peers):
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    sent = [firing("HighErrorRate", "web-1:9100", "critical", "5xx ratio 7.2% on web-1", "webhook", started),
            firing("HighErrorRate", "web-2:9100", "warning", "5xx ratio 3.1% on web-2", "webhook", started)]
    peers.push(*sent)
    with peers.app.app_context():
        alerts = wait_for(lambda: len(found := alerts_of("payments-api")) == 2 and found, 15,
                          f"two alerts from the webhook. {peers.explain()}")
        fingerprints = peers.fingerprints()
        by_key = {alert.dedup_key: alert for alert in alerts}
        assert set(by_key) == {fingerprints["web-1:9100"], fingerprints["web-2:9100"]}
        web1, web2 = by_key[fingerprints["web-1:9100"]], by_key[fingerprints["web-2:9100"]]
        assert (web1.origin, web1.summary, web1.severity, web1.source) == (
            "alertmanager", "5xx ratio 7.2% on web-1", "critical", "web-1:9100")
        assert (web2.summary, web2.severity) == ("5xx ratio 3.1% on web-2", "warning")
        assert web1.client == "Alertmanager" and web1.occurrences == 1 and web1.event_at == started
        assert web1.custom_details["labels"]["instance"] == "web-1:9100"
        incident1, incident2 = incident(web1.incident_id), incident(web2.incident_id)
        assert incident1.id != incident2.id
        assert (incident1.title, incident1.severity, incident1.status) == ("5xx ratio 7.2% on web-1", 2, Status.TRIGGERED)
        assert (incident2.severity, incident2.status) == (4, Status.TRIGGERED)
        assert incident1.impact_started_at == started

        peers.push(*(resolved(alert, datetime.now(UTC) - timedelta(seconds=1)) for alert in sent))
        wait_for(lambda: all(a.status == AlertStatus.RESOLVED for a in alerts_of("payments-api")), 15,
                 f"the webhook to resolve both alerts. {peers.explain()}")
        assert [incident(i.id).status for i in (incident1, incident2)] == [Status.RESOLVED, Status.RESOLVED]
        assert len(alerts_of("payments-api")) == 2  # resolved, not duplicated
        kinds = read(lambda: db.session.scalars(sa.select(IncidentEvent.kind).where(
            IncidentEvent.incident_id == incident1.id).order_by(IncidentEvent.id)).all())
        assert story(kinds) == [EventKind.OPENED, EventKind.ALERT_TRIGGERED, EventKind.ALERT_RESOLVED, EventKind.RESOLVED]
        # The door it came through, and the key's name.
        assert resolution(incident1.id) == (
            "Resolved by Alertmanager webhook, key “Alertmanager” (payments-api): every alert resolved")


def test_alertmanager_pagerduty_receiver_speaks_to_the_events_api(peers):
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    sent = [firing("CheckoutLatency", "checkout-1:8080", "critical", "p99 latency 2.3 s", "pagerduty", started),
            firing("QueueBacklog", "worker-1:8080", "warning", "12,000 jobs waiting", "pagerduty", started)]
    peers.push(*sent)
    with peers.app.app_context():
        # One PagerDuty event per Alertmanager group (grouped by alertname): two alerts.
        alerts = wait_for(lambda: len(found := alerts_of("checkout-api")) == 2 and found, 15,
                          f"two alerts through /v2/enqueue. {peers.explain()}")
        by_summary = {alert.summary: alert for alert in alerts}
        latency, backlog = by_summary["p99 latency 2.3 s"], by_summary["12,000 jobs waiting"]
        assert (latency.origin, latency.severity, latency.client) == ("events_v2", "critical", "Alertmanager")
        assert backlog.severity == "warning"
        # Alertmanager's dedup key is the hash of the group key: 64 hex digits, one per group.
        assert all(len(a.dedup_key) == 64 and int(a.dedup_key, 16) >= 0 for a in alerts)
        assert latency.dedup_key != backlog.dedup_key
        incident_latency, incident_backlog = incident(latency.incident_id), incident(backlog.incident_id)
        assert (incident_latency.title, incident_latency.severity) == ("p99 latency 2.3 s", 2)
        assert (incident_backlog.title, incident_backlog.severity) == ("12,000 jobs waiting", 4)
        assert {incident_latency.status, incident_backlog.status} == {Status.TRIGGERED}

        peers.push(*(resolved(alert, datetime.now(UTC) - timedelta(seconds=1)) for alert in sent))
        wait_for(lambda: all(a.status == AlertStatus.RESOLVED for a in alerts_of("checkout-api")), 15,
                 f"the PagerDuty receiver to resolve both alerts. {peers.explain()}")
        for incident_id in (latency.incident_id, backlog.incident_id):
            assert incident(incident_id).status == Status.RESOLVED
            assert resolution(incident_id) == (
                "Resolved by Events API v2, key “Alertmanager” (checkout-api): every alert resolved")
        assert [a.occurrences for a in alerts_of("checkout-api")] == [1, 1]


def test_the_pagerduty_receivers_description_gives_readable_titles(peers):
    """Why the README's PagerDuty receiver sets `description:`: without it Alertmanager
    sends its own subject line as the summary; with it, the alerts' summary, and the
    subject line again for a group whose alerts have none in common."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    peers.push(firing("PaymentsLatency", "pay-prod-2", "critical", "p99 latency 3.1 s", "pagerduty-default", started),
               firing("LedgerLag", "ledger-1", "critical", "ledger 40 s behind", "pagerduty-readme", started),
               firing("CardErrors", "card-1", "critical", "card errors 4%", "pagerduty-readme", started),
               firing("CardErrors", "card-2", "critical", "card errors 9%", "pagerduty-readme", started))
    with peers.app.app_context():
        alerts = wait_for(lambda: len(found := alerts_of("billing-api")) == 3 and found, 15,
                          f"three alerts through /v2/enqueue. {peers.explain()}")
        titles = sorted(incident(alert.incident_id).title for alert in alerts)
        assert titles == ["[FIRING:1] PaymentsLatency (pay-prod-2 api critical pagerduty-default)",
                          "[FIRING:2] CardErrors (api critical pagerduty-readme)", "ledger 40 s behind"], titles
